"""load_frames: any Dataset binned, segments from their start, sensor check, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikestream.runtime.spec import InputSpec
from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE
from spikestream.training.data import Binning
from spikestream.training.datasets import Dataset, Sample
from spikestream.training.frames import load_frames


def memory_dataset(tmp_path: Path) -> Dataset:
    """One 8x8 recording with an event every 1 ms from t = 10,000 µs, and 3 samples:
    the whole recording and two segments of it."""
    ev = np.zeros(100, EVENT_DTYPE)
    ev["t"] = 10_000 + 1000 * np.arange(100)
    ev["x"], ev["y"] = np.arange(100) % 8, 3
    rec = tmp_path / "rec"
    samples = (Sample("rec", 0, rec), Sample("rec#0", 1, rec, 25_000, 45_000),
               Sample("rec#1", 1, rec, 60_500, 200_000))
    return Dataset(tmp_path, "memory", (8, 8, 2), ("a", "b"), samples, lambda p: ev)


def test_segments_are_binned_from_their_start(tmp_path: Path) -> None:
    ds = memory_dataset(tmp_path)
    binning = Binning(InputSpec((8, 8, 2), polarity="merge"), 10_000, 3)
    data = load_frames(ds, binning, cache=False)
    per_step = data.frames.sum(axis=(2, 3, 4))
    # whole recording: grid anchored at the first event's window (t = 10 ms)
    assert per_step[0].tolist() == [10, 10, 10] and data.n_events[0] == 100
    # [25 ms, 45 ms): 20 events, the grid from 25 ms: 10 + 10, nothing in step 3
    assert per_step[1].tolist() == [10, 10, 0] and data.n_events[1] == 20
    # from 60.5 ms: events at 61..90 ms in the 3 steps, the rest counted unused
    assert per_step[2].tolist() == [10, 10, 10] and data.n_events[2] == 49
    assert data.n_used.tolist() == [30, 20, 30]
    assert data.labels.tolist() == [0, 1, 1] and data.names == ["rec", "rec#0", "rec#1"]


def test_sensor_must_match_and_cache(tmp_path: Path) -> None:
    ds = memory_dataset(tmp_path)
    with pytest.raises(FormatError, match="memory recordings are 8x8, but the model input "
                                          "expects 34x34"):
        load_frames(ds, Binning(InputSpec((34, 34, 2)), 1000, 2))
    binning = Binning(InputSpec((8, 8, 2)), 1000, 2)
    a = load_frames(ds, binning, limit=2)
    assert len(a) == 2 and load_frames(ds, binning, limit=2) is a
    assert load_frames(ds, binning, limit=2, cache=False) is not a
    with pytest.raises(FormatError, match="no recordings to load"):
        load_frames(ds.limited(0), binning, cache=False)
