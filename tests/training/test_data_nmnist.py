"""N-MNIST training folders: loading, binning, limits, caching and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikestream.runtime.spec import InputSpec
from spikestream.streams.errors import FormatError
from spikestream.training.data import Binning
from spikestream.training.data_nmnist import (
    NMNIST_INPUT,
    is_nmnist_folder,
    load_nmnist,
    read_events,
)

BIN = Binning(NMNIST_INPUT, 10_000, 13)


def test_tiny_folder_loads_with_labels_and_frames(tiny_nmnist: Path) -> None:
    data = load_nmnist(tiny_nmnist, BIN, cache=False)
    assert len(data) == 36 and data.class_counts()[:3].tolist() == [12, 12, 12]
    assert data.frames.shape == (36, 13, 2, 34, 34) and data.frames.dtype == np.uint8
    assert data.names[0] == "0/1.bin" and data.labels[:3].tolist() == [0, 1, 2]
    for k in (0, 7):
        f, used = BIN.frames(read_events(tiny_nmnist / data.names[k]))
        np.testing.assert_array_equal(data.frames[k], f)
        assert data.n_used[k] == used == data.n_events[k]  # 130 ms cover the 120 ms
    # class 0 lives on the left third, class 1 on the right third
    left = data.frames[:, :, :, :, :11].sum(axis=(1, 2, 3, 4))
    right = data.frames[:, :, :, :, 23:].sum(axis=(1, 2, 3, 4))
    assert (left[data.labels == 0] > right[data.labels == 0]).all()
    assert (right[data.labels == 1] > left[data.labels == 1]).all()


def test_limit_and_cache(tiny_nmnist: Path) -> None:
    a = load_nmnist(tiny_nmnist, BIN, limit=5)
    assert len(a) == 5 and load_nmnist(tiny_nmnist, BIN, limit=5) is a
    assert load_nmnist(tiny_nmnist, BIN, limit=5, cache=False) is not a


def test_errors_name_the_folder(tmp_path: Path, tiny_nmnist: Path) -> None:
    assert is_nmnist_folder(tiny_nmnist) and not is_nmnist_folder(tmp_path)
    with pytest.raises(FormatError, match="labels"):
        load_nmnist(tmp_path, BIN)
    other = Binning(InputSpec(sensor_size=(128, 128, 2)), 1000, 2)
    with pytest.raises(FormatError, match="34x34"):
        load_nmnist(tiny_nmnist, other)
    (tmp_path / "labels.csv").write_text("file,label\n")
    with pytest.raises(FormatError, match="no recordings"):
        load_nmnist(tmp_path, BIN)


def test_real_digits(nmnist_dir: Path) -> None:
    data = load_nmnist(nmnist_dir, Binning(NMNIST_INPUT, 20_000, 16), limit=30, cache=False)
    assert len(data) == 30 and set(data.labels.tolist()) <= set(range(10))
    assert (data.n_used <= data.n_events).all() and (data.n_used > 1000).all()
    np.testing.assert_array_equal(data.frames.sum(axis=(1, 2, 3, 4)), data.n_used)
