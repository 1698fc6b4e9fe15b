"""Networks built and exported by snnTorch and Norse with their own NIR code run in
spikestream with the same spikes as the peer's own stepwise forward, on real DVS128
events, on both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.runtime import Engine, InputSpec
from spikestream.runtime.nir import import_nir
from spikestream.streams.windowing import EventWindow

nir = pytest.importorskip("nir")
BACKENDS = ("torch", "numba")


def _grid(module: torch.nn.Module, scale: float = 2.0) -> None:
    """Weights on a 2^-12 grid: every partial sum is exact in float32, so the dense and
    the event-driven backend (which sum in other orders) agree bit for bit."""
    torch.manual_seed(0)
    for m in module.modules():
        if hasattr(m, "reset_parameters") and isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            m.reset_parameters()
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.copy_(torch.round(p * 4096 * scale) / 4096)


def _engine_outputs(model, windows: list[EventWindow], backend: str, layer: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    eng = Engine(model, backend=backend)
    out, rec = [], []
    for w in windows:
        r = eng.step(w, record=layer is not None)
        out.append(r.output.copy())
        if layer is not None:
            rec.append(r.record[layer].copy())
    return np.array(out), (np.array(rec) if layer is not None else None)


# snnTorch ------------------------------------------------------------------------------

def _snntorch_net(snn):
    def leaky(shape: tuple[int, ...], beta: float, **kw):
        # per-neuron beta/threshold: snnTorch's exporter writes a scalar Leaky as a
        # 0-d LIF whose shape NIR cannot infer
        return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, 1.0),
                         init_hidden=True, reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 8, 3, padding=1), leaky((8, 16, 16), 0.9),
        torch.nn.AvgPool2d((2, 2)), torch.nn.Flatten(),
        torch.nn.Linear(8 * 8 * 8, 5), leaky((5,), 0.8, output=True),
    )
    _grid(net)
    return net


@pytest.fixture(scope="module")
def snntorch_export(tmp_path_factory: pytest.TempPathFactory, snntorch_to_nir
                    ) -> tuple[object, Path]:
    snn = pytest.importorskip("snntorch", reason="snntorch is a dev dependency")
    net = _snntorch_net(snn)
    graph = snntorch_to_nir(net, torch.zeros(1, 2, 16, 16), ignore_dims=[0])
    path = tmp_path_factory.mktemp("snn") / "snntorch.nir"
    nir.write(path, graph)
    return net, path


def _snntorch_forward(net, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from snntorch import utils

    utils.reset(net)
    out, hidden = [], []
    with torch.inference_mode():
        for f in frames:
            x = torch.from_numpy(f)[None]
            h = net[1](net[0](x))
            spk, _ = net[5](net[4](net[3](net[2](h))))
            out.append(spk[0].numpy().copy())
            hidden.append(h[0].numpy().copy())
    return np.array(out), np.array(hidden)


@pytest.mark.parametrize("backend", BACKENDS)
def test_snntorch_export_runs_spike_for_spike(snntorch_export, dvs_windows, dvs_frames,
                                              dvs_input: InputSpec, backend: str) -> None:
    net, path = snntorch_export
    model = import_nir(path, dt_us=1000, input=dvs_input)  # convention auto -> snntorch
    assert model.spec.provenance["nir_import"]["convention"] == "snntorch"
    conv = model.spec.layers[0]
    assert conv.neuron.decay == pytest.approx(0.9, abs=0) and conv.neuron.reset == "zero"
    want_out, want_hidden = _snntorch_forward(net, dvs_frames)
    out, hidden = _engine_outputs(model, dvs_windows, backend, layer=conv.name)
    assert hidden.sum() > 1000 and want_out.sum() > 10  # the test has spikes to compare
    np.testing.assert_array_equal(hidden, want_hidden)
    np.testing.assert_array_equal(out, want_out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_snntorch_linear_lif_net_from_a_file(backend: str, snntorch_to_nir, dvs_windows,
                                             dvs_frames, dvs_input, tmp_path: Path) -> None:
    """A pure linear LIF net (Flatten, Linear, Leaky, Linear, Leaky), biases included."""
    snn = pytest.importorskip("snntorch", reason="snntorch is a dev dependency")
    from snntorch import utils

    def leaky(n: int, beta: float, **kw):
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.full((n,), 0.5),
                         init_hidden=True, reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(512, 24), leaky(24, 0.75),
                              torch.nn.Linear(24, 5), leaky(5, 0.5, output=True))
    _grid(net, scale=4.0)
    path = tmp_path / "linear.nir"
    nir.write(path, snntorch_to_nir(net, torch.zeros(1, 2, 16, 16), ignore_dims=[0]))
    model = import_nir(path, dt_us=1000, input=dvs_input)
    assert [x.type for x in model.spec.layers] == ["flatten", "linear", "linear"]
    assert [x.neuron.decay for x in model.spec.layers[1:]] == [0.75, 0.5]
    utils.reset(net)
    want, hidden = [], []
    with torch.inference_mode():
        for f in dvs_frames:
            z = net[2](net[1](net[0](torch.from_numpy(f)[None])))
            spk, _ = net[4](net[3](z))
            want.append(spk[0].numpy().copy())
            hidden.append(z[0].numpy().copy())
    out, rec = _engine_outputs(model, dvs_windows, backend, layer=model.spec.layers[1].name)
    assert np.sum(want) > 10 and np.sum(hidden) > 100
    np.testing.assert_array_equal(rec, np.array(hidden))
    np.testing.assert_array_equal(out, np.array(want))


def test_snntorch_synaptic_is_a_cubalif(dvs_windows, dvs_frames, dvs_input,
                                       snntorch_to_nir) -> None:
    snn = pytest.importorskip("snntorch", reason="snntorch is a dev dependency")
    from snntorch import utils
    n = 8
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(512, n),
        snn.Synaptic(alpha=torch.full((n,), 0.5), beta=torch.full((n,), 0.875),
                     threshold=torch.ones(n), init_hidden=True, reset_mechanism="zero",
                     reset_delay=False, output=True))
    _grid(net, scale=1.0)
    graph = snntorch_to_nir(net, torch.zeros(1, 2, 16, 16), ignore_dims=[0])
    model = import_nir(graph, dt_us=1000, input=dvs_input, convention="snntorch")
    neuron = model.spec.layers[-1].neuron
    assert (neuron.syn_decay, neuron.decay) == (0.5, 0.875)
    utils.reset(net)
    want = []
    with torch.inference_mode():
        for f in dvs_frames:
            spk, _syn, _mem = net(torch.from_numpy(f)[None])
            want.append(spk[0].numpy().copy())
    out, _ = _engine_outputs(model, dvs_windows, "torch")
    assert np.sum(want) > 10
    np.testing.assert_array_equal(out, np.array(want))


# Norse ---------------------------------------------------------------------------------

def _norse_net(norse, hidden: int = 32):
    """Norse's default LIFBox/LIBox constants (tau_mem_inv 100 /s at dt 1 ms), per neuron
    (scalar parameters make a graph ``nir.write`` cannot store)."""
    net = norse.SequentialState(
        torch.nn.Linear(512, hidden),
        norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((hidden,), 100.0),
                                                v_th=torch.ones(hidden),
                                                v_leak=torch.zeros(hidden))),
        torch.nn.Linear(hidden, 5),
        norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=torch.full((5,), 100.0),
                                              v_leak=torch.zeros(5))),
    )
    _grid(net, scale=4.0)
    return net


@pytest.fixture(scope="module")
def norse_export(tmp_path_factory: pytest.TempPathFactory, norse, norse_to_nir
                 ) -> tuple[object, Path]:
    net = _norse_net(norse)
    graph = norse_to_nir(net, torch.zeros(1, 512))
    path = tmp_path_factory.mktemp("norse") / "norse.nir"
    nir.write(path, graph)
    return net, path


def _norse_forward(net, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s1 = s3 = None
    out, hidden = [], []
    with torch.inference_mode():
        for f in frames:
            z, s1 = net[1](net[0](torch.from_numpy(f).reshape(1, -1)), s1)
            v, s3 = net[3](net[2](z), s3)
            out.append(v[0].numpy().copy())
            hidden.append(z[0].numpy().copy())
    return np.array(out), np.array(hidden)


@pytest.mark.parametrize("backend", BACKENDS)
def test_norse_export_runs_spike_for_spike(norse_export, dvs_windows, dvs_frames,
                                           dvs_input: InputSpec, backend: str) -> None:
    net, path = norse_export
    model = import_nir(path, dt_us=1000, input=dvs_input, convention="norse")
    lif, li = model.spec.layers[1].neuron, model.spec.layers[2].neuron
    assert (lif.decay, li.decay, li.spiking) == (0.9, 0.9, False)
    assert model.spec.readout.kind == "membrane"
    want_out, want_hidden = _norse_forward(net, dvs_frames)
    out, hidden = _engine_outputs(model, dvs_windows, backend, layer=model.spec.layers[1].name)
    assert want_hidden.sum() > 200
    np.testing.assert_array_equal(hidden, want_hidden)
    # Norse steps v + a (I - v), we step (1 - a) v + a I: the same up to float32 rounding
    np.testing.assert_allclose(out, want_out, rtol=0, atol=1e-5)
    assert np.abs(want_out).max() > 0.05


def test_norse_graph_in_memory_with_scalar_parameters(dvs_windows, dvs_frames, dvs_input,
                                                      norse, norse_to_nir) -> None:
    """Norse's defaults (0-d parameters) only exist in memory: import that graph."""
    net = norse.SequentialState(torch.nn.Linear(512, 16), norse.LIFBoxCell(),
                                torch.nn.Linear(16, 4), norse.LIBoxCell())
    _grid(net, scale=4.0)
    model = import_nir(norse_to_nir(net, torch.zeros(1, 512)), dt_us=1000, input=dvs_input,
                       convention="norse")
    want, _ = _norse_forward(net, dvs_frames[:300])
    out, _ = _engine_outputs(model, dvs_windows[:300], "torch")
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)


def test_norse_graph_read_as_plain_nir_is_refused_with_a_hint(norse_export, dvs_input) -> None:
    _, path = norse_export
    with pytest.raises(Exception, match=r"node '1' \(LIF\).*convention 'norse'"):
        import_nir(path, dt_us=1000, input=dvs_input, convention="nir")
