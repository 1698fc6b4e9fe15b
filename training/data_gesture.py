"""Labelled recordings: a folder of event files, each with ``<name>_labels.csv`` beside it.

The layout of the original IBM DVS Gesture release (``DvsGesture/``: jAER AEDAT
3.1 recordings ``user01_fluorescent.aedat`` ... each with
``user01_fluorescent_labels.csv``, plus ``trials_to_train.txt`` and
``trials_to_test.txt`` listing the official split), and of anything else laid out
the same way in any format the stream readers know (``.aedat``, ``.aedat4``,
``.npz``, ``.raw``, ``.dat``, ``.bin``, ``.csv`` ...): the ``train/`` and ``test/``
folders that :func:`~spikestream.streams.synthetic.recording.write_dataset` writes
open as such a dataset.

Each row of a labels file (``class,startTime_usec,endTime_usec``, class 1-based, see
:mod:`spikestream.streams.gestures`) becomes one segment :class:`Sample`
``<file>#<k>`` over ``[start, end)`` of its recording, with the 0-based label into
:data:`~spikestream.streams.gestures.GESTURE_CLASSES` (11 classes); its frames are
binned from ``t_start_us`` (see :mod:`.frames`).

``--data`` is the folder (every recording in it, sorted by name) or one of the
``trials_to_*.txt`` files (the recordings it lists, one name per line, relative to
its folder). A recording without its labels file, a labels file without rows, a
row whose span holds none of the recording's time (checked when the recording is
read), recordings of different sensors, a folder with no recordings: each is a
:class:`FormatError` naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..streams.errors import FormatError
from ..streams.formats import formats
from ..streams.gestures import GESTURE_CLASSES, labels_path_for, read_labels
from ..streams.open import open_source
from ..streams.source import LabelledSegment
from .datasets import Dataset, DatasetFormat, Sample

LABELS_SUFFIX = "_labels.csv"
TRIALS_PREFIX = "trials_to_"


def _suffixes() -> set[str]:
    return {s for f in formats() for s in f.suffixes}


def is_recording(path: Path) -> bool:
    """A file of a suffix the stream readers know, and not a labels file."""
    return (path.is_file() and path.suffix.lower() in _suffixes()
            and not path.name.endswith(LABELS_SUFFIX))


def is_gesture_layout(path: Path) -> bool:
    """A ``trials_to_*.txt``, or a folder holding ``*_labels.csv`` or recordings (or
    nothing at all, which :func:`open_gesture_dataset` reports as empty)."""
    p = Path(path)
    if p.is_file():
        return p.name.startswith(TRIALS_PREFIX) and p.suffix == ".txt"
    if not p.is_dir():
        return False
    entries = [f for f in p.iterdir() if not f.name.startswith(".")]
    return not entries or any(f.name.endswith(LABELS_SUFFIX) or is_recording(f)
                              for f in entries)


def _listed(trials: Path) -> list[Path]:
    out = []
    for n, line in enumerate(trials.read_text(encoding="utf-8").splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        f = trials.parent / name
        if not f.is_file():
            raise FormatError(trials, f"line {n}: {name}: no such recording beside it")
        out.append(f)
    if not out:
        raise FormatError(trials, "lists no recordings")
    return out


def open_gesture_dataset(path: Path) -> Dataset:
    """The labelled recordings of a folder or ``trials_to_*.txt`` (module docstring).

    Raises:
        FormatError: naming the file and the problem.
    """
    root = Path(path)
    if root.is_file():
        files = _listed(root)
        base = root.parent
    else:
        base = root
        if not any(not f.name.startswith(".") for f in root.iterdir()):
            raise FormatError(root, "empty folder: no recordings with <name>_labels.csv")
        files = sorted(f for f in root.iterdir() if is_recording(f))
        if not files:
            raise FormatError(root, "no recordings beside the _labels.csv files (known "
                                    f"suffixes: {', '.join(sorted(_suffixes()))})")
    sensor: tuple[int, int, int] | None = None
    first = files[0]
    samples: list[Sample] = []
    segments: dict[Path, tuple[Path, tuple[LabelledSegment, ...]]] = {}
    for f in files:
        labels = labels_path_for(f)
        if not labels.is_file():
            raise FormatError(f, f"a recording without labels: no {labels.name} beside it")
        segs = read_labels(labels)
        if not segs:
            raise FormatError(labels, "no labelled rows")
        with open_source(f) as src:
            size = tuple(int(v) for v in src.sensor_size)
        if sensor is None:
            sensor = size  # type: ignore[assignment]
        elif size != sensor:
            raise FormatError(f, f"sensor {size[0]}x{size[1]}x{size[2]}, but {first.name} is "
                                 f"{sensor[0]}x{sensor[1]}x{sensor[2]}")
        segments[f] = (labels, segs)
        rel = f.relative_to(base).as_posix()
        samples += [Sample(f"{rel}#{k}", s.label, f, s.t_start_us, s.t_end_us)
                    for k, s in enumerate(segs)]
    assert sensor is not None

    def read(p: Path) -> np.ndarray:
        with open_source(p) as src:
            ev = src.read_all()
        labels, segs = segments[p]
        check_segments(p, labels, segs, ev)
        return ev

    return Dataset(root, "gesture-recordings", sensor, GESTURE_CLASSES, tuple(samples), read)


def check_segments(recording: Path, labels: Path, segments: tuple[LabelledSegment, ...],
                   events: np.ndarray) -> None:
    """Raise :class:`FormatError` for a labelled row whose ``[start, end)`` µs does not
    overlap the recording's ``[first, last]`` event time."""
    if not len(events):
        raise FormatError(recording, f"holds no events, but {labels.name} labels "
                                     f"{len(segments)} gestures in it")
    t0, t1 = int(events["t"][0]), int(events["t"][-1])
    for k, s in enumerate(segments):
        if s.t_end_us <= t0 or s.t_start_us > t1:
            raise FormatError(labels, f"row {k + 1} ({s.name}, {s.t_start_us}..{s.t_end_us} "
                                      f"µs) lies outside the recording {recording.name} "
                                      f"({t0}..{t1} µs)")


LAYOUT = DatasetFormat("gesture-recordings", "a folder of recordings (any format) each with "
                       "<name>_labels.csv beside it (DVS Gesture), or its trials_to_*.txt",
                       is_gesture_layout, open_gesture_dataset)
