"""Windowing: the grid rule, chunking invariance, disorder, resets, gaps."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, concat, make_events
from spikestream.streams.windowing import (
    EventWindow,
    Windower,
    bin_events,
    grid_start_us,
    window_index,
    window_stream,
)

SETTINGS = settings(max_examples=60, deadline=None)


def ev(ts, xs=None) -> np.ndarray:
    """Events at times ``ts``; x is the arrival position so order is visible."""
    n = len(ts)
    xs = np.arange(n) % 128 if xs is None else xs
    return make_events(np.asarray(ts, np.int64), xs, np.zeros(n), np.arange(n) % 2)


def split(a: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(a, sorted({min(c, len(a)) for c in cuts}))


def as_tuples(windows) -> list[tuple]:
    return [(w.t_start_us, w.t_end_us, w.events.tolist(), w.index, w.epoch) for w in windows]


def reference(arrival: np.ndarray, dt, t0=None, thr=1_000_000, max_gap=None):
    """Per-event pure-Python model of the documented semantics (the oracle)."""
    out, c = [], Counter()
    st_ = {"o": t0, "idx": 0, "ep": 0, "tmax": None, "pend": [], "run": 0}

    def emit(k):
        for _ in range(k):
            o = st_["o"]
            evs = sorted((e for e in st_["pend"] if e[0] < o + dt), key=lambda e: e[0])
            st_["pend"] = [e for e in st_["pend"] if e[0] >= o + dt]
            if evs:
                st_["run"] = 0
            else:
                st_["run"] += 1
            if evs or max_gap is None or st_["run"] <= max_gap:
                out.append((o, o + dt, evs, st_["idx"], st_["ep"]))
            else:
                c["gap_windows_skipped"] += 1
            st_["o"] += dt
            st_["idx"] += 1

    phase = 0 if t0 is None else t0 % dt
    for e in arrival.tolist():
        t, tm = e[0], st_["tmax"]
        if tm is not None and thr is not None and t < tm - thr:
            if tm >= st_["o"]:
                emit(1)
            st_["ep"] += 1
            c["resets"] += 1
            st_["o"], st_["tmax"], tm = grid_start_us(t, dt, phase), None, None
        if st_["o"] is None:
            st_["o"] = grid_start_us(t, dt, phase)
        m = st_["o"] if tm is None else max(tm, st_["o"])
        floor = m - (m - st_["o"]) % dt
        st_["tmax"] = t if tm is None else max(tm, t)
        if t < floor:
            c["late_dropped"] += 1
            continue
        if tm is not None and t < tm:
            c["reordered"] += 1
        st_["pend"].append(e)
        emit(max(0, (st_["tmax"] - st_["o"]) // dt))
    if st_["tmax"] is not None and st_["tmax"] >= st_["o"]:
        emit(1)
    return out, c


sorted_times = st.lists(st.integers(0, 20_000), min_size=0, max_size=120).map(sorted)
cut_lists = st.lists(st.integers(0, 120), max_size=8)
dts = st.sampled_from([7, 100, 1000, 2500])


# --- the grid ---------------------------------------------------------------


def test_grid_rule():
    assert grid_start_us(1234, 1000) == 1000
    assert grid_start_us(-1, 1000) == -1000
    assert grid_start_us(1234, 1000, phase_us=250) == 1250 - 1000
    assert window_index(999, 0, 1000) == 0 and window_index(1000, 0, 1000) == 1
    assert window_index(-1, 0, 1000) == -1
    np.testing.assert_array_equal(window_index(np.array([0, 999, 1000]), 0, 1000), [0, 0, 1])


def test_windows_are_half_open_and_start_on_the_floored_grid():
    w = list(window_stream([ev([1500, 1999, 2000, 4100])], 1000))
    assert [(x.t_start_us, x.t_end_us, len(x.events), x.index) for x in w] == [
        (1000, 2000, 2, 0),
        (2000, 3000, 1, 1),
        (3000, 4000, 0, 2),
        (4000, 5000, 1, 3),
    ]
    assert w[2].events.dtype == EVENT_DTYPE


def test_push_emits_only_complete_windows_and_flush_once():
    w = Windower(1000)
    assert len(w.push(ev([100, 900]))) == 0
    assert w.open_window_us == (0, 1000)
    b = list(w.push(ev([1000])))  # t == end of window 0 completes it
    assert [(x.t_start_us, len(x.events)) for x in b] == [(0, 2)]
    assert [(x.t_start_us, len(x.events)) for x in w.flush()] == [(1000, 1)]
    with pytest.raises(RuntimeError, match="flushed"):
        w.push(ev([5000]))


def test_explicit_t0_emits_leading_empty_windows_and_drops_earlier_events():
    w = Windower(1000, t0_us=-500)
    b = list(w.push(ev([-700, 1600])))
    assert [(x.t_start_us, len(x.events)) for x in b] == [(-500, 0), (500, 0)]
    assert w.counters["late_dropped"] == 1
    assert [x.t_start_us for x in w.flush()] == [1500]


# --- chunking invariance and agreement with offline binning -------------------


@SETTINGS
@given(sorted_times, cut_lists, dts)
def test_any_chunking_equals_one_pass_and_bin_events(ts, cuts, dt):
    a = ev(ts)
    one = as_tuples(window_stream([a], dt))
    many = as_tuples(window_stream(split(a, cuts), dt))
    assert many == one == as_tuples(bin_events(a, dt))
    assert sum(len(w[2]) for w in one) == len(a)  # every event in exactly one window
    for prev, nxt in zip(one, one[1:], strict=False):
        assert nxt[0] == prev[1] and nxt[3] == prev[3] + 1
    for s, e, evs, *_ in one:
        assert all(s <= x[0] < e for x in evs)


@SETTINGS
@given(sorted_times, cut_lists, st.integers(-3000, 0))
def test_explicit_t0_matches_bin_events(ts, cuts, t0):
    a = ev(ts)
    assert as_tuples(window_stream(split(a, cuts), 1000, t0_us=t0)) == as_tuples(
        bin_events(a, 1000, t0_us=t0) if len(a) else []
    )


def test_bin_events_span_and_errors():
    a = ev([0, 10, 2500, 9000])
    w = bin_events(a, 1000, t0_us=1000, n_windows=3)
    assert [(x.t_start_us, len(x.events), x.index) for x in w] == [
        (1000, 0, 0),
        (2000, 1, 1),
        (3000, 0, 2),
    ]
    with pytest.raises(ValueError, match="before t0_us"):
        bin_events(a, 1000, t0_us=5)
    with pytest.raises(ValueError, match="not in time order"):
        bin_events(ev([5, 3]), 1000)
    with pytest.raises(ValueError, match="dt_us"):
        bin_events(a, 0)
    assert bin_events(ev([]), 1000) == []


# --- disorder, late events, resets, gaps: the oracle ---------------------------

unsorted_times = st.lists(st.integers(0, 8_000), min_size=1, max_size=80)
with_resets = st.lists(
    st.one_of(st.integers(0, 5_000), st.integers(40_000, 44_000)), min_size=1, max_size=80
)


@SETTINGS
@given(st.one_of(unsorted_times, with_resets), cut_lists, dts, st.sampled_from([None, 0, 2]))
def test_windower_matches_per_event_model_under_any_chunking(ts, cuts, dt, max_gap):
    a = ev(ts)
    w = Windower(dt, max_gap_windows=max_gap, reset_threshold_us=20_000)
    got = as_tuples(w.stream(split(a, cuts)))
    want, counts = reference(a, dt, thr=20_000, max_gap=max_gap)
    assert got == [(s, e, evs, i, ep) for s, e, evs, i, ep in want]
    for key in ("late_dropped", "reordered", "resets", "gap_windows_skipped"):
        assert w.counters[key] == counts[key], key
    assert w.counters["events"] + w.counters["late_dropped"] == len(a)
    assert w.counters["windows"] == len(got)
    for prev, nxt in zip(got, got[1:], strict=False):  # contiguous within an epoch
        assert nxt[3] > prev[3] and nxt[4] >= prev[4]
        if nxt[4] == prev[4] and nxt[3] == prev[3] + 1:
            assert nxt[0] == prev[1]


@SETTINGS
@given(st.one_of(unsorted_times, with_resets), cut_lists, st.integers(-2000, 2000))
def test_explicit_t0_matches_model(ts, cuts, t0):
    a = ev(ts)
    got = as_tuples(Windower(1000, t0_us=t0, reset_threshold_us=20_000).stream(split(a, cuts)))
    assert got == [tuple(x) for x in reference(a, 1000, t0=t0, thr=20_000)[0]]
    assert all(w[0] % 1000 == t0 % 1000 for w in got)  # one lattice, across resets too


def test_sort_policy_sorts_within_the_open_window_stably_and_counts():
    a = ev([100, 300, 200, 200, 50, 1200])
    w = Windower(1000)
    win = list(w.stream([a]))
    assert win[0].events["t"].tolist() == [50, 100, 200, 200, 300]
    assert win[0].events["x"].tolist() == [4, 0, 2, 3, 1]  # stable among equal t
    assert w.counters["reordered"] == 3 and w.counters["late_dropped"] == 0


def test_late_events_are_dropped_and_counted_or_raised():
    w = Windower(1000, source="cam0")
    out = list(w.push(ev([100, 2100, 900])))
    assert [len(x.events) for x in out] == [1, 0]
    assert w.counters["late_dropped"] == 1
    with pytest.raises(FormatError, match=r"cam0: event 2 at t=900 µs is late"):
        Windower(1000, late="raise", source="cam0").push(ev([100, 2100, 900]))


def test_unsorted_raise_names_the_source_and_event():
    w = Windower(1000, unsorted="raise", source="rec.aedat4")
    w.push(ev([100, 300]))
    with pytest.raises(FormatError, match=r"rec.aedat4: event 3 at t=200 µs"):
        w.push(ev([400, 200]))


def test_reset_flushes_and_starts_a_new_epoch_with_increasing_index():
    w = Windower(1000, reset_threshold_us=10_000)
    win = list(w.stream([ev([5_000_100, 5_001_500]), ev([200, 1300, 900])]))
    assert [(x.t_start_us, len(x.events), x.index, x.epoch) for x in win] == [
        (5_000_000, 1, 0, 0),
        (5_001_000, 1, 1, 0),
        (0, 1, 2, 1),
        (1000, 1, 3, 1),
    ]
    assert w.counters["resets"] == 1 and w.counters["late_dropped"] == 1


def test_huge_gap_is_lazy_and_can_be_capped():
    hour = 3_600_000_000
    a = ev([10, hour + 10])
    w = Windower(1000)
    batch = w.push(a)
    assert len(batch) == hour // 1000  # exact semantics, but nothing materialised yet
    first = next(iter(batch))
    assert len(first.events) == 1
    capped = Windower(1000, max_gap_windows=5)
    win = list(capped.stream([a]))
    assert [x.index for x in win] == [0, 1, 2, 3, 4, 5, hour // 1000]
    assert capped.counters["gap_windows_skipped"] == hour // 1000 - 6
    assert capped.counters["gaps"] == 1


def test_advance_emits_windows_through_silence():
    w = Windower(1000)
    w.push(ev([100]))
    assert [x.t_start_us for x in w.advance(3500)] == [0, 1000, 2000]
    assert len(w.advance(3600)) == 0
    w.push(ev([2999]))  # the clock said no event before 3500 would come
    assert w.counters["late_dropped"] == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="dt_us"):
        Windower(0)
    with pytest.raises(ValueError, match="unsorted"):
        Windower(10, unsorted="keep")
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        Windower(10).push(np.zeros(3))


def test_window_is_a_named_tuple():
    w = EventWindow(0, 10, ev([1]), 0)
    assert w.epoch == 0 and w._fields[:3] == ("t_start_us", "t_end_us", "events")


def test_windows_do_not_alias_the_pushed_chunk():
    a = ev([10, 20, 1500])
    win = list(window_stream([a], 1000))
    a["t"][:] = 0
    assert win[0].events["t"].tolist() == [10, 20]


def test_real_recording_chunked_equals_binned(busy_dvs128_files):
    import aestream

    raw = aestream.FileInput(str(busy_dvs128_files[0]), (128, 128)).load()
    a = make_events(raw["timestamp"], raw["x"], raw["y"], raw["polarity"])
    chunks = np.array_split(a, 97)
    w = Windower(1000)
    got = list(w.stream(chunks))
    want = bin_events(a, 1000)
    assert len(got) == len(want) > 5000
    assert all(
        g.t_start_us == b.t_start_us and np.array_equal(g.events, b.events)
        for g, b in zip(got, want, strict=True)
    )
    assert w.counters["events"] == len(concat(chunks))
