"""The numba backend on hand-built networks: every layer geometry and neuron feature
against the torch backend, records, errors, state handling (no recordings needed)."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.runtime.backends.base import create_backend
from spikestream.runtime.layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec
from spikestream.runtime.model_file import Model
from spikestream.runtime.neurons import NeuronParams, rule_neuron
from spikestream.runtime.spec import InputSpec, ModelSpec, ReadoutSpec
from spikestream.runtime.testing import random_model
from spikestream.streams.events import EVENT_DTYPE, make_events


def _model(spec: ModelSpec, seed: int = 1, gain: float = 0.6) -> Model:
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in spec.tensor_shapes().items():
        if name.endswith(".bias"):
            w = rng.normal(0.0, 0.1, shape)
        else:
            w = rng.normal(0.05, gain * np.sqrt(4.0 / np.prod(shape[1:])), shape)
        tensors[name] = np.round(w * 4096) / 4096
    return Model.build(spec, tensors)


def _windows(spec: ModelSpec, n: int, batch: int, seed: int = 0) -> list[list[np.ndarray]]:
    """``n`` steps of ``batch`` random windows (0 to 60 events, some pixels hit twice)."""
    rng = np.random.default_rng(seed)
    w, h = spec.input.sensor_size[:2]
    out = []
    for _ in range(n):
        step = []
        for _ in range(batch):
            k = int(rng.integers(0, 60))
            step.append(make_events(np.sort(rng.integers(0, 1000, k)), rng.integers(0, w, k),
                                    rng.integers(0, h, k), rng.integers(0, 2, k)))
        out.append(step)
    return out


def odd_geometry() -> ModelSpec:
    """Crop, non-power-of-2 downsampling, strides, rectangular kernels, an
    overlapping max pool of signed values, layers without neurons, biases, an avg
    pool with IF neurons (scaled), two linears."""
    inp = InputSpec((40, 30, 2), crop=(3, 2, 33, 25), downsample=(3, 2))  # 2x13x11
    return ModelSpec("odd", inp, 1000, (
        Conv2dSpec("c1", 2, 6, (3, 2), (2, 1), (1, 0), bias=True, neuron=rule_neuron("stbp")),
        Pool2dSpec("p1", "max", (3, 3), (2, 2)),
        Conv2dSpec("c2", 6, 5, (2, 2), (1, 1), (1, 1), bias=True),
        Pool2dSpec("p2", "avg", (2, 3), (1, 2), scale=2.0, neuron=rule_neuron("lee_pool")),
        FlattenSpec("f"),
        LinearSpec("fc", 30, 4, bias=True),
        LinearSpec("out", 4, 3, neuron=rule_neuron("bpsta")),
    ), ("a", "b", "c"), ReadoutSpec(kind="count"))


def neuron_features() -> ModelSpec:
    """Binary merged input; a current with input ReLU, subtractive reset, decay_last
    and ``>=``; fire-once layers; an avg-pooled spiking layer; a 3-stage readout."""
    inp = InputSpec((20, 20, 2), polarity="merge", mode="binary")
    mixed = NeuronParams(decay=0.5, threshold=0.5, syn_decay=0.75, input_relu=True,
                         reset="subtract", order="decay_last", fire_ge=True)
    return ModelSpec("features", inp, 1000, (
        Conv2dSpec("c1", 1, 4, (5, 5), (3, 3), (2, 2), neuron=mixed),
        Conv2dSpec("c2", 4, 4, (3, 3), (1, 1), (1, 1), neuron=rule_neuron("relpsp")),
        Pool2dSpec("p", "avg", (2, 2), (2, 2), neuron=rule_neuron("relpsp")),
        FlattenSpec("f"),
        FlattenSpec("f2"),
        LinearSpec("out", 4 * 3 * 3, 2,
                   neuron=NeuronParams(decay=0.8, threshold=0.3, fire_once=True, syn_decay=0.5)),
    ), ("a", "b"), ReadoutSpec(kind="count"))


def psp_readout() -> ModelSpec:
    """TSSL-BP's PSP traces into a 1x1 conv and a non-spiking decay_first readout."""
    inp = InputSpec((20, 20, 2), polarity="merge", mode="binary")
    return ModelSpec("psp", inp, 1000, (
        Conv2dSpec("c1", 1, 4, (3, 3), (1, 1), (1, 1), neuron=rule_neuron("tssl")),
        Conv2dSpec("c2", 4, 3, (1, 1), (1, 1), (0, 0), neuron=rule_neuron("tssl")),
        FlattenSpec("f"),
        LinearSpec("out", 3 * 20 * 20, 2,
                   neuron=NeuronParams(decay=0.9, reset="none", spiking=False)),
    ), ("a", "b"), ReadoutSpec(kind="membrane"))


def straight_from_the_input() -> ModelSpec:
    """Layers reading the input stage directly: IF pooling of the counts, then a
    flatten into a linear; and a flattened input into a linear with a bias."""
    inp = InputSpec((16, 12, 2), downsample=(2, 2))  # 2x6x8
    return ModelSpec("direct", inp, 1000, (
        Pool2dSpec("p", "avg", (2, 2), (2, 2), neuron=rule_neuron("lee_pool")),
        FlattenSpec("f"),
        LinearSpec("out", 2 * 3 * 4, 3, bias=True, neuron=rule_neuron("lif")),
    ), ("a", "b", "c"), ReadoutSpec(kind="count"))


