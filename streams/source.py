"""The ``Source`` contract: where every event enters spikestream.

A source is an iterable of event chunks (``(N,)`` arrays of
:data:`~spikestream.streams.events.EVENT_DTYPE`, time-ordered within the
stream), a context manager, and it states its ``sensor_size`` up front; it
never infers it from the data. ``close()`` releases files and sockets, also
in the middle of an iteration.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Literal, NamedTuple

import numpy as np

from .errors import FormatError
from .events import SensorSize, check_in_sensor, concat, out_of_sensor

DEFAULT_CHUNK_EVENTS = 1 << 16
"""Events per chunk that file readers yield (bounded memory for any file size)."""

OutOfRange = Literal["raise", "drop"]
_WHOLE_FILE_CHUNK = 1 << 40


class _Handover(threading.local):
    """The bytes :func:`~spikestream.streams.formats.open_file` read to sniff a
    file, handed to the reader it then constructs (set only during that call),
    so a small file is opened once, not twice: each system call counts when a
    dataset of thousands of small files is read."""

    path: str | None = None
    head: bytes = b""
    size: int = 0


HANDOVER = _Handover()


@dataclass(frozen=True)
class LabelledSegment:
    """A labelled stretch of a recording (DVS Gesture ``_labels.csv`` row).

    Attributes:
        label: 0-based class index.
        name: class name (e.g. ``"hand clap"``).
        t_start_us, t_end_us: the segment, in the recording's µs timestamps.
    """

    label: int
    name: str
    t_start_us: int
    t_end_us: int


class InSensor(NamedTuple):
    """A chunk whose reader has already checked it lies inside the sensor (see
    :meth:`Source._vetted`): the base class does not check it again."""

    events: np.ndarray


class Source(ABC):
    """Iterable of event chunks with an explicit sensor size.

    Attributes:
        name: path or URI, used in every message about this source.
        sensor_size: ``(width, height, polarities)``.
        live: True when events arrive in real time (UDP, camera): such a
            source must not be paced again.
        labels: labelled segments when the recording carries them.
        counters: counted events and drops (``events``, ``dropped_out_of_range``,
            ``malformed``...); nothing is dropped without being counted here.
    """

    name: str
    sensor_size: SensorSize
    live: bool = False

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.labels: tuple[LabelledSegment, ...] = ()
        self._open_iters: list[Iterator[np.ndarray]] = []
        self._closed = False

    @abstractmethod
    def _chunks(self) -> Iterator[np.ndarray | InSensor]:
        """Yield raw chunks; the base class counts and bounds-checks them (all
        but those a reader has checked itself: see :meth:`_vetted`)."""

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._closed:
            raise ValueError(f"{self.name}: source is closed")
        it = self._checked(self._chunks())
        # keep only iterations still running: reading a source again and again
        # must not pile up finished generators
        self._open_iters = [g for g in self._open_iters if g.gi_frame is not None]
        self._open_iters.append(it)
        return it

    def _checked(self, chunks: Iterator[np.ndarray | InSensor]) -> Iterator[np.ndarray]:
        n = 0
        counters = self.counters
        for ev in chunks:
            if type(ev) is InSensor:
                ev = ev.events
            else:
                ev = self._bounded(ev, n)
            k = len(ev)
            n += k
            counters["events"] += k
            if k:
                yield ev

    def _vetted(
        self, ev: np.ndarray, max_x: int, max_y: int, max_p: int
    ) -> np.ndarray | InSensor:
        """``ev`` marked as checked when a reader's decoder saw that it lies inside
        the sensor (it tracked the largest ``x``, ``y``, ``p`` as it wrote them,
        read as unsigned: a negative value counts as too large); else ``ev``
        itself, which the base class then checks (and names or drops the events)."""
        w, h, npol = self.sensor_size
        if max_x < w and max_y < h and max_p < max(npol, 2):
            return InSensor(ev)
        return ev

    def _bounded(self, ev: np.ndarray, offset: int) -> np.ndarray:
        check_in_sensor(ev, self.sensor_size, self.name, offset)
        return ev

    def read_all(self) -> np.ndarray:
        """All events of a finite source as one array (for tests and small files)."""
        return concat(list(self))

    def close(self) -> None:
        """Release files and sockets; a running iteration ends."""
        self._closed = True
        for it in self._open_iters:
            it.close()  # type: ignore[attr-defined]
        self._open_iters.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, sensor_size={self.sensor_size})"


class FileSource(Source):
    """A recorded file read in chunks of at most ``chunk_events`` events.

    Iterating again starts again from the first event. Subclasses implement
    :meth:`_chunks` and set ``sensor_size`` (from the header where the format
    has one, else from the caller or the format's known sensor).

    Args:
        path: the file.
        chunk_events: largest chunk yielded.
        out_of_range: events outside the sensor raise :class:`FormatError`
            (``"raise"``, default) or are dropped and counted in
            ``counters["dropped_out_of_range"]`` (``"drop"``).
    """

    _grows_its_chunks: bool = False
    """True for readers whose chunk buffers start at what the file can hold and
    grow with what they decode (never ``chunk_events`` up front): :meth:`read_all`
    then reads the file as one chunk and skips concatenating (copying) chunks."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_events: int = DEFAULT_CHUNK_EVENTS,
        out_of_range: OutOfRange = "raise",
    ) -> None:
        super().__init__()
        self.path = path if isinstance(path, Path) else Path(path)
        self.name = str(path)
        if chunk_events < 1:
            raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
        if out_of_range not in ("raise", "drop"):
            raise ValueError(f"out_of_range must be 'raise' or 'drop', got {out_of_range!r}")
        self.chunk_events = chunk_events
        self.out_of_range = out_of_range
        handed = HANDOVER
        if handed.path is not None and handed.path == self.name:
            self._sniffed: tuple[bytes, int] | None = (handed.head, handed.size)
            return  # open_file has just read it: a regular file
        self._sniffed = None
        try:
            is_file = S_ISREG(os.stat(path).st_mode)
        except (OSError, ValueError):
            is_file = False
        if not is_file:
            raise FormatError(self.path, "no such file")

    def _sniffed_head(self) -> tuple[bytes, int] | None:
        """``(head, file_size)`` when :func:`~spikestream.streams.formats.open_file`
        read the first bytes of this file to open it (``head`` is the whole file
        when ``len(head) == file_size``), else None: read it yourself."""
        return self._sniffed

    def read_all(self) -> np.ndarray:
        """All events of the file as one array."""
        if not self._grows_its_chunks:
            return super().read_all()
        chunk_events = self.chunk_events
        self.chunk_events = _WHOLE_FILE_CHUNK
        try:
            chunks = list(self)
        finally:
            self.chunk_events = chunk_events
        return chunks[0] if len(chunks) == 1 else concat(chunks)

    def _bounded(self, ev: np.ndarray, offset: int) -> np.ndarray:
        if self.out_of_range == "raise":
            return super()._bounded(ev, offset)
        from ._sensor_bounds import any_out_of_sensor  # numba, imported on first use

        if not any_out_of_sensor(ev, self.sensor_size):
            return ev
        bad = out_of_sensor(ev, self.sensor_size)
        if bad.any():
            self.counters["dropped_out_of_range"] += int(bad.sum())
            ev = ev[~bad]
        return ev
