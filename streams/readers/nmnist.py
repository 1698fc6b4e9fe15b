"""N-MNIST ``.bin`` files (Orchard et al. 2015) and labelled N-MNIST folders.

Each event is 5 bytes: ``x`` (uint8), ``y`` (uint8), then 24 big-endian bits whose
top bit is the polarity and whose low 23 bits are the timestamp in µs. The ATIS
crop is 34x34. As in the dataset's reference reader (and tonic), a record with
``y == 240`` is a timestamp-overflow marker, not an event: it adds 2**13 µs to
every later timestamp; such markers are counted in
``counters["time_overflow_markers"]``. A timestamp that goes back in time is a
:class:`FormatError` (the dataset's timestamps never do).

The format has no magic bytes: it is recognised by the ``.bin`` suffix, a size
that is a multiple of 5 and non-decreasing timestamps in the first records.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import SNIFF_BYTES, FileFormat
from ..source import FileSource
from ._prophesee_header import check_sensor_size

NMNIST_SENSOR_SIZE = (34, 34, 2)
"""N-MNIST's ATIS crop, ``(width, height, polarities)``."""

RECORD_BYTES = 5
OVERFLOW_Y = 240
OVERFLOW_US = 1 << 13
LABELS_FILE = "labels.csv"


def _decode(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(N, 5)`` uint8 records into ``x, y, p, t_us`` (t without overflows)."""
    b2 = raw[:, 2].astype(np.int64)
    t = ((b2 & 0x7F) << 16) | (raw[:, 3].astype(np.int64) << 8) | raw[:, 4]
    return raw[:, 0], raw[:, 1], b2 >> 7, t


class NmnistSource(FileSource):
    """One N-MNIST (or N-Caltech101-style) ``.bin`` recording.

    Args:
        path: the file.
        sensor_size: ``(width, height[, polarities])``, default 34x34x2.
        chunk_events, out_of_range: see :class:`FileSource`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sensor_size: tuple[int, ...] = NMNIST_SENSOR_SIZE,
        **kwargs,
    ) -> None:
        super().__init__(path, **kwargs)
        self.sensor_size = check_sensor_size(sensor_size)
        size = self.path.stat().st_size
        if size % RECORD_BYTES:
            raise FormatError(
                self.path,
                f"truncated: {size} bytes is not a whole number of {RECORD_BYTES}-byte events "
                f"({size % RECORD_BYTES} byte(s) left over at byte {size - size % RECORD_BYTES})",
            )

    def _chunks(self) -> Iterator[np.ndarray]:
        overflow = 0
        last_t = 0
        index = 0
        with open(self.path, "rb") as f:
            while True:
                raw = f.read(self.chunk_events * RECORD_BYTES)
                n = len(raw) // RECORD_BYTES
                if n == 0:
                    break
                rec = np.frombuffer(raw, np.uint8, count=n * RECORD_BYTES).reshape(n, RECORD_BYTES)
                x, y, p, t = _decode(rec)
                marker = y == OVERFLOW_Y
                t = t + overflow + OVERFLOW_US * np.cumsum(marker)
                overflow += OVERFLOW_US * int(np.count_nonzero(marker))
                self.counters["time_overflow_markers"] += int(np.count_nonzero(marker))
                keep = ~marker
                t = t[keep]
                back = np.flatnonzero(np.diff(t, prepend=last_t) < 0)
                if back.size:
                    i = int(np.flatnonzero(keep)[back[0]])
                    prev = int(t[back[0] - 1]) if back[0] else last_t
                    raise FormatError(
                        self.path,
                        f"event {index + i} (byte {(index + i) * RECORD_BYTES}) goes back in time "
                        f"from {prev} to {int(t[back[0]])} us",
                    )
                if t.size:
                    last_t = int(t[-1])
                ev = np.empty(t.size, EVENT_DTYPE)
                ev["t"] = t
                ev["x"] = x[keep]
                ev["y"] = y[keep]
                ev["p"] = p[keep]
                index += n
                yield ev


def read_nmnist_folder(root: str | os.PathLike[str]) -> list[tuple[Path, int]]:
    """The labelled recordings of an N-MNIST folder.

    ``root/labels.csv`` has a header ``file,label`` and one row per recording,
    ``file`` relative to ``root`` (``5/1.bin``) and ``label`` a digit 0-9. When the
    file sits in a folder named after a digit, that digit must be the label.

    Returns:
        ``[(path, label), ...]`` in the order of the labels file.

    Raises:
        FormatError: no labels file, a wrong header, a malformed row, a label
            outside 0-9 or disagreeing with its folder, a duplicate or a missing file.
    """
    root = Path(root)
    labels = root / LABELS_FILE
    try:
        text = labels.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FormatError(labels, "no labels file (expected a 'file,label' CSV)") from None
    except UnicodeDecodeError as e:
        raise FormatError(labels, f"not a text file ({e.reason} at byte {e.start})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["file", "label"]:
        raise FormatError(
            labels, f"expected header 'file,label', got {','.join(rows[0]) if rows else 'nothing'}"
        )
    out: list[tuple[Path, int]] = []
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise FormatError(labels, f"line {line}: expected 2 fields 'file,label', got {row}")
        name, label_text = row[0].strip(), row[1].strip()
        try:
            label = int(label_text)
        except ValueError:
            raise FormatError(
                labels, f"line {line}: label {label_text!r} is not an integer"
            ) from None
        if not 0 <= label <= 9:
            raise FormatError(labels, f"line {line}: label {label} is not a digit 0-9")
        path = root / name
        if path.parent.name.isdigit() and int(path.parent.name) != label:
            raise FormatError(
                labels, f"line {line}: {name} is in folder {path.parent.name} but labelled {label}"
            )
        if name in seen:
            raise FormatError(labels, f"line {line}: {name} is listed twice")
        if not path.is_file():
            raise FormatError(labels, f"line {line}: {name} does not exist")
        seen.add(name)
        out.append((path, label))
    return out


def _sniff(head: bytes, suffix: str) -> bool:
    if suffix != ".bin":
        return False
    if len(head) < SNIFF_BYTES and len(head) % RECORD_BYTES:
        return False
    n = len(head) // RECORD_BYTES
    if n == 0:
        return False
    rec = np.frombuffer(head, np.uint8, count=n * RECORD_BYTES).reshape(n, RECORD_BYTES)
    _, y, _, t = _decode(rec)
    t = t[y != OVERFLOW_Y]
    return bool(np.all(np.diff(t) >= 0))


def open_nmnist(path: str | os.PathLike[str], **kwargs) -> NmnistSource:
    """Open an N-MNIST ``.bin`` file; see :class:`NmnistSource`."""
    return NmnistSource(Path(path), **kwargs)


FORMAT = FileFormat(
    name="nmnist",
    description="N-MNIST .bin, 5 bytes per event, 34x34 (no magic: .bin suffix and content)",
    suffixes=(".bin",),
    sniff=_sniff,
    open=open_nmnist,
)
