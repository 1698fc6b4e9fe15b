"""Synthetic recordings on disk: ``.npz`` + DVS Gesture ``_labels.csv``
(streams/synthetic/recording.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from spikestream.streams import open_source
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.gestures import labels_path_for, read_labels
from spikestream.streams.synthetic import render_recording, write_dataset, write_recording
from spikestream.streams.synthetic.recording import TEST_SEED_OFFSET


def test_write_recording_writes_events_and_labels(tmp_path: Path) -> None:
    out = write_recording(
        tmp_path / "rec", "take1", 11, gestures=[3, 0], gesture_s=1.5, pause_s=0.4
    )
    assert out.events_path == tmp_path / "rec" / "take1.npz"
    assert (
        out.labels_path == labels_path_for(out.events_path) == tmp_path / "rec" / "take1_labels.csv"
    )
    with zipfile.ZipFile(out.events_path) as z:
        assert sorted(z.namelist()) == ["events.npy", "sensor_size.npy"]
    with np.load(out.events_path, allow_pickle=False) as data:
        events, size = data["events"], data["sensor_size"]
    assert events.dtype == EVENT_DTYPE and size.dtype == np.int64
    assert size.tolist() == [128, 128, 2]
    expected, segments = render_recording(11, gestures=[3, 0], gesture_s=1.5, pause_s=0.4)
    assert np.array_equal(events, expected)
    assert out.n_events == len(events) and out.segments == segments
    # the labels csv round-trips through the DVS Gesture reader
    assert read_labels(out.labels_path) == segments
    header = out.labels_path.read_text().splitlines()[0]
    assert header == "class,startTime_usec,endTime_usec"
    assert out.labels_path.read_text().splitlines()[1].startswith("4,")  # 1-based class


def test_written_recording_opens_as_a_source(tmp_path: Path) -> None:
    out = write_recording(tmp_path, "short", 12, duration_s=1.0)
    with open_source(out.events_path) as src:
        assert src.sensor_size == (128, 128, 2)
        ev = src.read_all()
    assert np.array_equal(ev, render_recording(12, duration_s=1.0)[0])


def test_write_dataset_splits_by_seed(tmp_path: Path) -> None:
    result = write_dataset(
        tmp_path / "ds", n_train=2, n_test=1, seed=5, n_gestures=2, gesture_s=1.0, pause_s=0.2
    )
    train, test = result["train"], result["test"]
    assert [r.seed for r in train] == [5, 6]
    assert [r.seed for r in test] == [5 + TEST_SEED_OFFSET]
    assert {r.seed for r in train}.isdisjoint({r.seed for r in test})
    assert sorted(p.name for p in (tmp_path / "ds" / "train").iterdir()) == [
        "synth_0000005.npz",
        "synth_0000005_labels.csv",
        "synth_0000006.npz",
        "synth_0000006_labels.csv",
    ]
    for r in train + test:
        assert len(r.segments) == 2 and read_labels(r.labels_path) == r.segments
        assert r.events_path.parent.name in ("train", "test")


@pytest.mark.parametrize("name", ["", "a/b", ".."])
def test_write_recording_refuses_odd_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        write_recording(tmp_path, name, 0, duration_s=1.0)
