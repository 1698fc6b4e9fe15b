"""N-MNIST for training: a folder of ``<label>/<id>.bin`` with ``labels.csv``.

The layout of ../shared/data/nmnist-1k (Orchard et al. 2015; the files are read by
:mod:`spikestream.streams.readers.nmnist`, the same reader a user's replay uses).
Each recording (~300 ms, three saccades) is binned into ``T`` frames of ``dt_us`` by
:func:`~.frames.load_frames` (cached in memory per process).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..runtime.spec import InputSpec
from ..streams.readers.nmnist import (
    LABELS_FILE,
    NMNIST_SENSOR_SIZE,
    open_nmnist,
    read_nmnist_folder,
)
from .data import Binning, FrameSet
from .datasets import Dataset, DatasetFormat, Sample
from .frames import load_frames

NMNIST_CLASSES = tuple(str(d) for d in range(10))
"""Class names: the digits."""

NMNIST_INPUT = InputSpec(sensor_size=NMNIST_SENSOR_SIZE, polarity="split", mode="count")
"""The default input stage: the full 34x34 ATIS crop, one channel per polarity."""

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
    """Read and bin every recording of an N-MNIST folder (:func:`~.frames.load_frames`
    of :func:`open_nmnist_dataset`).

    Args:
        root: folder with ``labels.csv`` (``file,label``) and the ``.bin`` files.
        binning: input stage, ``dt_us`` and ``T``; its sensor must be 34x34.
        limit: keep only the first ``limit`` recordings of the labels file.
        cache: reuse (and keep) the in-memory result for the same arguments.

    Raises:
        FormatError: a bad labels file or recording (naming it), or an input spec for
            another sensor.
    """
    return load_frames(open_nmnist_dataset(root), binning, limit, cache)


def open_nmnist_dataset(root: str | os.PathLike[str]) -> Dataset:
    """An N-MNIST folder as a :class:`~.datasets.Dataset` (one sample per ``.bin``)."""
    root = Path(root)
    samples = tuple(Sample(p.relative_to(root).as_posix(), label, p)
                    for p, label in read_nmnist_folder(root))
    return Dataset(root, "nmnist", NMNIST_SENSOR_SIZE, NMNIST_CLASSES, samples, read_events)


LAYOUT = DatasetFormat("nmnist", "a folder of <label>/<id>.bin N-MNIST files with labels.csv",
                       is_nmnist_folder, open_nmnist_dataset)
