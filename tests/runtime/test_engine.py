"""The Engine: chunking invariance, run == steps, reset, snapshot/restore, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.runtime.backends import base
from spikestream.runtime.engine import Engine
from spikestream.runtime.errors import BackendError
from spikestream.runtime.model_file import save_model
from spikestream.runtime.testing import random_model
from spikestream.streams.events import make_events
from spikestream.streams.windowing import bin_events

N_EVENTS = 60_000  # ~1 s of a busy recording


def outputs(results) -> np.ndarray:
    return np.array([r.output for r in results])


def split(events: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(events, sorted(set(cuts)))


@pytest.fixture(scope="module")
def events(busy_events):
    return busy_events[:N_EVENTS]


@pytest.fixture(scope="module")
def one_pass(events):
    eng = Engine(random_model("stbp"))
    return outputs(eng.run([events]))


def test_run_equals_steps_over_bin_events(events, one_pass):
    eng = Engine(random_model("stbp"))
    stepped = [eng.step(w) for w in bin_events(events, 1000)]
    np.testing.assert_array_equal(outputs(stepped), one_pass)
    assert len(stepped) == len(one_pass) > 500
    assert eng.counters["events"] == len(events)


@settings(max_examples=8, deadline=None)
@given(cuts=st.lists(st.integers(0, N_EVENTS), max_size=40))
def test_chunking_invariance(events, one_pass, cuts):
    eng = Engine(random_model("stbp"))
    np.testing.assert_array_equal(outputs(eng.run(split(events, cuts))), one_pass)


def test_windows_passed_in_any_batches_give_the_same_result(events, one_pass):
    eng = Engine(random_model("stbp"))
    wins = bin_events(events, 1000)
    got = list(eng.run(wins[:100])) + list(eng.run(iter(wins[100:])))
    np.testing.assert_array_equal(outputs(got), one_pass)


def test_reset_then_same_input_gives_same_output(events):
    eng = Engine(random_model("relpsp"))
    first = list(eng.run([events]))
    eng.reset()
    again = list(eng.run([events]))
    np.testing.assert_array_equal(outputs(first), outputs(again))
    assert [r.decision for r in first] == [r.decision for r in again]
    assert eng.counters["state_resets"] > 0  # relpsp resets every 100 steps


def test_snapshot_restore_continues_identically(events):
    eng = Engine(random_model("tssl"), readout={"tau_ms": 20.0})
    wins = bin_events(events, 1000)
    for w in wins[:300]:
        eng.step(w)
    snap = eng.snapshot()
    cont = [eng.step(w) for w in wins[300:]]
    other = Engine(random_model("tssl"), readout={"tau_ms": 20.0})
    other.restore(snap)
    again = [other.step(w) for w in wins[300:]]
    np.testing.assert_array_equal(outputs(cont), outputs(again))
    np.testing.assert_array_equal([r.prediction.probs for r in cont],
                                  [r.prediction.probs for r in again])
    with pytest.raises(ValueError, match="snapshot lacks"):
        other.restore({k: v for k, v in snap.items() if k != "readout.first"})


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_warm_up_changes_nothing_the_stream_sees(events, backend):
    """warm_up (compiling numba's kernels before a paced stream) mid-stream leaves the
    state, the decisions and the counters as if it had not run."""
    wins = bin_events(events, 1000)[:400]
    plain = Engine(random_model("relpsp"), backend=backend)
    want = [plain.step(w) for w in wins]
    eng = Engine(random_model("relpsp"), backend=backend)
    eng.warm_up()
    got = [eng.step(w) for w in wins[:150]]
    eng.warm_up(timed=True)
    got += [eng.step(w) for w in wins[150:]]
    np.testing.assert_array_equal(outputs(got), outputs(want))
    assert [r.decision for r in got] == [r.decision for r in want]
    assert eng.counters == plain.counters


def test_batch_engine_equals_single_engines(events, quiet_events):
    model = random_model("relpsp")
    wa, wb = bin_events(events, 1000)[:250], bin_events(quiet_events, 1000)[:250]
    both, a, b = Engine(model, batch=2), Engine(model), Engine(model)
    for x, y in zip(wa, wb, strict=True):
        ra, rb = both.step_batch([x, y])
        np.testing.assert_array_equal(ra.output, a.step(x).output)
        np.testing.assert_array_equal(rb.output, b.step(y).output)
        assert rb.stream == 1
    with pytest.raises(ValueError, match="use step_batch"):
        both.step(wa[0])


def test_step_result_fields(events, tmp_path):
    m = random_model("bpsta")
    path = save_model(tmp_path / "m.safetensors", m.spec, m.tensors)
    eng = Engine(path)
    r = eng.step(bin_events(events, 1000)[5], record=True, timed=True)
    assert (r.index, r.t_end_us - r.t_start_us) == (5, 1000)
    assert r.output.shape == (44,) and r.scores.shape == (11,)
    assert {"input", "network", "readout", "layer:conv1", "layer:fc"} <= set(r.latency_us)
    assert r.record is not None and r.record["conv1"].shape == (8, 32, 32)
    assert r.dropped == 0 and r.n_events == len(bin_events(events, 1000)[5].events)


def test_errors(events):
    eng = Engine(random_model("lif"))
    w = bin_events(events, 500)[0]
    with pytest.raises(ValueError, match="spans 500 µs; model 'random-lif' steps 1000 µs"):
        eng.step(w)

    class Src(list):
        name, sensor_size = "cam", (346, 260, 2)

    with pytest.raises(ValueError, match="cam: sensor is 346x260 but model 'random-lif' "
                                         "expects 128x128"):
        list(eng.run(Src([events])))
    with pytest.raises(TypeError, match="event chunks or EventWindows"):
        list(eng.run([1, 2]))


def test_missing_backend_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(base.BACKENDS, "numba", "numba_backend_not_here")
    with pytest.raises(BackendError, match="backend 'numba' is not available: its module "
                                           r"spikestream\.runtime\.backends\."
                                           "numba_backend_not_here is missing"):
        Engine(random_model("lif"), backend="numba")


def test_memory_is_bounded_on_a_long_stream():
    """Hours of stream cost no more memory than seconds: nothing accumulates."""
    import tracemalloc

    rng = np.random.default_rng(0)

    def chunks():
        for k in range(4000):  # 40 s of stream in 10 ms chunks
            n = 30
            t = k * 10_000 + np.sort(rng.integers(0, 10_000, n))
            yield make_events(t, rng.integers(0, 128, n), rng.integers(0, 128, n),
                              rng.integers(0, 2, n))

    eng = Engine(random_model("lif", dt_us=10_000))
    tracemalloc.start()
    try:
        for r in eng.run(chunks()):
            if r.index == 500:
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert eng.counters["windows"] == 4000
    assert late - early < 256 * 1024, (early, late)
