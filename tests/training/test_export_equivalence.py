"""Contract 4 for every rule: train a tiny net a few steps, export it, load the file
with the runtime, step it with each backend over the windows of the same
recordings, and get the training forward's outputs (spikes or PSP traces) layer by
layer.

Weights are rounded to a grid of 2^-12 (../shared/BENCHMARKING.md "Exact
equivalence"): with integer input counts every sum of a spiking layer is then exact
in float32 whatever its order, so the batched training forward, the dense torch
backend and the event-driven numba backend agree bit for bit. One test keeps the raw
weights and allows the rare flips of float summation order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.runtime.engine import Engine
from spikestream.runtime.model_file import load_model
from spikestream.runtime.spec import InputSpec
from spikestream.streams.windowing import bin_events
from spikestream.training.data import Binning, batches
from spikestream.training.data_nmnist import load_nmnist, read_events
from spikestream.training.export import export_model
from spikestream.training.loop import TrainConfig, train
from spikestream.training.network import SpikingNet
from spikestream.training.rules import Arch, get_rule

INPUT = InputSpec(sensor_size=(34, 34, 2), downsample=(2, 2))
DT_US, T, N = 15_000, 8, 6


def _backends() -> list[str]:
    out = ["torch"]
    try:
        import numba  # noqa: F401

        from spikestream.runtime.backends import numba_backend  # noqa: F401
    except ImportError:
        return out
    return [*out, "numba"]


def _trained(tiny: Path, rule: str, grid_bits: int | None) -> SpikingNet:
    data = load_nmnist(tiny, Binning(INPUT, DT_US, T))
    r = get_rule(rule, lr="0.02")
    spec = r.spec(Arch(channels=(4, 8), kernel=3, padding=1), INPUT, DT_US, data.classes)
    net = SpikingNet(spec, r, seed=7)
    train(net, data.subset(np.arange(12)), None, TrainConfig(epochs=1, batch_size=4),
          log=lambda s: None)
    if grid_bits is not None:
        g = float(2**grid_bits)
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.round(p * g) / g)
    return net


def _training_records(net: SpikingNet, tiny: Path) -> dict[str, np.ndarray]:
    data = load_nmnist(tiny, Binning(INPUT, DT_US, T)).subset(np.arange(20, 20 + N))
    x, _, _ = next(batches(data, N))
    rec: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        net(x, rec)
    return {k: v.numpy() for k, v in rec.items()}


def _runtime_records(path: Path, tiny: Path, backend: str) -> dict[str, np.ndarray]:
    model = load_model(path)
    names = load_nmnist(tiny, Binning(INPUT, DT_US, T)).names[20:20 + N]
    streams = [bin_events(read_events(tiny / n), DT_US, n_windows=T) for n in names]
    engine = Engine(model, backend=backend, batch=N)
    steps = [engine.step_batch([s[k] for s in streams], record=True) for k in range(T)]
    return {layer.name: np.stack([np.stack([r.record[layer.name] for r in step])
                                  for step in steps])
            for layer in model.spec.layers}


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("rule", ["stbp", "tssl", "bpsta", "lee", "relpsp"])
def test_exported_model_runs_like_the_training_forward(
        tiny_nmnist: Path, tmp_path: Path, rule: str, backend: str) -> None:
    net = _trained(tiny_nmnist, rule, grid_bits=12)
    path = export_model(tmp_path / f"{rule}.safetensors", net)
    want = _training_records(net, tiny_nmnist)
    got = _runtime_records(path, tiny_nmnist, backend)
    spiking = [layer.name for layer in net.spec.layers if layer.neuron is not None]
    assert all(want[name].any() for name in spiking)  # every layer is active
    for layer in net.spec.layers:
        g, w = got[layer.name], want[layer.name]
        assert g.shape == w.shape, layer.name
        if rule == "stbp":
            np.testing.assert_array_equal(g, w, err_msg=f"{backend} {layer.name}")
        else:
            # PSP traces are not integers: sums of them may round differently per
            # order; the traces agree to float32 rounding and so do the spikes
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{backend} {layer.name}")
    # the decisions (summed output per class) are the same
    assert (got["fc"].sum(0).argmax(-1) == want["fc"].sum(0).argmax(-1)).all()


def test_unrounded_weights_agree_up_to_rare_flips(tiny_nmnist: Path, tmp_path: Path) -> None:
    net = _trained(tiny_nmnist, "stbp", grid_bits=None)
    path = export_model(tmp_path / "raw.safetensors", net)
    want = _training_records(net, tiny_nmnist)
    got = _runtime_records(path, tiny_nmnist, "torch")
    for name in ("conv1", "conv2", "fc"):
        assert (got[name] != want[name]).mean() <= 1e-3, name
