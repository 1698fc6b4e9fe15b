"""Labelled event datasets: what a training or evaluation run reads, whatever the layout.

A :class:`Dataset` is a list of labelled :class:`Sample` s over files on disk. A
sample is a whole recording (N-MNIST: one ``.bin`` per digit) or a labelled stretch
of one (DVS Gesture: an AEDAT 3.1 recording with its ``_labels.csv`` holds 11
gestures; a synthetic recording likewise). Events are always read by the stream
readers of :mod:`spikestream.streams` (the same code a user's replay runs), and a
sample's events keep the recording's timestamps (µs); ``t_start_us`` anchors the
sample's first window.

Layouts register a :class:`DatasetFormat` (like the file formats of
:mod:`spikestream.streams.formats`): :func:`open_dataset` asks each in turn
whether it recognises the path and opens it with the first that does, or raises a
:class:`~spikestream.streams.errors.FormatError` naming the path and the layouts
known. Layout modules live beside this one (``data_<layout>.py``) and are listed
in :data:`LAYOUTS`, imported on demand.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..streams.errors import FormatError

LAYOUTS: tuple[str, ...] = ("data_nmnist", "data_tonic_nmnist", "data_tonic_gesture",
                            "data_gesture")
"""Modules of ``spikestream.training`` that each define ``LAYOUT`` (a
:class:`DatasetFormat`), asked in this order."""


@dataclass(frozen=True)
class Sample:
    """One labelled sample.

    Attributes:
        name: unique within the dataset (the file relative to the root, plus
            ``#<k>`` for the ``k``-th segment of a recording).
        label: class index into :attr:`Dataset.classes`.
        path: the recording file.
        t_start_us, t_end_us: the labelled stretch of the recording, µs in the
            recording's own timestamps (end exclusive); None = the whole recording
            (the sample then starts at its first event).
    """

    name: str
    label: int
    path: Path
    t_start_us: int | None = None
    t_end_us: int | None = None


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset (see the module docstring).

    Attributes:
        root: the folder (or file) it was opened from.
        layout: the :class:`DatasetFormat` name.
        sensor_size: ``(width, height, polarities)`` of every recording.
        classes: class names, index = label.
        samples: in a deterministic order (the layout's own listing order).
        read: reads one recording file into ``(N,)`` EVENT_DTYPE, time-ordered.
    """

    root: Path
    layout: str
    sensor_size: tuple[int, int, int]
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    read: Callable[[Path], np.ndarray]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        """``(N,)`` int64 labels of the samples."""
        return np.array([s.label for s in self.samples], np.int64)

    def limited(self, limit: int | None) -> Dataset:
        """The first ``limit`` samples (all for None)."""
        if limit is None:
            return self
        return Dataset(self.root, self.layout, self.sensor_size, self.classes,
                       self.samples[:limit], self.read)

    def events(self, index: int) -> np.ndarray:
        """The events of sample ``index``, ``(N,)`` EVENT_DTYPE in recording time."""
        return next(self.iter_events([index]))[1]

    def iter_events(self, indices: Iterable[int] | None = None
                    ) -> Iterator[tuple[Sample, np.ndarray]]:
        """``(sample, events)`` for each index in order, reading each file once per
        run of consecutive samples from it (segments of one recording)."""
        order = range(len(self.samples)) if indices is None else indices
        cached_path: Path | None = None
        cached: np.ndarray | None = None
        for i in order:
            s = self.samples[int(i)]
            if s.path != cached_path:
                cached_path, cached = s.path, self.read(s.path)
            assert cached is not None
            yield s, cut(cached, s.t_start_us, s.t_end_us)


def cut(events: np.ndarray, t_start_us: int | None, t_end_us: int | None) -> np.ndarray:
    """Events with ``t_start_us <= t < t_end_us`` of a time-ordered array (None = open)."""
    lo = 0 if t_start_us is None else int(np.searchsorted(events["t"], t_start_us, "left"))
    hi = len(events) if t_end_us is None else int(np.searchsorted(events["t"], t_end_us,
                                                                    "left"))
    return events[lo:max(lo, hi)]


@dataclass(frozen=True)
class DatasetFormat:
    """A dataset layout.

    Attributes:
        name: short name (``"nmnist"``), recorded in a model's provenance.
        description: one line for error messages and ``--help``.
        detect: whether a path is laid out this way (cheap: looks at names only).
        open: opens it (raises :class:`FormatError` naming the bad file).
    """

    name: str
    description: str
    detect: Callable[[Path], bool]
    open: Callable[[Path], Dataset]


def dataset_formats() -> list[DatasetFormat]:
    """Every registered layout, in the order :func:`open_dataset` asks them."""
    return [importlib.import_module(f".{m}", __package__).LAYOUT for m in LAYOUTS]


def open_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Open a labelled dataset in any registered layout.

    Raises:
        FormatError: the path does not exist, or no layout recognises it (the
            message lists the layouts known), or the layout's own error.
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(p, "no such file or folder")
    formats = dataset_formats()
    for fmt in formats:
        if fmt.detect(p):
            return fmt.open(p)
    known = "; ".join(f"{f.name}: {f.description}" for f in formats)
    raise FormatError(p, f"not a labelled dataset in a layout spikestream knows ({known})")
