"""Labelled recordings with ``_labels.csv`` (DVS Gesture's original layout, and the
synthetic gesture folders): segments, any reader format, trials files, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from spikestream.runtime.spec import InputSpec
from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.gestures import GESTURE_CLASSES, write_labels
from spikestream.streams.source import LabelledSegment
from spikestream.streams.synthetic.recording import write_dataset
from spikestream.streams.writers import save_events
from spikestream.training.data import Binning
from spikestream.training.datasets import cut, open_dataset
from spikestream.training.frames import load_frames

DT, T = 50_000, 20


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, n_train=2, n_test=1, seed=5, n_gestures=2, gesture_s=1.0, pause_s=0.2)
    return root


def write_aedat31(path: Path, x, y, p, t) -> Path:
    """A jAER AEDAT 3.1 DVS128 file with one polarity packet (type 1)."""
    head = "".join(ln + "\r\n" for ln in ("#!AER-DAT3.1", "#Format: RAW", "#Source 1: DVS128",
                                          "#!END-HEADER")).encode()
    x, y, p = (np.asarray(v, np.uint32) for v in (x, y, p))
    raw = np.zeros(len(x), dtype=[("data", "<u4"), ("t", "<i4")])
    raw["data"], raw["t"] = (x << 17) | (y << 2) | (p << 1) | 1, t
    packet = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, len(raw), len(raw), len(raw))
    path.write_bytes(head + packet + raw.tobytes())
    return path


def events(n: int, t0: int, t1: int, seed: int = 0, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(t0, t1, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(
        0, 2, n)
    return ev


def test_synthetic_train_folder_opens_as_gesture_segments(synth: Path) -> None:
    ds = open_dataset(synth / "train")
    assert ds.layout == "gesture-recordings" and ds.classes == GESTURE_CLASSES
    assert len(ds.classes) == 11 and ds.sensor_size == (128, 128, 2)
    assert [s.name for s in ds.samples] == ["synth_0000005.npz#0", "synth_0000005.npz#1",
                                            "synth_0000006.npz#0", "synth_0000006.npz#1"]
    s = ds.samples[1]
    assert s.t_start_us == 1_400_000 and s.t_end_us == 2_400_000
    assert len(open_dataset(synth / "test")) == 2
    binning = Binning(InputSpec((128, 128, 2), downsample=(4, 4)), DT, T)
    data = load_frames(ds, binning, cache=False)
    assert data.frames.shape == (4, T, 2, 32, 32)
    np.testing.assert_array_equal(data.labels, ds.labels)
    for k, (sample, ev) in enumerate(ds.iter_events()):
        assert ev["t"][0] >= sample.t_start_us and ev["t"][-1] < sample.t_end_us
        # a segment is binned from its own start: frame 0 holds its first 50 ms
        first = int(((ev["t"] >= sample.t_start_us) & (ev["t"] < sample.t_start_us + DT)).sum())
        assert data.frames[k, 0].sum() == first > 0
        assert data.n_events[k] == len(ev) and data.n_used[k] == data.frames[k].sum()
        np.testing.assert_array_equal(data.frames[k], binning.frames(ev, sample.t_start_us)[0])


def test_aedat31_recordings_with_labels_and_a_trials_file(tmp_path: Path) -> None:
    ev1, ev2 = events(3000, 1_000, 4_000_000, 1), events(2000, 500, 3_000_000, 2)
    write_aedat31(tmp_path / "user01_led.aedat", ev1["x"], ev1["y"], ev1["p"], ev1["t"])
    write_aedat31(tmp_path / "user02_led.aedat", ev2["x"], ev2["y"], ev2["p"], ev2["t"])
    write_labels(tmp_path / "user01_led_labels.csv",
                 [LabelledSegment(0, "hand clap", 100_000, 1_500_000),
                  LabelledSegment(10, "other", 2_000_000, 3_900_000)])
    write_labels(tmp_path / "user02_led_labels.csv",
                 [LabelledSegment(4, "right arm counter-clockwise", 0, 2_000_000)])
    (tmp_path / "trials_to_train.txt").write_text("user01_led.aedat\n\n")
    (tmp_path / "README.txt").write_text("not a recording")
    ds = open_dataset(tmp_path)
    assert ds.layout == "gesture-recordings" and ds.labels.tolist() == [0, 10, 4]
    got = ds.events(1)
    want = cut(ev1, 2_000_000, 3_900_000)
    np.testing.assert_array_equal(got[["t", "x", "y", "p"]], want[["t", "x", "y", "p"]])
    trials = open_dataset(tmp_path / "trials_to_train.txt")
    assert [s.name for s in trials.samples] == ["user01_led.aedat#0", "user01_led.aedat#1"]
    (tmp_path / "trials_to_test.txt").write_text("user09_led.aedat\n")
    with pytest.raises(FormatError, match=r"trials_to_test.txt: line 1: user09_led.aedat: no "):
        open_dataset(tmp_path / "trials_to_test.txt")


def test_bad_folders_name_the_file_and_the_problem(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormatError, match="empty: empty folder"):
        open_dataset(empty)
    bare = tmp_path / "bare"
    bare.mkdir()
    save_events(bare / "a.npz", events(100, 0, 1_000_000), (128, 128, 2))
    with pytest.raises(FormatError, match=r"a.npz: a recording without labels: no "
                                          r"a_labels.csv"):
        open_dataset(bare)
    write_labels(bare / "a_labels.csv", [LabelledSegment(1, "x", 2_000_000, 3_000_000)])
    ds = open_dataset(bare)  # the span is checked when the recording is read
    with pytest.raises(FormatError, match=r"a_labels.csv: row 1 .* lies outside the "
                                          r"recording a.npz \(\d+..\d+ µs\)"):
        load_frames(ds, Binning(InputSpec((128, 128, 2)), DT, T), cache=False)
    write_labels(bare / "a_labels.csv", [])
    with pytest.raises(FormatError, match="a_labels.csv: no labelled rows"):
        open_dataset(bare)
    write_labels(bare / "a_labels.csv", [LabelledSegment(1, "x", 0, 900_000)])
    save_events(bare / "b.npz", events(100, 0, 1_000_000, size=64), (64, 64, 2))
    write_labels(bare / "b_labels.csv", [LabelledSegment(1, "x", 0, 900_000)])
    with pytest.raises(FormatError, match="b.npz: sensor 64x64x2, but a.npz is 128x128x2"):
        open_dataset(bare)
    only_labels = tmp_path / "only"
    only_labels.mkdir()
    write_labels(only_labels / "a_labels.csv", [LabelledSegment(1, "x", 0, 900_000)])
    with pytest.raises(FormatError, match="no recordings beside"):
        open_dataset(only_labels)


def test_real_dvs_gesture_labels_file(shared_data: Path, tmp_path: Path) -> None:
    """The real ``user01_natural_labels.csv`` beside a recording spanning its times."""
    labels = shared_data / "dvsgesture-labels" / "user01_natural_labels.csv"
    save_events(tmp_path / "user01_natural.npz", events(20_000, 50_000_000, 180_000_000),
                (128, 128, 2))
    (tmp_path / "user01_natural_labels.csv").symlink_to(labels)
    ds = open_dataset(tmp_path)
    assert len(ds) == 12 and ds.labels.tolist() == [0, 1, 2, 4, 3, 5, 6, 7, 7, 8, 9, 10]
    assert ds.samples[0].t_start_us == 53_036_986 and ds.samples[-1].t_end_us == 177_991_967
    data = load_frames(ds, Binning(InputSpec((128, 128, 2), downsample=(8, 8)), 100_000, 10),
                       cache=False)
    assert data.frames.shape == (12, 10, 2, 16, 16) and (data.n_used > 0).all()
    assert (data.n_used < data.n_events).all()  # 1 s of each ~6 s gesture
