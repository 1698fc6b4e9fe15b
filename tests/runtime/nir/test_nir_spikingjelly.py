"""A SpikingJelly network exported with its own ``nir_exchange.export_to_nir`` runs in
spikestream with the same spikes as SpikingJelly's own single-step forward, on real
DVS128 events, on both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.runtime import Engine
from spikestream.runtime.nir import import_nir

nir = pytest.importorskip("nir")
sj = pytest.importorskip("spikingjelly.activation_based",
                         reason="spikingjelly is optional (it exports NIR since 0.0.0.0.15)")


def _net() -> torch.nn.Module:
    from spikingjelly.activation_based import layer, neuron

    net = torch.nn.Sequential(
        layer.Conv2d(2, 6, 3, padding=1), neuron.LIFNode(tau=2.0, v_reset=0.0),
        layer.AvgPool2d(2), layer.Flatten(),
        layer.Linear(6 * 8 * 8, 5), neuron.IFNode(v_reset=0.0),
    )
    torch.manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():  # a 2^-12 grid: exact float32 sums in every order
            p.copy_(torch.round(p * 4096 * 2.0) / 4096)
    return net


@pytest.fixture(scope="module")
def sj_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net = _net()
    path = tmp_path_factory.mktemp("sj") / "spikingjelly.nir"
    export_to_nir(net, torch.zeros(1, 2, 16, 16), save_path=path)
    return net, path


def _sj_forward(net: torch.nn.Module, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from spikingjelly.activation_based import functional

    functional.reset_net(net)
    out, hidden = [], []
    with torch.inference_mode():
        for f in frames:
            h = net[1](net[0](torch.from_numpy(f)[None]))
            out.append(net[5](net[4](net[3](net[2](h))))[0].numpy().copy())
            hidden.append(h[0].numpy().copy())
    return np.array(out), np.array(hidden)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_spikingjelly_export_runs_spike_for_spike(sj_export, dvs_windows, dvs_frames,
                                                  dvs_input, backend: str) -> None:
    net, path = sj_export
    model = import_nir(path, dt_us=1000, input=dvs_input, convention="spikingjelly")
    conv, fc = model.spec.layers[0], model.spec.layers[-1]
    assert (conv.neuron.decay, conv.neuron.fire_ge) == (0.5, True)
    assert (fc.neuron.decay, fc.neuron.threshold) == (1.0, 1.0)
    want_out, want_hidden = _sj_forward(net, dvs_frames)
    eng = Engine(model, backend=backend)
    out, hidden = [], []
    for w in dvs_windows:
        r = eng.step(w, record=True)
        out.append(r.output.copy())
        hidden.append(r.record[conv.name].copy())
    assert want_hidden.sum() > 1000 and want_out.sum() > 10
    np.testing.assert_array_equal(np.array(hidden), want_hidden)
    np.testing.assert_array_equal(np.array(out), want_out)


def test_spikingjelly_graph_read_with_nir_firing_differs(sj_export, dvs_input) -> None:
    """Read as plain NIR at its own step (fires on ``>``), the graph is another network:
    the convention is what makes the spikes equal."""
    _, path = sj_export
    model = import_nir(path, dt_us=1000, input=dvs_input, convention="nir", nir_dt_s=1e-4)
    assert model.spec.layers[0].neuron.fire_ge is False
    assert model.spec.layers[0].neuron.decay == 0.5
