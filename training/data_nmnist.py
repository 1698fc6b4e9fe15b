"""N-MNIST for training: a folder of ``<label>/<id>.bin`` with ``labels.csv``.

The layout of ../shared/data/nmnist-1k (Orchard et al. 2015; the files are read by
:mod:`spikestream.streams.readers.nmnist`, the same reader a user's replay uses).
Each recording (~300 ms, three saccades) is binned into ``T`` frames of ``dt_us`` by
:class:`~.data.Binning`. Loaded sets are cached in memory per process, keyed by the
folder and the binning, so a loop that evaluates the same folder twice reads it once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..runtime.spec import InputSpec
from ..streams.errors import FormatError
from ..streams.readers.nmnist import (
    LABELS_FILE,
    NMNIST_SENSOR_SIZE,
    open_nmnist,
    read_nmnist_folder,
)
from .data import Binning, FrameSet, pack_frames
from .datasets import Dataset, DatasetFormat, Sample

NMNIST_CLASSES = tuple(str(d) for d in range(10))
"""Class names: the digits."""

NMNIST_INPUT = InputSpec(sensor_size=NMNIST_SENSOR_SIZE, polarity="split", mode="count")
"""The default input stage: the full 34x34 ATIS crop, one channel per polarity."""

_CACHE: dict[tuple[str, Binning, int | None], FrameSet] = {}


def is_nmnist_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder with an N-MNIST ``labels.csv``."""
    p = Path(path)
    return p.is_dir() and (p / LABELS_FILE).is_file()


def read_events(path: str | os.PathLike[str]) -> np.ndarray:
    """All events of one ``.bin`` recording, ``(N,)`` EVENT_DTYPE, time-ordered."""
    with open_nmnist(path) as src:
        return src.read_all()


def load_nmnist(
    root: str | os.PathLike[str],
    binning: Binning,
    limit: int | None = None,
    cache: bool = True,
) -> FrameSet:
    """Read and bin every recording of an N-MNIST folder.

    Args:
        root: folder with ``labels.csv`` (``file,label``) and the ``.bin`` files.
        binning: input stage, ``dt_us`` and ``T``; its sensor must be 34x34.
        limit: keep only the first ``limit`` recordings of the labels file.
        cache: reuse (and keep) the in-memory result for the same arguments.

    Raises:
        FormatError: a bad labels file or recording (naming it), or an input spec for
            another sensor.
    """
    root = Path(root)
    key = (str(root.resolve()), binning, limit)
    if cache and key in _CACHE:
        return _CACHE[key]
    if tuple(binning.input.sensor_size[:2]) != NMNIST_SENSOR_SIZE[:2]:
        w, h = binning.input.sensor_size[:2]
        raise FormatError(root, f"N-MNIST recordings are 34x34, but the model input expects "
                                f"{w}x{h}")
    items = read_nmnist_folder(root)
    if limit is not None:
        items = items[:limit]
    if not items:
        raise FormatError(root / LABELS_FILE, "lists no recordings")
    frames, n_events, n_used = [], [], []
    for path, _ in items:
        ev = read_events(path)
        f, used = binning.frames(ev)
        frames.append(f)
        n_events.append(len(ev))
        n_used.append(used)
    data = FrameSet(
        frames=pack_frames(frames),
        labels=np.array([label for _, label in items], np.int64),
        classes=NMNIST_CLASSES,
        binning=binning,
        names=[p.relative_to(root).as_posix() for p, _ in items],
        n_events=np.array(n_events, np.int64),
        n_used=np.array(n_used, np.int64),
        source=str(root),
    )
    if cache:
        _CACHE[key] = data
    return data


def open_nmnist_dataset(root: str | os.PathLike[str]) -> Dataset:
    """An N-MNIST folder as a :class:`~.datasets.Dataset` (one sample per ``.bin``)."""
    root = Path(root)
    samples = tuple(Sample(p.relative_to(root).as_posix(), label, p)
                    for p, label in read_nmnist_folder(root))
    return Dataset(root, "nmnist", NMNIST_SENSOR_SIZE, NMNIST_CLASSES, samples, read_events)


LAYOUT = DatasetFormat("nmnist", "a folder of <label>/<id>.bin N-MNIST files with labels.csv",
                       is_nmnist_folder, open_nmnist_dataset)
