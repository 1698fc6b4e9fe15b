"""The spine: the dense torch backend and the event-driven numba backend agree.

On real DVS128 recordings (../shared/data), 1 ms windows, thousands of steps, for
every neuron kind of :mod:`spikestream.runtime.testing`: identical outputs (spikes)
at every layer and step and identical potentials with weights on the 2^-12 grid
(every partial sum is exact in float32); with unrounded weights, or TSSL-BP's float
PSP traces feeding the next layers, float sums in another order flip a threshold now
and then: counted, and bounded. Plus chunking invariance (an engine run over any
chunking of the stream equals one step per window; a batch of streams equals each
stream alone), reset, and snapshots that move between the backends.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.runtime.backends.base import Backend, create_backend
from spikestream.runtime.engine import Engine
from spikestream.runtime.model_file import Model
from spikestream.runtime.testing import KINDS, random_model
from spikestream.streams.windowing import EventWindow, bin_events

T = 3000  # steps of 1 ms
EXACT = tuple(k for k in KINDS if k != "tssl")  # integral inputs to every layer


@pytest.fixture(scope="module")
def windows(busy_events: np.ndarray) -> list[EventWindow]:
    """The first ``T`` 1 ms windows of the busiest DVS128 recording."""
    w = bin_events(busy_events, 1000)[:T]
    assert len(w) == T and sum(len(x.events) for x in w) > 50_000
    return w


def _reset_every(model: Model) -> int:
    """Steps between state resets that the model's readout asks for (0: never)."""
    r = model.spec.readout
    return r.reset_every_steps if r.state_policy == "reset_every" else 0


def _step(be: Backend, w: EventWindow) -> dict[str, np.ndarray]:
    out = be.step(be.prepare([w.events]), record=True)
    rec = dict(out.record)
    rec["output"] = out.output
    return rec


def _spiking_keys(model: Model) -> list[str]:
    return [layer.name for layer in model.spec.layers
            if layer.neuron is not None and layer.neuron.spiking]


def _run_pair(model: Model, windows: list[EventWindow], exact: bool,
              rtol: float = 1e-5, atol: float = 1e-5) -> dict[str, int]:
    """Step torch and numba through ``windows`` and compare every record.

    ``exact``: any difference fails at once, naming the step and array. Otherwise an
    element differing beyond ``atol + rtol * |torch|`` is a mismatch; numba is then
    re-synchronised from torch's snapshot (so one flip is counted once, not its
    aftermath) and the counts are returned.
    """
    tb, nb = create_backend("torch", model), create_backend("numba", model)
    every = _reset_every(model)
    spiking = _spiking_keys(model)
    stats = {"flips": 0, "spikes": 0, "mismatched_steps": 0, "steps": 0}
    for k, w in enumerate(windows):
        if every and k % every == 0:
            tb.reset()
            nb.reset()
        rt, rn = _step(tb, w), _step(nb, w)
        assert rt.keys() == rn.keys()
        stats["steps"] += 1
        stats["spikes"] += int(sum(np.count_nonzero(rt[key]) for key in spiking))
        bad = False
        for key, a in rt.items():
            b = rn[key]
            assert a.shape == b.shape and b.dtype == np.float32, key
            if exact:
                if not np.array_equal(a, b):
                    n = int(np.count_nonzero(a != b))
                    pytest.fail(f"{model.spec.name} step {k}: {key} differs in {n} of "
                                f"{a.size} values (max |diff| {np.abs(a - b).max():.3g})")
                continue
            off = np.abs(a - b) > atol + rtol * np.abs(a)
            if off.any():
                bad = True
                if key in spiking:
                    stats["flips"] += int(np.count_nonzero(off))
        if bad:
            stats["mismatched_steps"] += 1
            nb.restore(tb.snapshot())
    return stats


@pytest.mark.parametrize("kind", EXACT)
def test_backends_identical_on_grid_weights(kind: str, windows: list[EventWindow]):
    model = random_model(kind)
    stats = _run_pair(model, windows, exact=True)
    # the comparison means something only if the network is active
    assert stats["spikes"] > (20 if kind == "relpsp" else 1000), stats


