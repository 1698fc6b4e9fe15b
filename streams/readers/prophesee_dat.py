"""Prophesee / Chronocam ``.dat`` recordings (DAT v1 and v2, 2D and CD events).

Layout (Prophesee's DAT documentation, as read by faery and expelliarmus):

- ASCII header lines ``% key value`` (``% Data file containing CD events.``,
  ``% Version 2``, ``% Width 304`` / ``% Height 240`` or ``% geometry 304x240``);
- one byte event type (``0x00`` 2D/TD events, ``0x0C`` CD events; ``0x0E`` is a
  trigger-only file) and one byte event size (8);
- 8-byte little-endian events: ``uint32 t`` (µs), ``uint32 data`` with, in v2,
  ``x`` bits 0-13, ``y`` bits 14-27, polarity bits 28-31; in v1, ``x`` bits 0-8,
  ``y`` bits 9-16, polarity bits 17-20. A header without ``% Version`` is v2.

The 32-bit timestamp wraps every 2**32 µs (~71.6 min): a step back by more than
2**31 µs counts as a wrap. A smaller step back is clamped to the last timestamp
and counted in ``counters["t_clamped"]``. A ``% t0 N`` header line adds ``N`` µs.

Sensor size: from the header when it states one, else ``sensor_size=``, else
:data:`DEFAULT_SENSOR_SIZE`. Headers without geometry come from the older
Chronocam/Prophesee software of the ATIS (Gen1) sensor, whose array is 304x240
(N-CARS, the Gen1 automotive dataset): every event of such a file lies inside
it. Nothing is inferred from the events; N-CARS samples are crops whose
coordinates start at 0, so pass e.g. ``sensor_size=(120, 100)`` to frame them tighter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numba import njit

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import FileFormat
from ..source import FileSource
from ._prophesee_header import (
    geometry_from_header,
    header_t0,
    parse_header,
    read_header_bytes,
    read_up_to,
    sniff_header,
    starts_with_header_line,
)

DEFAULT_SENSOR_SIZE = (304, 240, 2)
"""ATIS (Prophesee Gen1) array: the sensor of DAT files whose header gives no geometry."""

EVENT_TYPES = {0x00: "2D", 0x0C: "CD"}
"""DAT event types that carry polarity events."""

_RECORD = np.dtype([("t", "<u4"), ("data", "<u4")])
# (x mask, y shift, y mask, p shift, p mask) per DAT version
_LAYOUTS = {1: (0x1FF, 9, 0xFF, 17, 0xF), 2: (0x3FFF, 14, 0x3FFF, 28, 0xF)}
# decoder state slots (int64, carried across chunks; the maxima are per call)
_LAST_RAW, _WRAP, _LAST_T, _N_CLAMPED, _MAX_X, _MAX_Y, _MAX_P = range(7)


@njit(cache=True)
def decode_dat(words, out, layout, t0, st):  # pragma: no cover - numba
    """Decode DAT records (``words``: uint32 pairs ``t``, ``data``) into ``out``
    (:data:`EVENT_DTYPE`, one event per record) in one pass.

    ``layout``: ``(x mask, y shift, y mask, p shift, p mask)``; ``t0`` µs added to
    every timestamp; ``st``: int64 (last raw t or -1, wrap µs, last t, clamped
    count), carried across calls, then the largest x, y, p written by this call.
    """
    x_mask, y_shift, y_mask, p_shift, p_mask = layout
    last_raw = st[_LAST_RAW]
    wrap = st[_WRAP]
    last_t = st[_LAST_T]
    clamped = 0
    mx = my = mp = 0
    for i in range(words.shape[0] // 2):
        t_raw = np.int64(words[2 * i])
        d = np.int64(words[2 * i + 1])
        if last_raw >= 0 and last_raw - t_raw > (1 << 31):
            wrap += np.int64(1) << 32
        last_raw = t_raw
        t = t_raw + wrap
        if t < last_t:
            t = last_t
            clamped += 1
        last_t = t
        x = d & x_mask
        y = (d >> y_shift) & y_mask
        p = (d >> p_shift) & p_mask
        mx = max(mx, x)
        my = max(my, y)
        mp = max(mp, p)
        e = out[i]
        e.t = t + t0
        e.x = x
        e.y = y
        e.p = p
    st[_MAX_X] = mx
    st[_MAX_Y] = my
    st[_MAX_P] = mp
    st[_LAST_RAW] = last_raw
    st[_WRAP] = wrap
    st[_LAST_T] = last_t
    st[_N_CLAMPED] += clamped


class PropheseeDatSource(FileSource):
    """A Prophesee ``.dat`` file of 2D or CD events.

    Args:
        path: the file.
        sensor_size: ``(width, height[, polarities])`` when the header has no
            geometry (default :data:`DEFAULT_SENSOR_SIZE`); must agree with the
            header when it has one.
        chunk_events, out_of_range: see :class:`FileSource`.

    Attributes:
        version: DAT version (1 or 2).
        event_type: ``"2D"`` or ``"CD"``.
        header: the header's ``key -> value`` fields.
    """

    _grows_its_chunks = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        sensor_size: tuple[int, ...] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(path, **kwargs)
        self.header, end, head, whole = read_header_bytes(self.path, self._sniffed_head())
        version = self.header.get("Version", "2").strip()
        if version not in ("1", "2"):
            raise FormatError(self.path, f"unsupported DAT version {version!r} (reads 1 and 2)")
        self.version = int(version)
        self._whole = head if whole else None
        type_size = head[end : end + 2]
        if len(type_size) < 2 and self._whole is None:
            with open(self.path, "rb") as f:
                f.seek(end)
                type_size = f.read(2)
        if len(type_size) < 2:
            raise FormatError(
                self.path, f"truncated: no event type and size bytes after the header (byte {end})"
            )
        kind, size = type_size[0], type_size[1]
        if kind == 0x0E:
            raise FormatError(self.path, "holds external trigger events only, no polarity events")
        if kind not in EVENT_TYPES:
            raise FormatError(
                self.path, f"unsupported DAT event type 0x{kind:02X} (reads 0x00 2D, 0x0C CD)"
            )
        if size != 8:
            raise FormatError(self.path, f"unsupported DAT event size {size} (expected 8 bytes)")
        self.event_type = EVENT_TYPES[kind]
        self._data_offset = end + 2
        self.sensor_size = geometry_from_header(
            self.path, self.header, sensor_size, DEFAULT_SENSOR_SIZE[:2]
        )
        self.t0_us = header_t0(self.path, self.header)

    def _chunks(self) -> Iterator[np.ndarray]:
        layout = _LAYOUTS[self.version]
        st = np.array([-1, 0, 0, 0, 0, 0, 0], np.int64)
        offset = self._data_offset
        for raw in self._blocks():
            n = len(raw) // _RECORD.itemsize
            if n:
                ev = np.empty(n, EVENT_DTYPE)
                decode_dat(np.frombuffer(raw, "<u4", 2 * n), ev, layout, self.t0_us, st)
                if st[_N_CLAMPED]:
                    self.counters["t_clamped"] += int(st[_N_CLAMPED])
                    st[_N_CLAMPED] = 0
                yield self._vetted(ev, st[_MAX_X], st[_MAX_Y], st[_MAX_P])
            offset += n * _RECORD.itemsize
            if len(raw) % _RECORD.itemsize:
                raise FormatError(
                    self.path,
                    f"truncated: {len(raw) % _RECORD.itemsize} byte(s) at byte {offset} "
                    f"do not form a whole 8-byte event",
                )

    def _blocks(self) -> Iterator[bytes | memoryview]:
        """The data bytes, ``chunk_events`` records at a time (the last block
        may end in a partial record)."""
        start = self._data_offset
        if self._whole is not None:
            data = memoryview(self._whole)
            nbytes = max(1, self.chunk_events * _RECORD.itemsize)
            for i in range(start, len(data), nbytes):
                yield data[i : i + nbytes]
            return
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            left = os.fstat(fd).st_size - start
            nbytes = max(_RECORD.itemsize, min(self.chunk_events * _RECORD.itemsize, left))
            os.lseek(fd, start, os.SEEK_SET)
            while True:
                data = read_up_to(fd, nbytes)
                if data:
                    yield data
                if len(data) < nbytes:
                    break
        finally:
            os.close(fd)


def _sniff(head: bytes, suffix: str) -> bool:
    if head.startswith(b"% Data file containing"):  # a valid first line is enough
        return starts_with_header_line(head)
    fields = sniff_header(head)
    if fields is None:
        return False
    _, end, complete = parse_header(head)
    return suffix == ".dat" and complete and head[end + 1 : end + 2] == b"\x08"


def open_dat(path: str | os.PathLike[str], **kwargs) -> PropheseeDatSource:
    """Open a Prophesee ``.dat`` file; see :class:`PropheseeDatSource`."""
    return PropheseeDatSource(Path(path), **kwargs)


FORMAT = FileFormat(
    name="prophesee_dat",
    description="Prophesee/Chronocam .dat v1/v2 2D and CD events (header '% Data file containing')",
    suffixes=(".dat",),
    sniff=_sniff,
    open=open_dat,
)
