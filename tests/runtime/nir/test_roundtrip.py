"""Our model -> NIR file -> our model gives the same spikes and potentials, on real DVS128
and N-MNIST events, on both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikestream.models import resolve
from spikestream.runtime import (
    Conv2dSpec,
    Engine,
    FlattenSpec,
    LinearSpec,
    Model,
    ModelSpec,
    NeuronParams,
    Pool2dSpec,
    ReadoutSpec,
    load_model,
    save_model,
)
from spikestream.runtime.nir import export_nir, import_nir
from spikestream.runtime.testing import random_model
from spikestream.streams.open import open_source
from spikestream.streams.windowing import EventWindow, Windower

nir = pytest.importorskip("nir")
BACKENDS = ("torch", "numba")


def _cuba_if_model(dvs_input) -> Model:
    """Current-based LIF, IF pooling (sum pool) and a plain LI readout."""
    c, h, w = dvs_input.shape
    layers = (
        Conv2dSpec("conv", c, 6, (3, 3), (1, 1), (1, 1), bias=True,
                   neuron=NeuronParams(decay=0.75, threshold=1.0, syn_decay=0.5)),
        Pool2dSpec("pool", "avg", (2, 2), (2, 2), 2.0,
                   NeuronParams(decay=1.0, threshold=0.75)),
        FlattenSpec("flat"),
        LinearSpec("fc", 6 * (h // 2) * (w // 2), 4,
                   neuron=NeuronParams(decay=0.875, reset="none", spiking=False)),
    )
    spec = ModelSpec("cuba-if", dvs_input, 1000, layers, ("a", "b", "c", "d"),
                     ReadoutSpec(kind="membrane"))
    rng = np.random.default_rng(1)
    tensors = {k: np.round(rng.normal(0.3 if k.startswith("conv") else 0.0, 0.4, s) * 4096)
               / 4096 for k, s in spec.tensor_shapes().items()}
    return Model.build(spec, tensors)


def _outputs(model: Model, windows: list[EventWindow], backend: str
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(T, n_out)`` outputs and every layer's ``(T, ...)`` recorded output."""
    eng = Engine(model, backend=backend)
    out, rec = [], {}
    for w in windows:
        r = eng.step(w, record=True)
        out.append(r.output.copy())
        for k, v in r.record.items():
            rec.setdefault(k, []).append(v.copy())
    return np.array(out), {k: np.array(v) for k, v in rec.items()}


def _same_run(a: Model, b: Model, windows: list[EventWindow], backend: str) -> np.ndarray:
    out_a, rec_a = _outputs(a, windows, backend)
    out_b, rec_b = _outputs(b, windows, backend)
    np.testing.assert_array_equal(out_b, out_a)
    assert rec_b.keys() == rec_a.keys()
    for k in rec_a:
        np.testing.assert_array_equal(rec_b[k], rec_a[k], err_msg=k)
    eng_a, eng_b = Engine(a, backend=backend), Engine(b, backend=backend)
    for w in windows[:50]:  # the membranes too (the snapshot holds every state)
        eng_a.step(w)
        eng_b.step(w)
    snap_a, snap_b = eng_a.snapshot(), eng_b.snapshot()
    assert snap_a.keys() == snap_b.keys()
    for k in snap_a:
        np.testing.assert_array_equal(snap_b[k], snap_a[k], err_msg=k)
    return out_a


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["stbp", "lee", "cuba-if"])
def test_round_trip_through_a_file_is_exact_on_dvs128(kind: str, backend: str, dvs_windows,
                                                      dvs_input, tmp_path: Path) -> None:
    model = (_cuba_if_model(dvs_input) if kind == "cuba-if"
             else random_model(kind, downsample=(8, 8), channels=(4, 8)))
    src = tmp_path / "m.safetensors"
    save_model(src, model.spec, model.tensors)
    export_nir(src, tmp_path / "m.nir")
    back = import_nir(tmp_path / "m.nir")
    assert back.spec.layers == model.spec.layers
    assert (back.spec.input, back.spec.classes, back.spec.readout, back.spec.dt_us) == (
        model.spec.input, model.spec.classes, model.spec.readout, model.spec.dt_us)
    assert back.spec.provenance["nir_import"]["file"] == "m.nir"
    out = _same_run(model, back, dvs_windows[:600], backend)
    assert np.abs(out).sum() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_grouped_layers_round_trip(backend: str, dvs_windows, tmp_path: Path) -> None:
    # grouped layers go out block-diagonal (NIR 1.0.8 cannot type a grouped Conv2d and
    # its Affine has no groups) and come back grouped
    model = random_model("stbp", downsample=(8, 8), channels=(4, 8), groups=2, n_classes=4)
    export_nir(model, tmp_path / "m.nir")
    back = import_nir(tmp_path / "m.nir")
    assert back.spec.layers == model.spec.layers
    out = _same_run(model, back, dvs_windows[:600], backend)
    assert np.abs(out).sum() > 0
    graph = export_nir(model)
    graph.metadata = {}  # another reader's view: the same network, dense
    mapped = import_nir(graph, input=model.spec.input, dt_us=1000, convention="nir")
    assert all(getattr(x, "groups", 1) == 1 for x in mapped.spec.layers)
    np.testing.assert_array_equal(_outputs(mapped, dvs_windows[:300], backend)[0],
                                  _outputs(model, dvs_windows[:300], backend)[0])


