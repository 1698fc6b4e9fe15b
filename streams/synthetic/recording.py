"""Write synthetic recordings to disk: events ``.npz`` plus a DVS Gesture labels csv.

A recording ``<dir>/<name>.npz`` holds keys ``events`` (:data:`EVENT_DTYPE`) and
``sensor_size`` (``int64[3]``), written by
:func:`~spikestream.streams.writers.save_events` (no pickles); beside it
``<name>_labels.csv`` in the DVS Gesture layout (``class,startTime_usec,
endTime_usec``, classes 1-based; see :mod:`spikestream.streams.gestures`).

:func:`write_dataset` writes a small train/test set: ``train/`` and ``test/``
folders whose recordings come from disjoint seeds, so a test recording never
shares a person, background or gesture parameters with a training one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..events import concat
from ..gestures import labels_path_for, write_labels
from ..source import LabelledSegment
from ..writers import save_events
from .render import DEFAULT_BLOCK_US, Recording

TEST_SEED_OFFSET = 1_000_000
"""Test recordings use seeds ``seed + TEST_SEED_OFFSET + i``; training ones ``seed + i``."""


def recording_name(seed: int) -> str:
    """The name of the recording rendered from ``seed``: ``synth_0000196``."""
    return f"synth_{seed:07d}"


@dataclass(frozen=True)
class WrittenRecording:
    """Paths and content summary of one written recording."""

    events_path: Path
    labels_path: Path
    seed: int
    n_events: int
    duration_us: int
    segments: tuple[LabelledSegment, ...]


def write_recording(
    directory: str | os.PathLike[str],
    name: str,
    seed: int,
    duration_s: float | None = None,
    **kwargs,
) -> WrittenRecording:
    """Render recording ``seed`` and write ``<name>.npz`` and ``<name>_labels.csv``.

    Args:
        directory: created if missing.
        name: file stem (no suffix, no path separators).
        seed: the recording seed.
        duration_s: length; None: as long as the gestures (``n_gestures``
            defaults to 3 then).
        **kwargs: :class:`~.render.Recording` arguments (``gestures``,
            ``classes``, ``n_gestures``, ``gesture_s``, ``pause_s``,
            ``sensor_size``, ``pixel``, ``pixel_overrides``).

    Returns:
        what was written.
    """
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    if duration_s is None and kwargs.get("gestures") is None and kwargs.get("n_gestures") is None:
        kwargs["n_gestures"] = 3
    rec = Recording(seed, duration_s, **kwargs)
    events = concat(list(rec.chunks(DEFAULT_BLOCK_US)))
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    events_path = save_events(out / f"{name}.npz", events, rec.sensor_size)
    segments = rec.segments()
    labels_path = write_labels(labels_path_for(events_path), segments)
    return WrittenRecording(events_path, labels_path, seed, len(events), int(rec.end_us), segments)


def write_dataset(
    directory: str | os.PathLike[str],
    n_train: int,
    n_test: int,
    seed: int = 0,
    n_gestures: int = 11,
    **kwargs,
) -> dict[str, list[WrittenRecording]]:
    """Write ``n_train`` + ``n_test`` recordings into ``train/`` and ``test/``.

    Each recording performs ``n_gestures`` gestures (by default each class once,
    in a seeded order) and is named :func:`recording_name` of its seed.

    Args:
        directory: the dataset root (created if missing).
        n_train, n_test: recordings per split.
        seed: first training seed; test seeds start at ``seed + TEST_SEED_OFFSET``.
        n_gestures: gestures per recording.
        **kwargs: more :func:`write_recording` arguments.

    Returns:
        ``{"train": [...], "test": [...]}``.
    """
    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be >= 0, got {n_train}, {n_test}")
    root = Path(directory)
    result: dict[str, list[WrittenRecording]] = {}
    for split, first, count in (
        ("train", seed, n_train),
        ("test", seed + TEST_SEED_OFFSET, n_test),
    ):
        result[split] = [
            write_recording(root / split, recording_name(s), s, n_gestures=n_gestures, **kwargs)
            for s in range(first, first + count)
        ]
    return result
