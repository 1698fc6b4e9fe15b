"""The input stage against a naive per-event loop, on real and generated events."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.runtime.input_stage import InputStage
from spikestream.runtime.spec import InputSpec
from spikestream.streams.events import make_events
from spikestream.streams.windowing import bin_events


def naive(events: np.ndarray, spec: InputSpec) -> np.ndarray:
    c, h, w = spec.shape
    x0, y0, rw, rh = spec.region
    fx, fy = spec.downsample
    out = np.zeros((c, h, w), np.float32)
    for e in events:
        x, y = int(e["x"]) - x0, int(e["y"]) - y0
        if not (0 <= x < rw and 0 <= y < rh):
            continue
        ch = int(e["p"]) if spec.polarity == "split" else 0
        out[ch, y // fy, x // fx] += 1
    if spec.mode == "binary":
        out = np.minimum(out, 1)
    return out


SPECS = [
    InputSpec((128, 128, 2), downsample=(4, 4)),
    InputSpec((128, 128, 2), crop=(10, 20, 90, 77), downsample=(3, 2), polarity="merge"),
    InputSpec((128, 128, 2), crop=(0, 0, 64, 128), mode="binary"),
    InputSpec((128, 128, 2), downsample=(5, 7), mode="binary", polarity="merge"),
]


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_dense_and_sparse_match_naive_on_real_events(quiet_events, spec):
    stage = InputStage(spec)
    assert stage.shape == spec.shape
    for win in bin_events(quiet_events, 10_000)[:60]:
        ref = naive(win.events, spec)
        np.testing.assert_array_equal(stage.dense(win.events), ref)
        idx, val = stage.sparse(win.events)
        flat = np.zeros(stage.size, np.float32)
        flat[idx] = val
        np.testing.assert_array_equal(flat.reshape(spec.shape), ref)
        assert np.all(np.diff(idx) > 0)
        x0, y0, rw, rh = spec.region
        ev = win.events
        inside = ((ev["x"] >= x0) & (ev["x"] < x0 + rw) & (ev["y"] >= y0)
                  & (ev["y"] < y0 + rh))
        assert stage.n_outside(ev) == int((~inside).sum())


def test_dense_fills_out_and_batch(quiet_events):
    stage = InputStage(SPECS[0])
    wins = bin_events(quiet_events, 1000)[:3]
    out = np.full((3, *stage.shape), 7.0, np.float32)
    got = stage.dense_batch([w.events for w in wins], out)
    assert got is out
    for b, w in enumerate(wins):
        np.testing.assert_array_equal(out[b], naive(w.events, SPECS[0]))


def test_empty_window():
    stage = InputStage(SPECS[1])
    ev = make_events([], [], [], [])
    assert stage.dense(ev).sum() == 0
    idx, val = stage.sparse(ev)
    assert idx.shape == (0,) and val.shape == (0,)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
    crop=st.one_of(st.none(), st.tuples(st.integers(0, 15), st.integers(0, 11),
                                        st.integers(1, 16), st.integers(1, 12))),
    fx=st.integers(1, 5),
    fy=st.integers(1, 5),
    polarity=st.sampled_from(["split", "merge"]),
    mode=st.sampled_from(["count", "binary"]),
)
def test_property_matches_naive(n, seed, crop, fx, fy, polarity, mode):
    w, h = 31, 23
    if crop is not None:
        crop = (crop[0], crop[1], min(crop[2], w - crop[0]), min(crop[3], h - crop[1]))
    spec = InputSpec((w, h, 2), crop=crop, downsample=(fx, fy), polarity=polarity, mode=mode)
    rng = np.random.default_rng(seed)
    ev = make_events(np.arange(n), rng.integers(0, w, n), rng.integers(0, h, n),
                     rng.integers(0, 2, n))
    np.testing.assert_array_equal(InputStage(spec).dense(ev), naive(ev, spec))


def test_event_outside_the_sensor_is_an_error():
    stage = InputStage(InputSpec((32, 32, 2)))
    with pytest.raises(ValueError, match=r"event 1 at \(x=40, y=2, p=1\) lies outside the model.s "
                                         r"32x32 input sensor"):
        stage.dense(make_events([0, 1], [3, 40], [2, 2], [0, 1]))


@pytest.mark.parametrize("x, y, p", [(-1, 0, 0), (0, -3, 1), (0, 0, 2), (0, 0, -1)])
def test_negative_coordinates_and_bad_polarity_never_wrap(x, y, p):
    stage = InputStage(InputSpec((32, 32, 2)))
    with pytest.raises(ValueError, match="lies outside"):
        stage.indices(make_events([0], [x], [y], [p]))
