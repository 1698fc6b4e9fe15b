"""Pieces the AEDAT readers share: chunking with a time-order check, the
``#``-line text header of AEDAT 2.0 / 3.1, and DVS Gesture labels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..gestures import labels_path_for, read_labels
from ..source import LabelledSegment

MAX_TEXT_HEADER_BYTES = 16 << 20
"""A text header longer than this is taken as a corrupt file."""


class EventBatcher:
    """Gathers decoded pieces into chunks of exactly ``chunk_events`` events
    (the last one shorter) and checks that time never goes back.

    A piece is an :data:`EVENT_DTYPE` array or a strided view of one into a
    packet's buffer (see :func:`event_view`): each chunk is filled by one copy
    per piece into a fresh contiguous array, so a packet costs a list append
    and an event one memcpy of its 13 bytes.

    Args:
        chunk_events: events per chunk.
        name: the file, for errors.
    """

    def __init__(self, chunk_events: int, name: str) -> None:
        self.chunk_events = chunk_events
        self.name = name
        self._pieces: list[np.ndarray] = []
        self._wheres: list[int] = []
        self._pending = 0
        self._last_t: int | None = None
        self._emitted = 0

    def push(self, piece: np.ndarray, where: int) -> Iterator[np.ndarray]:
        """Add ``piece`` (``(N,)`` events of the packet at byte ``where``) and
        yield every full chunk now available."""
        if len(piece) == 0:
            return
        self._pieces.append(piece.view(_RECORD))
        self._wheres.append(where)
        self._pending += len(piece)
        if self._pending >= self.chunk_events:
            yield from self._emit(final=False)

    def flush(self) -> Iterator[np.ndarray]:
        """Yield what is left (at the end of the file)."""
        if self._pending:
            yield from self._emit(final=True)

    def _emit(self, final: bool) -> Iterator[np.ndarray]:
        n_out = self._pending if final else self._pending - self._pending % self.chunk_events
        out = np.empty(n_out, dtype=_RECORD)
        filled = 0
        rest: list[np.ndarray] = []
        rest_wheres: list[int] = []
        for piece, where in zip(self._pieces, self._wheres, strict=True):
            take = min(len(piece), n_out - filled)
            out[filled : filled + take] = piece[:take]
            filled += take
            if take < len(piece):
                rest.append(piece[take:])
                rest_wheres.append(where)
        ev = out.view(EVENT_DTYPE)
        self._check_time(ev)
        self._pieces, self._wheres = rest, rest_wheres
        self._pending -= n_out
        self._last_t = int(ev["t"][-1])
        for i in range(0, n_out, self.chunk_events):
            chunk = ev[i : i + self.chunk_events]
            self._emitted += len(chunk)
            yield chunk

    def _where_of(self, i: int) -> int:
        """Byte offset of the packet that pending event ``i`` came from."""
        sizes = np.cumsum([len(p) for p in self._pieces])
        return self._wheres[min(int(np.searchsorted(sizes, i, side="right")), len(sizes) - 1)]

    def _check_time(self, ev: np.ndarray) -> None:
        i = first_time_back(ev["t"], self._last_t)
        if i is not None:
            raise time_back_error(
                self.name, ev["t"], i, self._last_t, self._emitted, self._where_of(i)
            )


_RECORD = np.dtype((np.void, EVENT_DTYPE.itemsize))
"""One event as raw bytes: numpy copies these with memcpy, while it copies a packed
structured dtype field by field (~30x slower)."""


def first_time_back(t_us: np.ndarray, last_t_us: int | None) -> int | None:
    """Index of the first timestamp smaller than the one before it (``last_t_us``
    before ``t_us[0]``), or None when ``t_us`` is in time order."""
    if len(t_us) == 0:
        return None
    if last_t_us is not None and t_us[0] < last_t_us:
        return 0
    back = t_us[1:] < t_us[:-1]
    return int(np.argmax(back)) + 1 if back.any() else None


def time_back_error(
    name: str, t_us: np.ndarray, i: int, last_t_us: int | None, emitted: int, where: int
) -> FormatError:
    """The error for ``t_us[i]`` going back in time (event ``emitted + i`` of the
    stream, read from byte ``where``)."""
    before = last_t_us if i == 0 else int(t_us[i - 1])
    return FormatError(
        name,
        f"time goes back at event {emitted + i}: {before} us then {int(t_us[i])} us "
        f"(data at byte {where}); events must be in time order",
    )


def read_text_header(
    f: BinaryIO, name: str, end_line: bytes | None = None, required: bool = False
) -> tuple[list[str], int]:
    """Read the ``#``-prefixed header lines of an AEDAT 2.0 / 3.1 file.

    Lines are read while the next byte is ``#``, or up to and including
    ``end_line`` (compared case-insensitively; AEDAT 3.1's ``#!END-HEADER``, which
    is ``required``; newer jAER's optional ``#End Of ASCII Header``).

    Args:
        f: the file at byte 0.
        name: the file, for errors.
        end_line: the line (without line ending) that closes the header.
        required: ``end_line`` must be present.

    Returns:
        the decoded lines (without ``\\r\\n``), and the byte offset of the data.

    Raises:
        FormatError: a header longer than :data:`MAX_TEXT_HEADER_BYTES`, or
            one whose ``end_line`` is missing.
    """
    lines: list[str] = []
    pos = 0
    while True:
        if pos > MAX_TEXT_HEADER_BYTES:
            raise FormatError(name, f"text header longer than {MAX_TEXT_HEADER_BYTES} bytes")
        first = f.read(1)
        if first != b"#":
            if required:
                raise FormatError(
                    name, f"header ends at byte {pos} without its {end_line.decode()} line"
                )
            f.seek(pos)
            return lines, pos
        line = first + f.readline(MAX_TEXT_HEADER_BYTES)
        pos += len(line)
        if not line.endswith(b"\n"):
            raise FormatError(
                name, f"header line ending at byte {pos} has no line end (truncated?)"
            )
        text = line.rstrip(b"\r\n")
        lines.append(text.decode("latin-1"))
        if end_line is not None and text.strip().lower() == end_line.lower():
            return lines, pos


def header_value(lines: list[str], key: str) -> str | None:
    """Value of the first ``# key: value`` (or ``#key: value``) header line."""
    for line in lines:
        body = line.lstrip("#").strip()
        if body.lower().startswith(key.lower() + ":"):
            return body[len(key) + 1 :].strip()
    return None


def reconcile_sensor(
    name: str, sensor: str | None, found: str | None, said: str, unknown: str
) -> str:
    """The sensor a header names, ``found`` (None: the header names one this reader does
    not know), reconciled with the caller's ``sensor=``.

    ``said`` describes what the header says (``"header source 'X'"``); ``unknown`` ends
    the message for a header naming an unknown sensor.

    Raises:
        FormatError: an unknown sensor in the header without ``sensor=``
            (``"<said><unknown>"``), or a ``sensor=`` that contradicts the header.
    """
    if found is None:
        if sensor is None:
            raise FormatError(name, f"{said}{unknown}")
        return sensor
    if sensor is not None and sensor != found:
        raise FormatError(name, f"{said} ({found}) but sensor={sensor!r}")
    return found


def gesture_labels(path: str | os.PathLike[str]) -> tuple[LabelledSegment, ...]:
    """The DVS Gesture labels beside ``path`` (``<stem>_labels.csv``), or ``()``."""
    labels = labels_path_for(path)
    return read_labels(labels) if labels.is_file() else ()


def event_view(buf: bytes, offset: int, count: int, stride: int) -> np.ndarray:
    """``(count,)`` :data:`EVENT_DTYPE` view (no copy) of ``stride``-byte records at
    ``offset`` in ``buf`` whose first 13 bytes are ``t`` int64, ``x``, ``y`` int16,
    ``p`` int8, little-endian, as AEDAT 4 events are."""
    return np.ndarray((count,), dtype=EVENT_DTYPE, buffer=buf, offset=offset, strides=(stride,))