def flat_input() -> ModelSpec:
    inp = InputSpec((16, 12, 2), downsample=(2, 2), mode="binary")
    return ModelSpec("flat", inp, 1000, (
        FlattenSpec("f"),
        LinearSpec("out", 2 * 6 * 8, 3, bias=True, neuron=rule_neuron("stbp")),
    ), ("a", "b", "c"), ReadoutSpec(kind="count"))


def _compare(spec: ModelSpec, steps: int, batch: int, exact: bool,
             gain: float = 0.6) -> dict[str, int]:
    model = _model(spec, gain=gain)
    nb = create_backend("numba", model, batch=batch)
    tb = create_backend("torch", model, batch=batch)
    active: dict[str, int] = {}
    for k, evs in enumerate(_windows(spec, steps, batch)):
        rn = nb.step(nb.prepare(evs), record=True)
        rt = tb.step(tb.prepare(evs), record=True)
        assert rn.record is not None and rt.record is not None
        assert rn.record.keys() == rt.record.keys()
        for key, a in rt.record.items():
            b = rn.record[key]
            assert b.shape == a.shape and b.dtype == np.float32, key
            if exact:
                assert np.array_equal(a, b), (k, key, float(np.abs(a - b).max()))
            else:
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=f"{k} {key}")
            active[key] = active.get(key, 0) + int(np.count_nonzero(a))
        assert np.array_equal(rn.output, rt.output) or not exact
    return active


@pytest.mark.parametrize("make", [odd_geometry, neuron_features, straight_from_the_input,
                                  flat_input])
def test_matches_torch_exactly(make):
    active = _compare(make(), steps=300, batch=2, exact=True)
    # every layer did something, so the comparison means something
    assert all(v > 0 for v in active.values()), active


def test_psp_traces_match_torch_within_float_tolerance():
    active = _compare(psp_readout(), steps=200, batch=1, exact=False, gain=2.0)
    assert all(v > 0 for v in active.values()), active


def test_events_outside_the_crop_are_counted_not_lost():
    spec = odd_geometry()
    be = create_backend("numba", _model(spec))
    ev = make_events([0, 1, 2, 3], [0, 3, 36, 39], [0, 2, 26, 29], [1, 0, 1, 1])
    be.step(be.prepare([ev]))
    assert be.counters["outside_crop"] == 3  # x=0, y=29 and (36, 26) lie outside


def test_event_outside_the_sensor_raises_and_steps_nothing():
    model = random_model("lif")
    be = create_backend("numba", model, batch=2)
    good = make_events([0, 1], [5, 6], [5, 6], [0, 1])
    be.step(be.prepare([good, good]))
    before = be.snapshot()
    bad = make_events([0, 1, 2], [5, 128, 7], [5, 5, 7], [0, 1, 0])
    with pytest.raises(ValueError, match=r"stream 1: event 1 at x=128, y=5 .* 128x128 sensor"):
        be.step(be.prepare([good, bad]))
    after = be.snapshot()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    be.step(be.prepare([good, good]))  # and it goes on


def test_other_event_dtypes_and_strided_arrays_give_the_same_result():
    model = random_model("stbp")
    ev = _windows(model.spec, 1, 1, seed=3)[0][0]
    other = np.zeros(len(ev), [("x", "<i4"), ("y", "<i4"), ("p", "?"), ("t", "<i8")])
    for f in ("t", "x", "y"):
        other[f] = ev[f]
    other["p"] = ev["p"] != 0
    doubled = np.repeat(ev, 2)[::2]  # a strided view
    outs = []
    for e in (ev, other, doubled):
        be = create_backend("numba", model)
        outs.append(be.step(be.prepare([e]), record=True).record["conv1.u"])
    assert outs[0].any()
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


def test_timed_step_times_input_and_every_layer_without_changing_results():
    model = random_model("lee")
    a, b = create_backend("numba", model), create_backend("numba", model)
    for evs in _windows(model.spec, 20, 1):
        oa = a.step(a.prepare(evs), timed=True)
        ob = b.step(b.prepare(evs))
        assert np.array_equal(oa.output, ob.output)
    assert oa.layer_us is not None and ob.layer_us is None
    assert list(oa.layer_us) == ["scatter", *(layer.name for layer in model.spec.layers)]
    assert all(v >= 0 for v in oa.layer_us.values())


def test_snapshot_restore_checks_keys_and_shapes():
    model = random_model("relpsp")
    be = create_backend("numba", model, batch=2)
    snap = be.snapshot()
    assert set(snap) == {"conv1.u", "conv1.i", "conv1.fired", "conv2.u", "conv2.i",
                         "conv2.fired", "fc.u", "fc.i", "fc.fired"}
    assert snap["conv1.u"].shape == (2, 8, 32, 32)
    with pytest.raises(ValueError, match="missing"):
        be.restore({k: v for k, v in snap.items() if k != "fc.i"})
    with pytest.raises(ValueError, match="batch 2"):
        be.restore({k: v[:1] for k, v in snap.items()})
    snap["conv2.u"][1, 3, 4, 5] = 0.25
    be.restore(snap)
    assert be.snapshot()["conv2.u"][1, 3, 4, 5] == np.float32(0.25)


def test_bad_arguments():
    model = random_model("lif")
    with pytest.raises(ValueError, match="CPU only"):
        create_backend("numba", model, device="cuda")
    be = create_backend("numba", model, batch=2)
    with pytest.raises(ValueError, match="expected events of 2 streams"):
        be.prepare([np.zeros(0, EVENT_DTYPE)])
