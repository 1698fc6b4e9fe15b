"""Spike-based backpropagation with leak-aware derivatives (Lee et al. 2020).

Lee, Sarwar, Panda, Srinivasan & Roy, "Enabling spike-based backpropagation for
training deep neural network architectures", Front. Neurosci. 14:119; public code
chan8972/Enabling_Spikebased_Backpropagation.

Neurons (the runtime's :func:`~spikestream.runtime.neurons.rule_neuron`): hidden
layers ``"lee"`` (leaky IF: ``u += Wx``, ``s = u > V_th``, hard reset, ``u *= 0.99``);
pooling layers are average pooling followed by ``"lee_pool"`` IF neurons
(threshold 0.75, no leak); the output layer is the non-spiking leaky integrator
``"lee_readout"`` (``u = 0.99 (u + Wx)``) whose potential is the output
(:class:`ReadoutSpec` kind ``"membrane"``). No biases.

Backward: the paper's spike-based (rate) approximation, per spiking layer
(:class:`LeeFunction`). A neuron's total input ``net = sum_t y[t]`` and its spike
count ``Total = sum_t s[t]`` are related by ``Total ~ net / V_th`` (IF), corrected
for the leak: ``dTotal/dnet = (1 / V_th) (1 + ln(leak) LF / Total)``, where
``LF = sum_t leak^(T-t) s[t]`` is the spike train filtered with the leak (the
count each spike still "holds" at the end of the window). ``LF / Total`` is in
``(0, 1]`` and ``ln(leak) <= 0``, so the correction shrinks the derivative of
leaky neurons and vanishes for IF ones (the pooling neurons, ``ln 1 = 0``).
Neurons that never fired get a zero derivative (the rate model's ``relu``).

In time: the spikes are taken as spread evenly over the window, so the gradient
of the count is the mean over steps of the gradient of the spikes, ``dL/dTotal =
mean_t dL/ds[t]``, and every step's input current gets the gradient of ``net``,
``dL/dy[t] = dL/dnet``; a weight's gradient is then the paper's ``dL/dnet x
(summed input spikes)``. The readout and the loss are true gradients (autograd).

Loss (the public code's): squared error between the output membrane at the end
of the window divided by ``T`` and the one-hot label, ``L = 1/2 sum (u[T]/T -
onehot)^2`` averaged over the batch. Optimizer: Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..runtime.layers import Pool2dSpec
from ..runtime.neurons import NeuronParams, neuron_init, neuron_step, rule_neuron
from ..runtime.spec import ReadoutSpec
from .rules import Rule


def _forward(y: torch.Tensor, params: NeuronParams
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the runtime neuron over ``y`` ``(T, B, ...)``; return its spikes ``s``,
    the spike counts ``Total`` and the leak-filtered counts ``LF`` (``(B, ...)``)."""
    state = neuron_init(tuple(y.shape[2:]), params, y.shape[1], y.device, y.dtype)
    outs = []
    lf = torch.zeros_like(y[0])
    for t in range(y.shape[0]):
        s, state = neuron_step(y[t], state, params)
        lf = params.decay * lf + s
        outs.append(s)
    s_all = torch.stack(outs)
    return s_all, s_all.sum(0), lf


def lee_derivative(total: torch.Tensor, lf: torch.Tensor, params: NeuronParams
                   ) -> torch.Tensor:
    """``dTotal/dnet = (1 / V_th) (1 + ln(leak) LF / Total)``, 0 where ``Total == 0``.

    Args:
        total: ``(B, ...)`` spike counts over the window.
        lf: ``(B, ...)`` leak-filtered spike counts (``LF = leak LF + s`` each step).
        params: the layer's neuron (``decay`` is the leak, ``threshold`` ``V_th``).
    """
    ratio = lf / total.clamp(min=1.0)
    d = (1.0 + math.log(params.decay) * ratio) / params.threshold
    return torch.where(total > 0, d, torch.zeros_like(d))


class LeeFunction(torch.autograd.Function):
    """One spiking layer: the runtime neuron forward, the paper's backward.

    ``apply(y, params)`` returns the ``(T, B, ...)`` spikes for the ``(T, B, ...)``
    input currents ``y``; its backward is ``dL/dy[t] = mean_s(dL/ds[s]) *
    dTotal/dnet`` for every ``t`` (see the module docstring).
    """

    @staticmethod
    def forward(y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        s, total, lf = _forward(y, params)
        return s, total, lf

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        _, params = inputs
        _, total, lf = output
        ctx.mark_non_differentiable(total, lf)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(total, lf)
        ctx.params = params

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any
                 ) -> tuple[torch.Tensor | None, None]:
        if g is None:
            return None, None
        total, lf = ctx.saved_tensors
        d_net = g.mean(0) * lee_derivative(total, lf, ctx.params)
        return d_net.unsqueeze(0).expand_as(g).contiguous(), None


def lee_layer(y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
    """``(T, B, ...)`` spikes of a spiking layer under Lee et al.'s backward."""
    return LeeFunction.apply(y, params)[0]


@dataclass(frozen=True)
class Lee(Rule):
    """Lee et al. 2020 settings (see the module docstring).

    Attributes:
        leak: membrane factor per step of the hidden and readout neurons.
        threshold: firing threshold of the hidden neurons.
        pool_threshold: threshold of the IF pooling neurons.
        init_gain: 5 (the default init leaves the deeper layers silent on sparse
            event frames, and silent neurons get no gradient).
    """

    leak: float = 0.99
    threshold: float = 1.0
    pool_threshold: float = 0.75
    init_gain: float = 5.0

    name: ClassVar[str] = "lee"
    paper: ClassVar[str] = ("Lee et al. 2020, Enabling spike-based backpropagation for "
                            "training deep neural network architectures, Front. Neurosci. "
                            "14:119")

    def __post_init__(self) -> None:
        if not 0.0 < self.leak <= 1.0:
            raise ValueError(f"lee: leak must be in (0, 1], got {self.leak}")

    def hidden_neuron(self) -> NeuronParams:
        return rule_neuron("lee", decay=self.leak, threshold=self.threshold)

    def output_neuron(self) -> NeuronParams:
        return rule_neuron("lee_readout", decay=self.leak)

    def pool(self, name: str, k: int) -> Pool2dSpec:
        return Pool2dSpec(name, "avg", (k, k), (k, k),
                          neuron=rule_neuron("lee_pool", threshold=self.pool_threshold))

    def readout(self) -> ReadoutSpec:
        return ReadoutSpec(kind="membrane")

    def neuron_layer(self, y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        if not params.spiking:  # the readout: a true gradient, through autograd
            return super().neuron_layer(y, params)
        return lee_layer(y, params)

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return readout_loss(out, F.one_hot(labels, out.shape[-1]).to(out.dtype))


def readout_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1/2 sum (u[T] / T - target)^2`` over the outputs, mean over the batch.

    Args:
        out: ``(T, B, n_out)`` readout membranes.
        target: ``(B, n_out)`` one-hot labels.
    """
    d = out[-1] / out.shape[0] - target
    return 0.5 * (d * d).sum() / out.shape[1]


RULE = Lee
