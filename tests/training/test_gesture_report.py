"""The gesture model's measured figures (training/gesture_report.py): per class, the share
decided within a time, the median onset's interval over recordings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spikestream.runtime.timeline import SegmentScore, TimelineScore
from spikestream.streams.source import LabelledSegment
from spikestream.training.gesture_report import (
    by_recording,
    decided_within,
    median_interval,
    per_class,
)


def seg(label: int, majority: int | None, lat_us: int | None) -> SegmentScore:
    return SegmentScore(LabelledSegment(label, "c", 0, 1_000_000), majority, majority,
                        lat_us, 0.5)


def test_per_class_accuracy_and_median_onset():
    score = TimelineScore((seg(0, 0, 100_000), seg(0, 0, 300_000), seg(0, 1, None),
                           seg(2, 2, 50_000)), 500.0)
    got = per_class(score, ("a", "b", "c"))
    assert list(got) == ["a", "c"]  # a class without gestures is left out
    # onsets 100 ms, 300 ms and never: the never-decided one counts as the slowest
    assert got["a"] == {"gestures": 3, "accuracy": round(2 / 3, 4), "onset_median_ms": 300.0,
                        "never_decided": 1}
    assert got["c"]["onset_median_ms"] == 50.0 and got["c"]["accuracy"] == 1.0


def test_decided_within_counts_never_decided_gestures_as_not_decided():
    score = TimelineScore((seg(0, 0, 100_000), seg(0, 0, 300_000), seg(0, 1, None),
                           seg(2, 2, 50_000)), 500.0)
    # onsets 100, 300, never, 50 ms: within 50 ms 1 of 4, within 100 ms 2 of 4 (a
    # latency equal to the bound counts), within 500 ms 3 of 4 (never decided stays out)
    assert decided_within(score, (49, 50, 100, 299, 500)) == {
        "49": 0.0, "50": 0.25, "100": 0.5, "299": 0.5, "500": 0.75}


def recording(*lat_ms: float | None) -> TimelineScore:
    return TimelineScore(tuple(seg(0, 0, None if v is None else int(v * 1000))
                               for v in lat_ms), 500.0)


def test_median_interval_resamples_whole_recordings():
    # recordings alike: every draw has the same median
    same = [recording(40, 60, 300)] * 5
    assert median_interval(same) == (60.0, 60.0)
    # one fast and one slow kind of recording: draws range from all-fast to all-slow
    mixed = [recording(50, 50, 50), recording(300, 300, 300)] * 4
    lo, hi = median_interval(mixed)
    assert lo == 50.0 and hi == 300.0
    # seeded: the same interval each time; more recordings of each kind narrow it
    assert median_interval(mixed) == (lo, hi)
    many = [recording(50, 60, 70), recording(90, 100, 110)] * 40
    lo2, hi2 = median_interval(many)
    assert 60.0 <= lo2 <= 90.0 <= hi2 <= 100.0


def test_median_interval_of_never_decided_recordings_is_not_reached():
    # no draw has more than half of its gestures decided
    assert median_interval([recording(None, None), recording(None, 80)]) == (None, None)
    # half the draws' medians are reached: the lower bound is, the upper is not
    lo, hi = median_interval([recording(None, None, None), recording(20, 30, 40)] * 3)
    assert lo == 30.0 and hi is None
    with pytest.raises(ValueError, match="no recordings"):
        median_interval([])
    with pytest.raises(ValueError, match="level"):
        median_interval([recording(1)], level=1.0)


def test_by_recording_splits_a_pooled_score_in_recording_order():
    pooled = TimelineScore(recording(10, 20).segments + recording(30, 40, 50).segments, 500.0)
    outs = [SimpleNamespace(recording=SimpleNamespace(segments=[0, 1])),
            SimpleNamespace(recording=SimpleNamespace(segments=[0, 1, 2]))]
    a, b = by_recording(pooled, outs)
    assert list(a.latencies_ms) == [10.0, 20.0] and list(b.latencies_ms) == [30.0, 40.0, 50.0]
    with pytest.raises(ValueError, match="5 gestures scored, the recordings hold 2"):
        by_recording(pooled, outs[:1])