def test_grouped_layers_identical_on_grid_weights(windows: list[EventWindow]):
    # torch runs grouped conv and linear layers as groups, numba as their dense
    # block-diagonal weights: two implementations of one meaning
    model = random_model("stbp", groups=4, n_classes=12)
    stats = _run_pair(model, windows, exact=True)
    assert stats["spikes"] > 1000, stats


def test_tssl_float_traces_agree_within_tolerance(windows: list[EventWindow]):
    # TSSL-BP feeds float PSP traces to the next layers: sums in another order
    # differ by an ulp or so; spikes and traces agree but for rare flips
    stats = _run_pair(random_model("tssl"), windows, exact=False)
    assert stats["spikes"] > 1000, stats
    assert stats["flips"] <= 1e-3 * stats["spikes"], stats
    assert stats["mismatched_steps"] <= 0.01 * stats["steps"], stats


def test_unrounded_weights_flip_rarely(windows: list[EventWindow]):
    stats = _run_pair(random_model("lif", grid_bits=None, seed=3), windows, exact=False)
    assert stats["spikes"] > 1000, stats
    assert stats["flips"] <= 1e-3 * stats["spikes"], stats
    assert stats["mismatched_steps"] <= 0.01 * stats["steps"], stats


@pytest.mark.parametrize("kind", ["lif", "relpsp"])
def test_engine_run_over_any_chunking_equals_steps(kind: str, busy_events: np.ndarray,
                                                   windows: list[EventWindow]):
    n = 1500
    ev = busy_events[busy_events["t"] < windows[n - 1].t_end_us]
    model = random_model(kind)
    stepped = Engine(model, backend="numba")
    want = [stepped.step(w).output for w in windows[:n]]
    rng = np.random.default_rng(7)
    for _ in range(2):
        cuts = np.sort(rng.choice(np.arange(1, len(ev)), size=300, replace=False))
        chunks = np.split(ev, cuts)
        got = [r.output for r in Engine(model, backend="numba").run(chunks)]
        assert len(got) == n
        for k, (a, b) in enumerate(zip(want, got, strict=True)):
            assert np.array_equal(a, b), f"step {k}"


def test_batch_of_streams_equals_each_stream_alone(windows: list[EventWindow]):
    model = random_model("bpsta")
    B, n = 3, 600
    streams = [windows[b * n:(b + 1) * n] for b in range(B)]  # three different stretches
    batch = create_backend("numba", model, batch=B)
    torch_batch = create_backend("torch", model, batch=B)
    alone = [create_backend("numba", model) for _ in range(B)]
    for k in range(n):
        evs = [s[k].events for s in streams]
        got = batch.step(batch.prepare(evs)).output
        assert np.array_equal(got, torch_batch.step(torch_batch.prepare(evs)).output), k
        for b in range(B):
            one = alone[b].step(alone[b].prepare([evs[b]])).output
            assert np.array_equal(got[b:b + 1], one), (k, b)


@pytest.mark.parametrize("name", ["numba", "torch"])
def test_reset_then_same_input_gives_same_output(name: str, windows: list[EventWindow]):
    model = random_model("relpsp")  # fire-once flags and a current: all the state kinds
    be = create_backend(name, model)
    first = [_step(be, w) for w in windows[:400]]
    be.reset()
    assert all(not v.any() for v in be.snapshot().values())
    for k, w in enumerate(windows[:400]):
        again = _step(be, w)
        for key, a in first[k].items():
            assert np.array_equal(a, again[key]), (k, key)


@pytest.mark.parametrize("kind", ["relpsp", "lee", "bpsta"])
@pytest.mark.parametrize("src,dst", [("numba", "torch"), ("torch", "numba")])
def test_snapshot_moves_between_backends(kind: str, src: str, dst: str,
                                         windows: list[EventWindow]):
    model = random_model(kind)
    a, b = create_backend(src, model), create_backend(dst, model)
    for w in windows[:700]:
        a.step(a.prepare([w.events]))
    snap = a.snapshot()
    assert any(v.any() for v in snap.values())
    b.restore(snap)
    for key, v in b.snapshot().items():
        assert np.array_equal(v, snap[key]), key
    for k, w in enumerate(windows[700:1200]):
        ra, rb = _step(a, w), _step(b, w)
        for key, v in ra.items():
            assert np.array_equal(v, rb[key]), (k, key)