@pytest.mark.parametrize("kind", ["stbp", "cuba-if"])
def test_node_mapping_alone_gives_the_same_spikes(kind: str, dvs_windows, dvs_input) -> None:
    """Without our metadata (any other NIR reader's view) the graph means the same
    network: spikes equal, and the membranes where the mapping keeps float32 order."""
    model = (_cuba_if_model(dvs_input) if kind == "cuba-if"
             else random_model(kind, downsample=(8, 8), channels=(4, 8)))
    graph = export_nir(model)
    graph.metadata = {}
    back = import_nir(graph, input=model.spec.input, dt_us=1000, convention="nir")
    assert "restored" not in back.spec.provenance["nir_import"]
    out_a, rec_a = _outputs(model, dvs_windows[:600], "torch")
    out_b, rec_b = _outputs(back, dvs_windows[:600], "torch")
    for la, lb in zip(model.spec.layers, back.spec.layers, strict=True):
        if la.neuron is not None and la.neuron.spiking:
            np.testing.assert_array_equal(rec_b[lb.name], rec_a[la.name], err_msg=la.name)
            assert rec_a[la.name].sum() > 0
    np.testing.assert_allclose(out_b, out_a, rtol=0, atol=1e-5)


def _nmnist_windows(nmnist_dir: Path, dt_us: int, n: int) -> list[list[EventWindow]]:
    """The windows of the first ``n`` digits (one per class), each from t = 0."""
    out = []
    for digit in range(n):
        path = sorted((nmnist_dir / str(digit)).glob("*.bin"))[0]
        with open_source(path) as src:
            events = src.read_all()
        out.append(list(Windower(dt_us).stream([events])))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_shipped_model_round_trip_on_nmnist(backend: str, nmnist_dir: Path,
                                            tmp_path: Path) -> None:
    model = load_model(resolve("nmnist-stbp"))
    export_nir(model, tmp_path / "stbp.nir")
    back = import_nir(tmp_path / "stbp.nir")
    assert back.spec.layers == model.spec.layers and back.spec.name == model.spec.name
    total = 0.0
    for windows in _nmnist_windows(nmnist_dir, model.spec.dt_us, 3):
        total += _same_run(model, back, windows, backend).sum()
    assert total > 0


def test_round_trip_with_another_dt_maps_the_time_constants(dvs_input) -> None:
    """A graph read at another step is a different discretisation: decay follows."""
    model = random_model("stbp", downsample=(8, 8), channels=(4, 8))
    back = import_nir(export_nir(model), dt_us=500)
    assert back.spec.dt_us == 500
    assert "restored" not in back.spec.provenance["nir_import"]
    # tau = 1 ms / (1 - 0.2) = 1.25 ms; half a millisecond: decay 1 - 0.5/1.25 = 0.6
    assert back.spec.layers[0].neuron.decay == pytest.approx(0.6, abs=1e-7)


def test_an_edited_graph_is_mapped_not_restored() -> None:
    """Our metadata is used only while the graph is exactly our export: change a time
    constant and the graph's own meaning wins."""
    model = random_model("stbp", downsample=(8, 8), channels=(4, 8))
    graph = export_nir(model)
    lif = graph.nodes["conv1_neuron"]
    lif.tau = lif.tau * 2.0  # 1.25 ms -> 2.5 ms at 1 ms steps: decay 0.6
    lif.r = lif.r * 2.0  # keep the input gain 1
    back = import_nir(graph)
    assert "restored" not in back.spec.provenance["nir_import"]
    assert back.spec.layers[0].neuron.decay == pytest.approx(0.6, abs=1e-7)
    assert back.spec.layers[2].neuron == model.spec.layers[2].neuron
