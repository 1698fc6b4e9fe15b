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

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import FileFormat
from ..source import FileSource
from ._prophesee_header import (
    geometry_from_header,
    header_t0,
    parse_header,
    read_header,
    sniff_header,
)

DEFAULT_SENSOR_SIZE = (304, 240, 2)
"""ATIS (Prophesee Gen1) array: the sensor of DAT files whose header gives no geometry."""

EVENT_TYPES = {0x00: "2D", 0x0C: "CD"}
"""DAT event types that carry polarity events."""

_RECORD = np.dtype([("t", "<u4"), ("data", "<u4")])
# (x mask, y shift, y mask, p shift, p mask) per DAT version
_LAYOUTS = {1: (0x1FF, 9, 0xFF, 17, 0xF), 2: (0x3FFF, 14, 0x3FFF, 28, 0xF)}


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

    def __init__(
        self,
        path: str | os.PathLike[str],
        sensor_size: tuple[int, ...] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(path, **kwargs)
        self.header, end = read_header(self.path)
        version = self.header.get("Version", "2").strip()
        if version not in ("1", "2"):
            raise FormatError(self.path, f"unsupported DAT version {version!r} (reads 1 and 2)")
        self.version = int(version)
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
        x_mask, y_shift, y_mask, p_shift, p_mask = _LAYOUTS[self.version]
        last_raw, wrap, last_t = -1, 0, 0
        nbytes = self.chunk_events * _RECORD.itemsize
        with open(self.path, "rb") as f:
            f.seek(self._data_offset)
            offset = self._data_offset
            while True:
                raw = f.read(nbytes)
                n = len(raw) // _RECORD.itemsize
                if n:
                    rec = np.frombuffer(raw, _RECORD, count=n)
                    t_raw = rec["t"].astype(np.int64)
                    prev = np.concatenate(([last_raw if last_raw >= 0 else t_raw[0]], t_raw[:-1]))
                    wraps = np.cumsum(prev - t_raw > (1 << 31))
                    t = t_raw + wrap + (wraps << 32)
                    wrap += int(wraps[-1]) << 32
                    last_raw = int(t_raw[-1])
                    clamped = np.maximum.accumulate(np.maximum(t, last_t))
                    self.counters["t_clamped"] += int(np.count_nonzero(clamped != t))
                    last_t = int(clamped[-1])
                    d = rec["data"]
                    ev = np.empty(n, EVENT_DTYPE)
                    ev["t"] = clamped + self.t0_us
                    ev["x"] = d & x_mask
                    ev["y"] = (d >> y_shift) & y_mask
                    ev["p"] = (d >> p_shift) & p_mask
                    yield ev
                offset += n * _RECORD.itemsize
                if len(raw) < nbytes:
                    break
        if len(raw) % _RECORD.itemsize:
            raise FormatError(
                self.path,
                f"truncated: {len(raw) % _RECORD.itemsize} byte(s) at byte {offset} "
                f"do not form a whole 8-byte event",
            )


def _sniff(head: bytes, suffix: str) -> bool:
    fields = sniff_header(head)
    if fields is None:
        return False
    if head.startswith(b"% Data file containing"):
        return True
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
