"""Clips at random offsets of continuous recordings (training/gesture_clips.py)."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.runtime.spec import InputSpec
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.source import LabelledSegment
from spikestream.training.gesture_clips import (
    PAUSE,
    ClipSpec,
    bin_stream,
    clip_ends,
    cut_clips,
    window_ages_ms,
    window_labels,
)

DT = 10_000
INPUT = InputSpec((8, 8, 2))
SEGMENTS = (LabelledSegment(3, "c3", 205_000, 705_000),
            LabelledSegment(7, "c7", 900_000, 1_600_000))
DURATION = 1_800_000


def recording() -> np.ndarray:
    """One event per 1 ms from 55 ms to the end; pixel x encodes the ms // 100."""
    t = np.arange(55_000, DURATION, 1_000, dtype=np.int64)
    ev = np.zeros(len(t), EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, (t // 100_000) % 8, 2, 1
    return ev


@pytest.fixture(scope="module")
def stream():
    return bin_stream(recording(), SEGMENTS, INPUT, DT, DURATION, "rec")


def test_window_labels_use_the_time_each_window_ends():
    lab = window_labels([LabelledSegment(3, "c", 25_000, 55_000)], 8, DT)
    # window k ends at (k + 1) * 10 ms: ends 30, 40, 50 ms lie in [25, 55) ms
    assert lab.tolist() == [PAUSE, PAUSE, 3, 3, 3, PAUSE, PAUSE, PAUSE]


def test_window_ages_count_from_the_segment_start_to_each_window_end():
    age = window_ages_ms([LabelledSegment(3, "c", 25_000, 55_000)], 8, DT)
    assert age.tolist() == [-1, -1, 5, 15, 25, -1, -1, -1]


def test_clip_step_ages_follow_their_step_labels(stream):
    clips = cut_clips([stream], ClipSpec(30, DT, per_segment=5), 3, INPUT, ("a",) * 8)
    assert clips.step_age_ms.shape == clips.step_labels.shape
    assert ((clips.step_age_ms < 0) == (clips.step_labels == PAUSE)).all()
    for ages, end in zip(clips.step_age_ms, clips.t_end_us, strict=True):
        seg = next(s for s in SEGMENTS if s.t_start_us <= end < s.t_end_us)
        assert ages[-1] == (end - seg.t_start_us) / 1000


def test_a_whole_recording_binned_on_the_stream_grid(stream):
    assert stream.frames.shape == (180, 2, 8, 8) and stream.frames.dtype == np.uint8
    counts = stream.frames.reshape(180, -1).sum(1)
    assert counts[:5].sum() == 0  # before the first event (55 ms): empty frames
    assert counts[5] == 5 and (counts[6:] == 10).all()  # 1 event / ms
    assert stream.frames[150, 1, 2, (1_500_000 // 100_000) % 8] == 10
    assert stream.labels[20] == 3 and stream.labels[19] == PAUSE  # ends 210 / 200 ms
    assert stream.labels[70] == PAUSE and stream.labels[69] == 3  # ends 710 / 700 ms


def test_clip_ends_lie_inside_their_segments_at_random_offsets(stream):
    spec = ClipSpec(n_steps=20, dt_us=DT, per_segment=200, onset_fraction=0.0)
    ends = clip_ends(stream, spec, np.random.default_rng(0))
    assert len(ends) == 400
    first, second = ends[:200], ends[200:]
    assert (stream.labels[first] == 3).all() and (stream.labels[second] == 7).all()
    # uniform over the segment, not only its start
    assert first.min() <= 22 and first.max() >= 66 and len(set(first.tolist())) > 30


def test_onset_clips_end_in_the_first_onset_ms(stream):
    spec = ClipSpec(n_steps=20, dt_us=DT, per_segment=100, onset_fraction=1.0,
                    onset_ms=100.0)
    ends = clip_ends(stream, spec, np.random.default_rng(1))
    t_end = (ends + 1) * DT
    starts = np.repeat([s.t_start_us for s in SEGMENTS], 100)
    assert ((t_end - starts) >= 0).all() and ((t_end - starts) < 100_000).all()


def test_clips_are_the_stream_windows_before_their_end(stream):
    spec = ClipSpec(n_steps=30, dt_us=DT, burn_in=10, per_segment=8)
    clips = cut_clips([stream], spec, seed=3, input=INPUT, classes=tuple("abcdefgh"))
    assert len(clips) == 16 and clips.data.frames.shape == (16, 30, 2, 8, 8)
    for i in range(len(clips)):
        k = int(clips.t_end_us[i] // DT) - 1  # the clip's last window
        lo = k - 29
        want = np.concatenate([np.zeros((max(0, -lo), 2, 8, 8), np.uint8),
                               stream.frames[max(0, lo):k + 1]])
        assert np.array_equal(clips.data.frames[i], want)
        assert clips.data.labels[i] == stream.labels[k] == clips.step_labels[i, -1]
        want_l = np.concatenate([np.full(max(0, -lo), PAUSE), stream.labels[max(0, lo):k + 1]])
        assert np.array_equal(clips.step_labels[i], want_l)
    assert set(clips.data.labels.tolist()) == {3, 7}
    assert clips.loss_mask.shape == (16, 30)
    assert not clips.loss_mask[:, :10].any() and clips.loss_mask[:, 10:].all()


def test_a_clip_straddling_a_gesture_start_changes_label_at_the_start(stream):
    spec = ClipSpec(n_steps=15, dt_us=DT, per_segment=50, onset_fraction=1.0, onset_ms=150)
    clips = cut_clips([stream], spec, seed=0, input=INPUT, classes=tuple("abcdefgh"))
    sevens = np.flatnonzero(clips.data.labels == 7)
    i = int(sevens[np.argmin(clips.t_end_us[sevens])])  # the earliest end: 7 starts inside
    steps = clips.step_labels[i]
    assert steps[0] == PAUSE and steps[-1] == 7
    change = int(np.flatnonzero(steps == 7)[0])
    assert (steps[:change] == PAUSE).all() and (steps[change:] == 7).all()


def test_same_seed_same_clips_other_seed_other_offsets(stream):
    spec = ClipSpec(n_steps=20, dt_us=DT, per_segment=6)
    a = cut_clips([stream], spec, seed=1, input=INPUT, classes=tuple("abcdefgh"))
    b = cut_clips([stream], spec, seed=1, input=INPUT, classes=tuple("abcdefgh"))
    c = cut_clips([stream], spec, seed=2, input=INPUT, classes=tuple("abcdefgh"))
    assert np.array_equal(a.t_end_us, b.t_end_us)
    assert np.array_equal(a.data.frames, b.data.frames)
    assert not np.array_equal(a.t_end_us, c.t_end_us)


def test_bad_specs_and_mismatched_dt(stream):
    with pytest.raises(ValueError, match="burn_in"):
        ClipSpec(n_steps=10, dt_us=DT, burn_in=10)
    with pytest.raises(ValueError, match=">= 1"):
        ClipSpec(n_steps=0, dt_us=DT)
    with pytest.raises(ValueError, match="binned at"):
        cut_clips([stream], ClipSpec(10, 5_000), 0, INPUT, ("a",))
