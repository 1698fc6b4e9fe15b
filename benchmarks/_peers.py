"""The reference network written in each peer library, as its users would write it.

Each builder takes the benchmark's :class:`~spikestream.runtime.model_file.Model`
(2x32x32 input, conv 2->16 3x3, avgpool 2, conv 16->32 3x3, avgpool 2,
linear 2048->11, LIF with ``beta = 0.9``, threshold 1, subtractive reset) and returns
``(step, reset)`` or None when the library is not installed: ``step(events)`` builds
the dense input from one window's raw events (the same numpy binning for all) and
advances the network by one step, single-step mode, state carried between calls.

- snnTorch: ``snntorch.Leaky(beta, reset_mechanism="subtract")`` between ``nn`` layers
  (its reset is decided from the previous membrane, see ../shared/BENCHMARKING.md:
  same cost, not the same spikes);
- Norse: ``LIFBoxCell`` with ``tau_mem_inv=100``, ``dt=1e-3`` (``v = 0.9 v + 0.1 i``,
  so the weights are scaled by 10), ``reset_method=reset_subtract``;
- SpikingJelly 2.0: ``LIFNode(tau=10, decay_input=False, v_reset=None,
  step_mode="s")`` (``v = 0.9 v + x``), reset with ``functional.reset_net``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from spikestream.runtime.input_stage import InputStage
from spikestream.runtime.model_file import Model

# importing the peers makes torch log that Triton (a GPU compiler) is absent: noise here
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

Step = Callable[[np.ndarray], object]
Peer = tuple[Step, Callable[[], None]]


def _layers(model: Model, scale: float = 1.0) -> tuple[nn.Conv2d, nn.Conv2d, nn.Linear]:
    conv1 = nn.Conv2d(2, 16, 3, padding=1, bias=False)
    conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    fc = nn.Linear(2048, 11, bias=False)
    with torch.no_grad():
        for layer, name in ((conv1, "conv1"), (conv2, "conv2"), (fc, "fc")):
            layer.weight.copy_(torch.from_numpy(np.array(model.weight(name))) * scale)
    for layer in (conv1, conv2, fc):
        layer.requires_grad_(False)
    return conv1, conv2, fc


def _input(model: Model) -> Callable[[np.ndarray], torch.Tensor]:
    stage = InputStage(model.spec.input)

    def build(events: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(stage.dense(events)).unsqueeze(0)

    return build


def snntorch_peer(model: Model) -> Peer | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import snntorch as snn
    except ImportError:
        return None
    conv1, conv2, fc = _layers(model)
    pool = nn.AvgPool2d(2)
    lifs = [snn.Leaky(beta=0.9, threshold=1.0, reset_mechanism="subtract") for _ in range(3)]
    build = _input(model)
    mems: list = []

    def reset() -> None:
        mems[:] = [lif.init_leaky() for lif in lifs]

    def step(events: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            x = build(events)
            s1, mems[0] = lifs[0](conv1(x), mems[0])
            s2, mems[1] = lifs[1](conv2(pool(s1)), mems[1])
            s3, mems[2] = lifs[2](fc(pool(s2).flatten(1)), mems[2])
            return s3

    reset()
    return step, reset


def norse_peer(model: Model) -> Peer | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import norse.torch as norse
            from norse.torch.functional.reset import reset_subtract
    except ImportError:
        return None
    conv1, conv2, fc = _layers(model, scale=10.0)  # v = 0.9 v + 0.1 i
    pool = nn.AvgPool2d(2)
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_leak=torch.tensor(0.0),
                               v_th=torch.tensor(1.0), reset_method=reset_subtract)
    cells = [norse.LIFBoxCell(p, dt=1e-3) for _ in range(3)]
    build = _input(model)
    states: list = [None, None, None]

    def reset() -> None:
        states[:] = [None, None, None]

    def step(events: np.ndarray) -> torch.Tensor:
        with torch.no_grad():  # norse's initial state sets requires_grad (not in inference mode)
            x = build(events)
            s1, states[0] = cells[0](conv1(x), states[0])
            s2, states[1] = cells[1](conv2(pool(s1)), states[1])
            s3, states[2] = cells[2](fc(pool(s2).flatten(1)), states[2])
            return s3

    return step, reset


def spikingjelly_peer(model: Model) -> Peer | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from spikingjelly.activation_based import functional, neuron
    except ImportError:
        return None
    conv1, conv2, fc = _layers(model)

    def lif() -> nn.Module:
        return neuron.LIFNode(tau=10.0, decay_input=False, v_reset=None, v_threshold=1.0,
                              step_mode="s")

    net = nn.Sequential(conv1, lif(), nn.AvgPool2d(2), conv2, lif(), nn.AvgPool2d(2),
                        nn.Flatten(), fc, lif())
    build = _input(model)

    def reset() -> None:
        functional.reset_net(net)

    def step(events: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return net(build(events))

    return step, reset


PEERS: dict[str, Callable[[Model], Peer | None]] = {
    "snntorch": snntorch_peer,
    "norse": norse_peer,
    "spikingjelly": spikingjelly_peer,
}
"""Peer name -> builder (None when the library is not installed)."""
