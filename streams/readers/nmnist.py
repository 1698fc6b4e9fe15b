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
from numba import njit

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import SNIFF_BYTES, FileFormat
from ..source import FileSource
from ._prophesee_header import check_sensor_size, read_up_to

NMNIST_SENSOR_SIZE = (34, 34, 2)
"""N-MNIST's ATIS crop, ``(width, height, polarities)``."""

RECORD_BYTES = 5
OVERFLOW_Y = 240
OVERFLOW_US = 1 << 13
LABELS_FILE = "labels.csv"


_OVERFLOW, _LAST_T, _N_MARKERS, _MAX_X, _MAX_Y = 0, 1, 2, 3, 4
_SMALL_FILE = 1 << 16
"""Files up to this size are read whole when opened (one read, no second open)."""


@njit(cache=True)
def decode_nmnist(raw, out, st):  # pragma: no cover - numba
    """Decode whole 5-byte records of ``raw`` (uint8) into ``out`` (EVENT_DTYPE).

    ``st`` (int64: overflow µs, last t, marker count) carries across calls; slots
    3 and 4 get the largest x and y of this call.
    Returns ``(n_events, first_bad_record)``, the latter -1 unless a timestamp
    goes back in time (decoding stops there).
    """
    n = 0
    overflow = st[_OVERFLOW]
    last = st[_LAST_T]
    bad = -1
    mx = my = 0
    for r in range(raw.shape[0] // RECORD_BYTES):
        b = r * RECORD_BYTES
        if raw[b + 1] == OVERFLOW_Y:
            overflow += OVERFLOW_US
            st[_N_MARKERS] += 1
            continue
        b2 = np.int64(raw[b + 2])
        tt = ((b2 & 0x7F) << 16) + (np.int64(raw[b + 3]) << 8) + raw[b + 4] + overflow
        if tt < last:
            bad = r
            break
        last = tt
        x = np.int64(raw[b])
        y = np.int64(raw[b + 1])
        mx = max(mx, x)
        my = max(my, y)
        e = out[n]
        e.t = tt
        e.x = x
        e.y = y
        e.p = b2 >> 7
        n += 1
    st[_OVERFLOW] = overflow
    st[_LAST_T] = last
    st[_MAX_X] = mx
    st[_MAX_Y] = my
    return n, bad


@njit(cache=True)
def _in_time_order(raw):  # pragma: no cover - numba
    """Whether the timestamps of the whole records of ``raw`` never go back."""
    overflow = 0
    last = 0
    for r in range(raw.shape[0] // RECORD_BYTES):
        b = r * RECORD_BYTES
        if raw[b + 1] == OVERFLOW_Y:
            overflow += OVERFLOW_US
            continue
        tt = ((np.int64(raw[b + 2]) & 0x7F) << 16) + (np.int64(raw[b + 3]) << 8) + raw[b + 4]
        if tt + overflow < last:
            return False
        last = tt + overflow
    return True


class NmnistSource(FileSource):
    """One N-MNIST (or N-Caltech101-style) ``.bin`` recording.

    Args:
        path: the file.
        sensor_size: ``(width, height[, polarities])``, default 34x34x2.
        chunk_events, out_of_range: see :class:`FileSource`.
    """

    _grows_its_chunks = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        sensor_size: tuple[int, ...] = NMNIST_SENSOR_SIZE,
        **kwargs,
    ) -> None:
        super().__init__(path, **kwargs)
        self.sensor_size = check_sensor_size(sensor_size)
        sniffed = self._sniffed_head()
        if sniffed is not None and len(sniffed[0]) == sniffed[1]:  # open_file read it all
            self._whole: bytes | None = sniffed[0]
            size = sniffed[1]
        else:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                size = os.fstat(fd).st_size
                self._whole = read_up_to(fd, size) if size <= _SMALL_FILE else None
            finally:
                os.close(fd)
        if size % RECORD_BYTES:
            raise FormatError(
                self.path,
                f"truncated: {size} bytes is not a whole number of {RECORD_BYTES}-byte events "
                f"({size % RECORD_BYTES} byte(s) left over at byte {size - size % RECORD_BYTES})",
            )

    def _chunks(self) -> Iterator[np.ndarray]:
        st = np.zeros(5, np.int64)
        markers = 0
        index = 0
        for raw in self._blocks():
            if raw.size < RECORD_BYTES:
                break
            ev = np.empty(raw.size // RECORD_BYTES, EVENT_DTYPE)
            n, bad = decode_nmnist(raw, ev, st)
            self.counters["time_overflow_markers"] += int(st[_N_MARKERS]) - markers
            markers = int(st[_N_MARKERS])
            if bad >= 0:
                i = index + bad
                b = raw[bad * RECORD_BYTES : (bad + 1) * RECORD_BYTES].astype(np.int64)
                t_bad = (((b[2] & 0x7F) << 16) | (b[3] << 8) | b[4]) + st[_OVERFLOW]
                raise FormatError(
                    self.path,
                    f"event {i} (byte {i * RECORD_BYTES}) goes back in time "
                    f"from {int(st[_LAST_T])} to {int(t_bad)} us",
                )
            index += raw.size // RECORD_BYTES
            if n < len(ev):
                ev.resize(n, refcheck=False)
            yield self._vetted(ev, st[_MAX_X], st[_MAX_Y], 1)

    def _blocks(self) -> Iterator[np.ndarray]:
        """The file's bytes (uint8), ``chunk_events`` records at a time."""
        if self._whole is not None:
            data = np.frombuffer(self._whole, np.uint8)
            nbytes = self.chunk_events * RECORD_BYTES
            for i in range(0, len(data), nbytes):
                yield data[i : i + nbytes]
            return
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            nbytes = min(self.chunk_events * RECORD_BYTES, max(os.fstat(fd).st_size, 1))
            while True:
                data = read_up_to(fd, nbytes)
                if data:
                    yield np.frombuffer(data, np.uint8)
                if len(data) < nbytes:
                    break
        finally:
            os.close(fd)


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
    return bool(_in_time_order(np.frombuffer(head, np.uint8, count=n * RECORD_BYTES)))


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
