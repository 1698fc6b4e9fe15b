"""DVS128 Gesture class names and its ``_labels.csv`` files.

The IBM DVS Gesture recordings (Amir et al., CVPR 2017) come as
``userXX_<lighting>.aedat`` with ``userXX_<lighting>_labels.csv`` beside them:
a header ``class,startTime_usec,endTime_usec`` and one row per gesture, the
class 1-based (1 = hand clap ... 11 = other). In spikestream labels are 0-based.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import FormatError
from .source import LabelledSegment

GESTURE_CLASSES: tuple[str, ...] = (
    "hand clap",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter-clockwise",
    "left arm clockwise",
    "left arm counter-clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other",
)
"""The 11 DVS Gesture classes; index = 0-based label."""

LABELS_HEADER = ("class", "startTime_usec", "endTime_usec")


def labels_path_for(recording: str | os.PathLike[str]) -> Path:
    """``user01_natural.aedat`` -> ``user01_natural_labels.csv`` beside it."""
    p = Path(recording)
    return p.with_name(p.stem + "_labels.csv")


def read_labels(
    path: str | os.PathLike[str], class_names: tuple[str, ...] = GESTURE_CLASSES
) -> tuple[LabelledSegment, ...]:
    """Read a DVS Gesture ``_labels.csv`` into 0-based labelled segments.

    Raises:
        FormatError: wrong header, a non-integer field, a class outside
            ``1..len(class_names)``, or a segment that ends before it starts.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FormatError(p, "no such labels file") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != LABELS_HEADER:
        raise FormatError(p, f"expected header {','.join(LABELS_HEADER)}, got {rows[:1]}")
    segments = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise FormatError(p, f"line {line}: expected 3 fields, got {len(row)}: {row}")
        try:
            cls, start, end = (int(c) for c in row)
        except ValueError:
            raise FormatError(p, f"line {line}: fields must be integers: {row}") from None
        if not 1 <= cls <= len(class_names):
            raise FormatError(p, f"line {line}: class {cls} outside 1..{len(class_names)}")
        if end < start:
            raise FormatError(p, f"line {line}: segment ends ({end}) before it starts ({start})")
        segments.append(LabelledSegment(cls - 1, class_names[cls - 1], start, end))
    return tuple(segments)


def write_labels(path: str | os.PathLike[str], segments: Iterable[LabelledSegment]) -> Path:
    """Write segments as a DVS Gesture ``_labels.csv`` (classes written 1-based)."""
    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LABELS_HEADER)
        for s in segments:
            w.writerow((s.label + 1, s.t_start_us, s.t_end_us))
    return p
