"""Synthetic recordings as streams: determinism, chunking, rates, labels, the URI
(streams/synthetic/render.py, timeline.py, source.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from spikestream.streams import open_source
from spikestream.streams.errors import SourceError
from spikestream.streams.events import EVENT_DTYPE, concat
from spikestream.streams.gestures import GESTURE_CLASSES
from spikestream.streams.synthetic import (
    PixelConfig,
    Recording,
    SyntheticSource,
    open_synthetic,
    render_recording,
)


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, sa = render_recording(4, duration_s=2.0)
    b, sb = render_recording(4, duration_s=2.0)
    c, _ = render_recording(5, duration_s=2.0)
    assert len(a) > 10_000
    assert np.array_equal(a, b) and sa == sb
    assert not np.array_equal(a[: min(len(a), len(c))], c[: min(len(a), len(c))])


def test_events_are_sorted_inside_the_sensor_and_before_the_end() -> None:
    for size in ((128, 128, 2), (64, 48, 2)):
        ev, _ = render_recording(1, duration_s=2.5, sensor_size=size)
        assert ev.dtype == EVENT_DTYPE
        assert np.all(np.diff(ev["t"]) >= 0)
        assert ev["t"].min() >= 0 and ev["t"].max() < 2_500_000
        assert ev["x"].min() >= 0 and ev["x"].max() < size[0]
        assert ev["y"].min() >= 0 and ev["y"].max() < size[1]
        assert set(np.unique(ev["p"]).tolist()) == {0, 1}


def test_any_block_size_gives_the_same_events() -> None:
    streams = []
    for block_us in (1_000, 7_000, 20_000, 1_000_000):
        src = SyntheticSource(2, duration_s=2.5, block_us=block_us)
        chunks = list(src)
        assert all(np.ptp(c["t"]) < block_us for c in chunks)
        streams.append(concat(chunks))
    assert len(streams[0]) > 10_000
    for s in streams[1:]:
        assert np.array_equal(s, streams[0])


def test_refractory_period_holds_per_pixel_in_a_recording() -> None:
    pixel = PixelConfig(thr_on=0.15, thr_off=0.15, refractory_us=700, ba_rate_hz=0.3)
    ev, _ = render_recording(3, gestures=[8], gesture_s=2.0, pause_s=0.3, pixel=pixel)
    pix = ev["y"].astype(np.int64) * 128 + ev["x"]
    order = np.lexsort((ev["t"], pix))
    same = np.diff(pix[order]) == 0
    gaps = np.diff(ev["t"][order])[same]
    assert len(gaps) > 10_000
    assert gaps.min() >= 700


def test_gestures_fire_at_dvs128_rates_and_pauses_only_noise() -> None:
    pixel = PixelConfig(
        thr_on=0.15,
        thr_off=0.15,
        ba_rate_hz=0.2,
        n_hot_pixels=2,
        hot_rate_hz=100.0,
        refractory_us=300,
    )
    ev, segs = render_recording(6, gestures=[3, 8, 0], gesture_s=2.0, pause_s=0.6, pixel=pixel)
    assert [s.label for s in segs] == [3, 8, 0]
    t = ev["t"]
    rates = [
        np.count_nonzero((t >= s.t_start_us) & (t < s.t_end_us))
        / ((s.t_end_us - s.t_start_us) / 1e3)
        for s in segs
    ]
    # busy DVS128 recordings of hands (shared/BENCHMARKING.md) run 30-65 events/ms
    assert 20 < np.mean(rates) < 100, rates
    assert min(rates) > 8, rates
    # between gestures the person stands still: the events are the noise alone
    bounds = [0] + [b for s in segs for b in (s.t_start_us, s.t_end_us)] + [int(t[-1]) + 1]
    pause_us = sum(b - a for a, b in zip(bounds[::2], bounds[1::2], strict=True))
    in_pause = sum(
        np.count_nonzero((t >= a) & (t < b)) for a, b in zip(bounds[::2], bounds[1::2], strict=True)
    )
    expected = (0.2 * 128 * 128 + 2 * 100.0) * pause_us * 1e-6
    assert in_pause == pytest.approx(expected, rel=0.1)
    assert in_pause / (pause_us / 1e3) < 0.2 * min(rates)


def test_finite_source_carries_labels_and_starts_again() -> None:
    src = SyntheticSource(7, gestures=[1, 2], gesture_s=1.5, pause_s=0.4)
    assert src.live is False
    assert src.duration_us is not None
    assert [s.label for s in src.labels] == [1, 2]
    assert [s.name for s in src.labels] == [GESTURE_CLASSES[1], GESTURE_CLASSES[2]]
    first = src.read_all()
    again = src.read_all()
    assert np.array_equal(first, again)
    assert src.counters["events"] == 2 * len(first)
    assert first["t"][-1] < src.duration_us
    ev, segs = render_recording(7, gestures=[1, 2], gesture_s=1.5, pause_s=0.4)
    assert np.array_equal(ev, first) and segs == src.labels


def test_unbounded_source_exposes_the_gestures_so_far() -> None:
    src = SyntheticSource(8, block_us=50_000)
    assert src.duration_us is None and src.labels == ()
    it = iter(src)
    seen = []
    for _ in range(100):  # 5 s
        seen.append(next(it))
        assert seen[-1]["t"][0] >= 50_000 * (len(seen) - 1)
    so_far = src.segments_so_far
    assert len(so_far) >= 1
    assert all(s.t_start_us < 5_000_000 for s in so_far)
    assert all(0 <= s.label < 11 for s in so_far)
    src.close()
    # the unbounded stream is the prefix-equal twin of a finite one with the same seed
    finite = concat(list(SyntheticSource(8, duration_s=2.0)))
    endless = concat(seen)
    assert np.array_equal(endless[endless["t"] < 2_000_000], finite)


def test_classes_come_in_shuffled_rounds() -> None:
    rec = Recording(9, classes=[0, 1, 2], n_gestures=9, gesture_s=1.0, pause_s=0.1)
    labels = [s.label for s in rec.segments()]
    for r in range(3):
        assert sorted(labels[3 * r : 3 * r + 3]) == [0, 1, 2]
    assert labels[:3] != labels[3:6] or labels[3:6] != labels[6:9]


def test_duration_cuts_the_schedule_of_the_unbounded_stream() -> None:
    rec = Recording(10, duration_s=7.0, gesture_s=(3.0, 4.0), pause_s=0.5)
    segs = rec.segments()
    assert len(segs) == 2 and segs[-1].t_end_us == 7_000_000
    assert segs[0].t_end_us < segs[1].t_start_us
    endless = Recording(10, gesture_s=(3.0, 4.0), pause_s=0.5).segments(7_000_000)
    assert segs[0] == endless[0] and endless[1].t_end_us > 7_000_000
    assert (segs[1].label, segs[1].t_start_us) == (endless[1].label, endless[1].t_start_us)


def test_open_source_parses_the_uri() -> None:
    src = open_source("synthetic://gesture?seed=3&duration_s=4&classes=0,1,2&threshold=0.2")
    assert isinstance(src, SyntheticSource)
    assert src.name == "synthetic://gesture?seed=3&duration_s=4&classes=0,1,2&threshold=0.2"
    assert src.recording.seed == 3 and src.duration_us == 4_000_000
    assert src.recording.timeline.classes == (0, 1, 2)
    assert src.recording.pixel.thr_on == src.recording.pixel.thr_off == 0.2
    assert src.sensor_size == (128, 128, 2)
    src = open_synthetic(
        "synthetic://gesture?gestures=hand clap,air-drums&gesture_s=1.5,2&pause_s=0.3"
        "&width=64&height=48&block_ms=5&hot_pixels=0&ba_rate_hz=0.1&refractory_us=250",
        seed=4,
    )
    assert src.recording.timeline.gestures == (0, 8)
    assert src.recording.timeline.gesture_s == (1.5, 2.0)
    assert src.sensor_size == (64, 48, 2) and src.block_us == 5000
    assert src.recording.pixel.n_hot_pixels == 0 and src.recording.pixel.refractory_us == 250
    assert src.recording.seed == 4
    assert open_synthetic("synthetic://").recording.seed == 0


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("synthetic://gesture?sed=3", "unknown key 'sed'; valid keys: ba_rate_hz, block_ms"),
        ("synthetic://cars?seed=1", "unknown synthetic scene 'cars'; known: gesture"),
        ("synthetic://gesture?seed=x", "bad value for seed"),
        ("synthetic://gesture?seed=1&seed=2", "given twice"),
        ("synthetic://gesture?seed=-1", "non-negative"),
        ("synthetic://gesture?classes=11", "0..10"),
        ("synthetic://gesture?classes=jazz hands", "neither a class index"),
        ("synthetic://gesture?duration_s=-2", ">= 0"),
        ("synthetic://gesture?duration_s=0", "duration_s must be > 0"),
        ("synthetic://gesture?gesture_s=1,2,3", "low,high"),
        ("synthetic://gesture?threshold=0", "thresholds"),
        ("synthetic://gesture?block_ms=0", "block_us"),
        ("synthetic://gesture?width=8", "sensor_size"),
    ],
)
def test_bad_uris_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=re.escape(message)):
        open_source(uri)
