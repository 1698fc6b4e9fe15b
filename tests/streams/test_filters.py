"""Streaming filters: chunking invariance, tonic parity, documented differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tonic.functional import denoise_numpy, refractory_period_numpy

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, make_events
from spikestream.streams.filters import (
    NEVER,
    Crop,
    Denoise,
    Downsample,
    FilterChain,
    MergePolarity,
    Refractory,
    copy_state,
)

SETTINGS = settings(max_examples=60, deadline=None)
S = (8, 6, 2)


def ev(rows) -> np.ndarray:
    """Events from ``(t, x, y, p)`` rows."""
    t, x, y, p = zip(*rows, strict=True) if rows else ((), (), (), ())
    return make_events(np.asarray(t, np.int64), x, y, p)


@st.composite
def streams(draw, w=S[0], h=S[1], t_min=0, max_dt=600):
    n = draw(st.integers(0, 80))
    dts = draw(st.lists(st.integers(0, max_dt), min_size=n, max_size=n))
    xs = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
    ps = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return make_events(t_min + np.cumsum(np.asarray(dts, np.int64)), xs, ys, ps)


cuts = st.lists(st.integers(0, 80), max_size=6)


def run_chunked(f, events, cut_points):
    state, outs = f.init_state(), []
    for c in np.split(events, sorted({min(c, len(events)) for c in cut_points})):
        out, state = f(c, state)
        outs.append(out)
    return np.concatenate(outs) if outs else events[:0], state


FILTERS = [
    Refractory(300, S),
    Denoise(400, S),
    Denoise(400, S, neighbours=4),
    Downsample(2, S),
    Downsample(None, S, target_size=(3, 4)),
    Crop(1, 2, 5, 3, S),
    MergePolarity(S),
    FilterChain([Crop(1, 0, 6, 6, S), Refractory(200, (6, 6, 2)), Downsample(3, (6, 6, 2))]),
    FilterChain([Denoise(500, S), MergePolarity(S), Refractory(100, (8, 6, 1))]),
]


@SETTINGS
@given(streams(), cuts, st.sampled_from(range(len(FILTERS))))
def test_any_chunking_equals_one_pass(events, cut_points, i):
    f = FILTERS[i]
    one, s1 = f(events, f.init_state())
    many, s2 = run_chunked(f, events, cut_points)
    np.testing.assert_array_equal(one, many)
    assert one.dtype == EVENT_DTYPE
    w, h, _ = f.out_sensor_size
    assert ((one["x"] < w) & (one["y"] < h)).all()
    if isinstance(f, FilterChain):
        assert f.stats(s1) == f.stats(s2)
        assert sum(f.stats(s1).values()) == len(events) - len(one)
    else:
        assert (s1.events_in, s1.removed) == (s2.events_in, len(events) - len(one))


# --- tonic parity ---------------------------------------------------------------


@SETTINGS
@given(streams(t_min=1), st.integers(0, 800))
def test_refractory_equals_tonic_for_positive_times(events, r):
    ours, _ = Refractory(r, S)(events)
    theirs = refractory_period_numpy(events, r) if len(events) else events
    np.testing.assert_array_equal(ours, theirs)


@SETTINGS
@given(st.integers(1, 800), st.data())
def test_denoise4_equals_tonic_after_its_first_filter_time(ft, data):
    events = data.draw(streams(t_min=ft))  # tonic treats every pixel as firing at t=0
    ours, _ = Denoise(ft, S, neighbours=4)(events)
    theirs = denoise_numpy(events, ft) if len(events) else events
    np.testing.assert_array_equal(ours, theirs)


def test_refractory_documented_differences_from_tonic():
    first_at_zero = ev([(0, 1, 1, 1), (500, 2, 2, 0)])
    assert len(Refractory(100, S)(first_at_zero)[0]) == 2
    assert len(refractory_period_numpy(first_at_zero, 100)) == 1
    backwards = ev([(1000, 1, 1, 1), (900, 1, 1, 0)])
    assert len(Refractory(100, S)(backwards)[0]) == 2
    assert len(refractory_period_numpy(backwards, 100)) == 1


def test_refractory_semantics():
    e = ev([(100, 1, 1, 1), (150, 1, 1, 0), (250, 1, 1, 1), (351, 1, 1, 1), (352, 2, 1, 1)])
    out, s = Refractory(100, S)(e)
    # the period is per pixel across polarities, restarted by dropped events, bound exclusive
    assert out["t"].tolist() == [100, 351, 352]
    assert (s.events_in, s.removed) == (5, 2)
    assert s.last_t_us[1, 1] == 351 and s.last_t_us[0, 0] == NEVER


def test_denoise_documented_differences_from_tonic():
    diagonal = ev([(1000, 1, 1, 1), (1100, 2, 2, 1)])
    assert ev_t(Denoise(500, S)(diagonal)[0]) == [1100]
    assert ev_t(Denoise(500, S, neighbours=4)(diagonal)[0]) == []
    assert ev_t(denoise_numpy(diagonal, 500)) == []
    early_lonely = ev([(10, 1, 1, 1), (20, 5, 4, 0)])
    assert ev_t(Denoise(500, S, neighbours=4)(early_lonely)[0]) == []
    assert ev_t(denoise_numpy(early_lonely, 500)) == [10, 20]
    backwards = ev([(1000, 1, 1, 1), (900, 2, 1, 1), (950, 3, 1, 1)])  # a camera reset
    assert ev_t(Denoise(500, S)(backwards)[0]) == [950]  # a "future" neighbour supports nothing


def ev_t(a: np.ndarray) -> list[int]:
    return a["t"].tolist()


def test_denoise_bounds_and_own_pixel():
    e = ev([(0, 3, 3, 1), (0, 3, 3, 0), (399, 4, 3, 1), (799, 3, 3, 1), (1198, 4, 3, 1)])
    # own pixel never supports; a neighbour exactly filter_time before does not either;
    # dropped events still support their neighbours
    assert ev_t(Denoise(400, S)(e)[0]) == [399, 1198]


def test_state_carries_and_copy_state_snapshots():
    f = Refractory(100, S)
    _, s = f(ev([(0, 1, 1, 1)]))
    snap = copy_state(s)
    out, s2 = f(ev([(50, 1, 1, 1)]), s)
    assert len(out) == 0 and s2.last_t_us is s.last_t_us  # updated in place
    out, _ = f(ev([(120, 1, 1, 1)]), snap)
    assert len(out) == 1  # the snapshot still says t_last = 0
    chain = FilterChain([Crop(0, 0, 4, 4, S), Denoise(10, (4, 4, 2))])
    cs = copy_state(chain.init_state())
    assert type(cs) is tuple and type(cs[1]).__name__ == "PixelState"


# --- spatial filters -----------------------------------------------------------


def test_downsample_factor_and_target():
    e = ev([(1, 7, 5, 1), (2, 3, 2, 0)])
    f = Downsample(2, S)
    out, _ = f(e)
    assert out[["x", "y"]].tolist() == [(3, 2), (1, 1)] and f.out_sensor_size == (4, 3, 2)
    g = Downsample((3, 2), S)
    assert g.out_sensor_size == (3, 3, 2) and g(e)[0]["x"].tolist() == [2, 1]
    big = make_events(np.arange(128), np.arange(128), np.arange(128), np.zeros(128))
    ours = Downsample(None, (128, 128, 2), target_size=(32, 16))(big)[0]
    assert ours["x"].tolist() == (np.arange(128) // 4).tolist()
    assert ours["y"].tolist() == (np.arange(128) // 8).tolist()
    odd = Downsample(None, (346, 260, 2), target_size=(64, 48))
    x = np.arange(346)
    out = odd(make_events(x, x, x % 260, x % 2))[0]
    assert out["x"].max() == 63 and out["y"].max() == 47 and odd.out_sensor_size == (64, 48, 2)
    assert (np.bincount(out["x"]) >= 5).all()  # every output column is used


def test_crop_counts_removed_and_shifts():
    e = ev([(1, 0, 0, 1), (2, 2, 3, 0), (3, 6, 4, 1), (4, 7, 5, 1)])
    f = Crop(2, 3, 5, 2, S)
    out, s = f(e)
    assert out[["x", "y"]].tolist() == [(0, 0), (4, 1)]
    assert (s.events_in, s.removed) == (4, 2) and f.out_sensor_size == (5, 2, 2)


def test_merge_polarity():
    out, s = MergePolarity(S)(ev([(1, 0, 0, 1), (2, 1, 1, 0)]))
    assert out["p"].tolist() == [0, 0] and s.removed == 0
    assert MergePolarity(S).out_sensor_size == (8, 6, 1)


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: type(f).__name__)
def test_events_outside_the_sensor_raise_naming_the_filter(f):
    bad = ev([(1, 0, 0, 1), (2, 8, 0, 0)])
    with pytest.raises(FormatError, match=r"event 1 at \(x=8.*outside the 8x6 sensor"):
        f(bad, f.init_state())


def test_wrong_dtype_and_state_raise():
    with pytest.raises(TypeError, match="Refractory: events have dtype"):
        Refractory(1, S)(np.zeros(3), None)
    with pytest.raises(TypeError, match="Crop: events have dtype"):
        Crop(0, 0, 1, 1, S)(np.zeros(3))
    with pytest.raises(ValueError, match="expected int64 \\(6, 8\\)"):
        Denoise(1, S)(ev([]), Denoise(1, (6, 8, 2)).init_state())


def test_bad_construction_raises():
    with pytest.raises(ValueError, match="does not fit"):
        Crop(4, 0, 5, 2, S)
    with pytest.raises(ValueError, match="exactly one"):
        Downsample(2, S, target_size=(4, 3))
    with pytest.raises(ValueError, match="larger than"):
        Downsample(None, S, target_size=(16, 3))
    with pytest.raises(ValueError, match="neighbours"):
        Denoise(10, S, neighbours=6)
    with pytest.raises(ValueError, match="sensor_size"):
        Refractory(10, (8, 6))
    with pytest.raises(ValueError, match=r"Crop outputs a \(4, 4, 2\) sensor but Refractory"):
        FilterChain([Crop(0, 0, 4, 4, S), Refractory(10, S)])


def test_chain_stats_names():
    chain = FilterChain([Crop(0, 0, 8, 3, S), Refractory(50, (8, 3, 2)), Refractory(10, (8, 3, 2))])
    out, s = chain(ev([(1, 0, 5, 1), (2, 0, 0, 1), (3, 0, 0, 1)]))
    assert chain.stats(s) == {"Crop": 1, "Refractory": 1, "Refractory#2": 0}
    assert chain.sensor_size == S and chain.out_sensor_size == (8, 3, 2)


def test_real_recording_filters_chunked(busy_dvs128_files):
    import aestream

    raw = aestream.FileInput(str(busy_dvs128_files[0]), (128, 128)).load()
    e = make_events(raw["timestamp"], raw["x"], raw["y"], raw["polarity"])[:100_000]
    chain = FilterChain([Denoise(5000, (128, 128, 2)), Refractory(1000, (128, 128, 2))])
    one, s1 = chain(e)
    many, s2 = run_chunked(chain, e, list(range(0, len(e), 977)))
    np.testing.assert_array_equal(one, many)
    removed = chain.stats(s1)
    assert 0 < removed["Denoise"] < len(e) and 0 < removed["Refractory"]
