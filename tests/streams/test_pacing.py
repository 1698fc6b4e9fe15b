"""Pacing: release times on a fake clock, sub-chunking, gaps, lag; one real-time check."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.streams.events import concat, make_events
from spikestream.streams.pacing import pace, parse_speed


class FakeClock:
    """A monotonic clock that only moves when slept on (or when told to)."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        assert dt > 0
        self.sleeps.append(dt)
        self.now += dt


def events_at(t_us) -> np.ndarray:
    t = np.asarray(t_us, dtype=np.int64)
    n = len(t)
    return make_events(t, np.arange(n) % 128, np.arange(n) % 7, np.arange(n) % 2)


def released(chunks, speed, granularity_us=1000, consumer_delay_s=0.0):
    """Run the pacer on a fake clock; return (sub-chunks, release times, stats)."""
    clock = FakeClock()
    out, times = [], []
    paced = pace(chunks, speed, clock=clock, sleep=clock.sleep, granularity_us=granularity_us)
    for sub in paced:
        out.append(sub)
        times.append(clock.now)
        clock.now += consumer_delay_s
    return out, np.array(times), paced.stats, clock


def test_parse_speed():
    assert parse_speed("1") == 1.0
    assert parse_speed("2x") == 2.0
    assert parse_speed("0.5X") == 0.5
    assert parse_speed(" max ") is None
    assert parse_speed(None) is None
    assert parse_speed(3) == 3.0
    for bad in ("0", "-1", "fast", "nan", "inf", "", "x"):
        with pytest.raises(ValueError, match="speed"):
            parse_speed(bad)


def test_no_event_released_before_its_stream_time():
    t = np.arange(0, 50_000, 37) + 1_000_000  # 50 ms, absolute timestamps
    ev = events_at(t)
    chunks = [ev[i : i + 400] for i in range(0, len(ev), 400)]
    subs, times, stats, _ = released(chunks, speed=1.0)
    start = times[0] - (subs[0]["t"][-1] - t[0]) * 1e-6  # wall time of the first event
    for sub, when in zip(subs, times, strict=True):
        due = start + (sub["t"] - t[0]) * 1e-6
        assert (when >= due - 1e-12).all()
        # released as soon as its last event is due, not later (fake clock: no lag)
        assert when == pytest.approx(due[-1], abs=1e-9)
    assert stats.max_lag_us == pytest.approx(0.0, abs=1e-3)
    assert stats.events == len(ev)
    np.testing.assert_array_equal(concat(subs), ev)


def test_sub_chunks_span_at_most_the_granularity():
    ev = events_at(np.arange(0, 100_000, 3))
    subs, _, stats, _ = released([ev], speed=1.0, granularity_us=2000)
    assert len(subs) == 50
    for sub in subs:
        assert sub["t"][-1] - sub["t"][0] < 2000
    assert stats.chunks == 50


@pytest.mark.parametrize("speed, expected_s", [(1.0, 5.0), (2.0, 2.5), (0.5, 10.0)])
def test_total_time_scales_with_speed(speed, expected_s):
    ev = events_at(np.linspace(0, 5_000_000, 20_001).astype(np.int64))
    _, times, _, _ = released([ev[:7000], ev[7000:]], speed=speed)
    # the first sub-chunk (0..750 µs) leaves at 750 µs, the last at 5 s of stream time
    assert times[-1] - times[0] == pytest.approx(expected_s - 750e-6 / speed, abs=1e-6)


def test_gap_is_slept_through_in_one_sleep():
    ev = events_at([0, 10, 20, 3_000_000, 3_000_005])
    subs, times, _, clock = released([ev], speed=1.0)
    assert [len(s) for s in subs] == [3, 2]
    assert times[1] - times[0] == pytest.approx(3.000005 - 20e-6)
    assert max(clock.sleeps) == pytest.approx(3.000005 - 20e-6)


def test_max_speed_passes_chunks_through_without_sleeping():
    ev = events_at(np.arange(0, 10_000_000, 1000))
    chunks = [ev[:5000], ev[5000:5000], ev[5000:]]
    subs, times, stats, clock = released(chunks, speed=None)
    assert [len(s) for s in subs] == [5000, 5000]  # empty chunk skipped, nothing split
    assert clock.sleeps == []
    assert stats.events == len(ev)


def test_slow_consumer_makes_lag_and_nothing_is_dropped():
    ev = events_at(np.arange(0, 20_000, 10))  # 20 sub-chunks of 1 ms
    subs, times, stats, _ = released([ev], speed=1.0, consumer_delay_s=0.003)
    np.testing.assert_array_equal(concat(subs), ev)
    # each release is 3 ms after the previous: 2 ms more lag per sub-chunk
    assert stats.lag_us == pytest.approx(19 * 2000, rel=1e-6)
    assert stats.max_lag_us == pytest.approx(19 * 2000, rel=1e-6)
    assert stats.late_chunks == 19


def test_empty_input_and_bad_arguments():
    subs, _, stats, _ = released([], speed=1.0)
    assert subs == [] and stats.events == 0
    with pytest.raises(ValueError, match="speed"):
        pace([], 0.0)
    with pytest.raises(ValueError, match="granularity"):
        pace([], 1.0, granularity_us=0)


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 5000), min_size=1, max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=5),
    speed=st.sampled_from([0.5, 1.0, 3.0]),
    granularity=st.sampled_from([1, 250, 1000, 10_000]),
)
def test_any_chunking_releases_all_events_in_order_and_on_time(gaps, cuts, speed, granularity):
    t = np.cumsum(gaps) + 123_456
    ev = events_at(t)
    bounds = sorted({0, len(ev), *(c for c in cuts if c < len(ev))})
    chunks = [ev[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    subs, times, _, _ = released(chunks, speed=speed, granularity_us=granularity)
    np.testing.assert_array_equal(concat(subs), ev)
    start = times[0] - (subs[0]["t"][-1] - t[0]) * 1e-6 / speed
    for sub, when in zip(subs, times, strict=True):
        assert sub["t"][-1] - sub["t"][0] < granularity
        assert when >= start + (sub["t"][-1] - t[0]) * 1e-6 / speed - 1e-9


@pytest.mark.slow
def test_real_time_replay_of_5_s_takes_5_s_and_speed_2_halves_it():
    # 5 s of synthetic events, 10 per ms
    ev = events_at(np.arange(0, 5_000_001, 100))
    chunks = [ev[i : i + 65536] for i in range(0, len(ev), 65536)]
    durations = {}
    for speed in (1.0, 2.0):
        t_start = time.monotonic()
        n = sum(len(s) for s in pace(chunks, speed))
        durations[speed] = time.monotonic() - t_start
        assert n == len(ev)
    assert durations[1.0] == pytest.approx(5.0, rel=0.02)
    assert durations[2.0] == pytest.approx(2.5, rel=0.02)
