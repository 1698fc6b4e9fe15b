"""tonic's extracted layouts: N-MNIST ``Train``/``Test`` and DVS Gesture
``ibmGestureTrain``/``ibmGestureTest``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikestream.streams.errors import FormatError
from spikestream.streams.gestures import GESTURE_CLASSES
from spikestream.training.data import Binning
from spikestream.training.data_nmnist import NMNIST_INPUT, load_nmnist, read_events
from spikestream.training.datasets import open_dataset
from spikestream.training.frames import load_frames


def tonic_nmnist(root: Path, digits_from: Path) -> Path:
    """``root/NMNIST/{Train,Test}/<digit>/`` linking the digit folders of an N-MNIST
    folder (Train) and the first of them (Test); returns ``root/NMNIST``."""
    base = root / "NMNIST"
    for split in ("Train", "Test"):
        (base / split).mkdir(parents=True)
    for d in sorted(p for p in digits_from.iterdir() if p.is_dir()):
        (base / "Train" / d.name).symlink_to(d.resolve())
    first = sorted(p for p in digits_from.iterdir() if p.is_dir())[0]
    (base / "Test" / first.name).symlink_to(first.resolve())
    return base


def test_tonic_nmnist_train_folder(tiny_nmnist: Path, tmp_path: Path) -> None:
    base = tonic_nmnist(tmp_path, tiny_nmnist)
    ds = open_dataset(base / "Train")
    assert ds.layout == "tonic-nmnist" and ds.sensor_size == (34, 34, 2) and len(ds) == 36
    # tonic's order: digit folders in order, files sorted by name; label = folder
    names = [s.name for s in ds.samples]
    assert names[:3] == ["0/1.bin", "0/10.bin", "0/13.bin"]
    assert all(s.label == int(s.name[0]) for s in ds.samples)
    assert ds.labels.tolist() == sorted(ds.labels.tolist())
    binning = Binning(NMNIST_INPUT, 10_000, 13)
    data = load_frames(ds, binning, cache=False)
    ref = load_nmnist(tiny_nmnist, binning, cache=False)
    for k in (0, 17, 35):
        j = ref.names.index(data.names[k])
        np.testing.assert_array_equal(data.frames[k], ref.frames[j])
        assert data.labels[k] == ref.labels[j]
    assert len(open_dataset(base / "Test")) == 12
    with pytest.raises(FormatError, match="NMNIST: holds tonic's N-MNIST Train and Test "
                                          "folders: point --data at one of them"):
        open_dataset(base)


def test_tonic_nmnist_without_recordings(tmp_path: Path) -> None:
    (tmp_path / "Train" / "3").mkdir(parents=True)
    with pytest.raises(FormatError, match="Train: no <digit>/<id>.bin recordings"):
        open_dataset(tmp_path / "Train")


def test_real_nmnist_in_tonic_layout(nmnist_dir: Path, tmp_path: Path) -> None:
    ds = open_dataset(tonic_nmnist(tmp_path, nmnist_dir) / "Train")
    ref = open_dataset(nmnist_dir)
    assert ref.layout == "nmnist" and len(ds) == len(ref) == 1000
    assert ({(s.name, s.label) for s in ds.samples}
            == {(s.path.relative_to(nmnist_dir).as_posix(), s.label) for s in ref.samples})
    k = next(i for i, s in enumerate(ref.samples) if s.name == ds.samples[5].name)
    np.testing.assert_array_equal(ds.events(5), ref.events(k))


def gesture_npy(path: Path, n: int, seed: int, t_float: bool = False) -> np.ndarray:
    """tonic's ``(n, 4)`` ``x, y, p, t_ms`` gesture sample; returns the array."""
    rng = np.random.default_rng(seed)
    a = np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                  np.sort(rng.integers(0, 6000, n))], axis=1)
    a = a.astype(np.float64 if t_float else np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, a)
    return a


def test_tonic_gesture_folder(tmp_path: Path) -> None:
    train = tmp_path / "DVSGesture" / "ibmGestureTrain"
    arrays = {
        "user01_fluorescent/0.npy": gesture_npy(train / "user01_fluorescent" / "0.npy", 300, 1),
        "user01_fluorescent/10.npy": gesture_npy(train / "user01_fluorescent" / "10.npy", 200,
                                                 2, t_float=True),
        "user01_fluorescent/3.npy": gesture_npy(train / "user01_fluorescent" / "3.npy", 100, 3),
        "user02_led/5.npy": gesture_npy(train / "user02_led" / "5.npy", 50, 4),
    }
    (tmp_path / "DVSGesture" / "ibmGestureTest").mkdir()
    ds = open_dataset(train)
    assert ds.layout == "tonic-dvsgesture" and ds.classes == GESTURE_CLASSES
    assert ds.sensor_size == (128, 128, 2)
    assert [s.name for s in ds.samples] == ["user01_fluorescent/0.npy",
                                            "user01_fluorescent/3.npy",
                                            "user01_fluorescent/10.npy", "user02_led/5.npy"]
    assert ds.labels.tolist() == [0, 3, 10, 5]  # tonic: 0-based, int(file stem)
    for k, s in enumerate(ds.samples):
        a, ev = arrays[s.name], ds.events(k)
        # tonic's own decoding: columns x, y, p, t with t in ms (x 1000 -> µs)
        np.testing.assert_array_equal(ev["t"], a[:, 3].astype(np.int64) * 1000)
        np.testing.assert_array_equal(ev["x"], a[:, 0])
        np.testing.assert_array_equal(ev["p"], a[:, 2])
        assert s.t_start_us is None
    with pytest.raises(FormatError, match="DVSGesture: holds tonic's DVS Gesture "
                                          "ibmGestureTrain and ibmGestureTest folders"):
        open_dataset(tmp_path / "DVSGesture")
    gesture_npy(train / "user02_led" / "11.npy", 5, 0)
    with pytest.raises(FormatError, match=r"11.npy: tonic names each gesture <class>.npy "
                                          r"with a 0-based class 0..10"):
        open_dataset(train)


def test_tonic_gesture_empty_split(tmp_path: Path) -> None:
    (tmp_path / "ibmGestureTest" / "user24_led").mkdir(parents=True)
    with pytest.raises(FormatError, match="ibmGestureTest: no <user>_<lighting>/<class>.npy"):
        open_dataset(tmp_path / "ibmGestureTest")


def test_read_events_is_the_nmnist_reader(tiny_nmnist: Path) -> None:
    ds = open_dataset(tiny_nmnist)
    np.testing.assert_array_equal(ds.events(0), read_events(tiny_nmnist / "0" / "1.bin"))
