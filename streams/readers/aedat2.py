"""jAER AEDAT 2.0 reader (and the entry point for AEDAT 3.1, see :mod:`._aedat31`).

AEDAT 2.0 (jAER): header lines starting with ``#`` (the first is
``#!AER-DAT2.0``), then events of 8 bytes: big-endian int32 address, int32
timestamp (µs). The address layout depends on the chip:

- ``dvs128`` (128x128), jAER's ``DVS128`` extractor: ``x = 127 - ((a >> 1) & 0x7F)``
  (mirrored), ``y = (a >> 8) & 0x7F``, polarity ``p = 1 - (a & 1)`` (jAER flips the
  raw bit: raw 0 is ON); addresses with bit 15 or 31 set are sync/special events,
  skipped and counted in ``counters["skipped_special"]``.
- ``davis240`` (240x180), jAER's ``DavisBaseCamera`` extractor: bit 31 set is an
  APS sample or, with bits 10-11 set, an IMU sample (skipped, counted as
  ``skipped_aps`` / ``skipped_imu``); bits 10-11 = 01 is an external input event
  (``skipped_special``); otherwise a polarity event with ``x = 239 - ((a >> 12) &
  0x3FF)``, ``y = (a >> 22) & 0x1FF``, ``p = (a >> 11) & 1``.

Which layout: the header's ``# AEChip:`` class (else ``# HardwareInterface:``)
decides when it names a DVS128 (``DVS128``, ``Tmpdiff128``) or DAVIS240
(``DAVIS240``, ``SBRet10``); without either line, the ``sensor=`` keyword
(default ``"dvs128"``). A header naming another chip needs ``sensor=``; a
``sensor=`` that contradicts the header is an error.

Timestamps: jAER's int32 µs counter wraps after 2^31 µs (~36 min) to negative
values. Read as unsigned 32-bit it keeps increasing through that point and
wraps only at 2^32; each drop of more than 2^31 from one event to the next is
taken as such a wrap and adds 2^32, so ``t`` stays monotonic for any length of
recording. Any other step back in time raises :class:`FormatError`.

A ``<stem>_labels.csv`` beside the file (DVS Gesture) is loaded into ``labels``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..errors import FormatError
from ..events import SensorSize, empty_events
from ..formats import FileFormat
from ..source import DEFAULT_CHUNK_EVENTS, FileSource, OutOfRange
from ._aedat31 import VERSION_31, Aedat31Source
from ._aedat_common import (
    first_time_back,
    gesture_labels,
    header_value,
    read_text_header,
    reconcile_sensor,
    time_back_error,
)

VERSION_20 = "#!AER-DAT2.0"
END_OF_HEADER = b"#End Of ASCII Header"
"""Optional last header line of newer jAER files."""
EVENT_BYTES = 8
LAYOUTS_20: dict[str, SensorSize] = {"dvs128": (128, 128, 2), "davis240": (240, 180, 2)}
"""AEDAT 2.0 address layouts this reader decodes, and their sensor sizes."""
_CHIP_NAMES = (("dvs128", "dvs128"), ("tmpdiff128", "dvs128"), ("davis240", "davis240"),
               ("sbret10", "davis240"))  # fmt: skip
_RAW = np.dtype([("a", ">u4"), ("t", ">u4")])
_WRAP = 1 << 32


def layout_from_header(lines: list[str], sensor: str | None, name: str) -> str:
    """The address layout to decode with (see the module docstring).

    Raises:
        FormatError: unknown ``sensor``, an unsupported chip in the header
            without ``sensor=``, or a ``sensor=`` that contradicts the header.
    """
    if sensor is not None and sensor not in LAYOUTS_20:
        raise FormatError(name, f"sensor={sensor!r} unknown; AEDAT 2.0 knows {sorted(LAYOUTS_20)}")
    chip = header_value(lines, "AEChip") or header_value(lines, "HardwareInterface")
    if chip is None:
        return sensor or "dvs128"
    found = next((layout for key, layout in _CHIP_NAMES if key in chip.lower()), None)
    unknown = (
        ", whose address layout is not known; "
        f"pass sensor= one of {sorted(LAYOUTS_20)} to decode it as such"
    )
    return reconcile_sensor(name, sensor, found, f"header names chip {chip!r}", unknown)


class Aedat2Source(FileSource):
    """Events of a jAER AEDAT 2.0 file, read ``chunk_events`` at a time.

    Args:
        path: the ``.aedat`` file.
        chunk_events: largest chunk yielded.
        out_of_range: see :class:`FileSource`.
        sensor: ``"dvs128"`` or ``"davis240"`` when the header does not say.

    Attributes:
        layout: the address layout used (``"dvs128"`` or ``"davis240"``).
        header_lines: the ``#`` lines of the header.

    Raises:
        FormatError: not AEDAT 2.0, a layout that cannot be chosen, or a data
            section that is not a whole number of 8-byte events (truncated).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_events: int = DEFAULT_CHUNK_EVENTS,
        out_of_range: OutOfRange = "raise",
        sensor: str | None = None,
    ) -> None:
        super().__init__(path, chunk_events, out_of_range)
        with open(self.path, "rb") as f:
            lines, self.data_start = read_text_header(f, self.name, END_OF_HEADER)
        if not lines or lines[0].strip() != VERSION_20:
            raise FormatError(self.name, f"not an AEDAT 2.0 file: starts with {lines[:1]}")
        self.header_lines = tuple(lines)
        self.layout = layout_from_header(lines, sensor, self.name)
        self.sensor_size = LAYOUTS_20[self.layout]
        n_bytes = self.path.stat().st_size - self.data_start
        if n_bytes % EVENT_BYTES:
            raise FormatError(
                self.name,
                f"truncated: {n_bytes} bytes of events after the header (byte "
                f"{self.data_start}) is not a whole number of {EVENT_BYTES}-byte events",
            )
        self.labels = gesture_labels(self.path)

    def _chunks(self) -> Iterator[np.ndarray]:
        prev_u32: int | None = None
        wraps = 0
        last_t: int | None = None
        emitted = 0
        with open(self.path, "rb") as f:
            f.seek(self.data_start)
            pos = self.data_start
            while data := f.read(self.chunk_events * EVENT_BYTES):
                if len(data) % EVENT_BYTES:
                    raise FormatError(self.name, f"truncated event at byte {pos + len(data)}")
                raw = np.frombuffer(data, dtype=_RAW)
                addr = raw["a"].astype(np.uint32)
                u = raw["t"].astype(np.int64)
                step = np.diff(u, prepend=u[0] if prev_u32 is None else prev_u32)
                n_wraps = wraps + np.cumsum(step < -(_WRAP >> 1))
                t = u + n_wraps * _WRAP
                prev_u32, wraps = int(u[-1]), int(n_wraps[-1])
                ev = self._decode(addr, t)
                i = first_time_back(ev["t"], last_t)
                if i is not None:
                    raise time_back_error(self.name, ev["t"], i, last_t, emitted, pos)
                if len(ev):
                    last_t = int(ev["t"][-1])
                emitted += len(ev)
                pos += len(data)
                yield ev

    def _count(self, key: str, n: int | np.integer) -> None:
        if n:
            self.counters[key] += int(n)

    def _decode(self, addr: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Polarity events of ``addr``, ``t`` (both ``(N,)``), others counted."""
        if self.layout == "dvs128":
            keep = (addr & 0x80008000) == 0
            self._count("skipped_special", len(addr) - keep.sum())
            a = addr[keep]
            x = 127 - ((a >> 1) & 0x7F).astype(np.int16)
            y = (a >> 8) & 0x7F
            p = 1 - (a & 1).astype(np.int8)
        else:
            other = (addr & 0x80000000) != 0
            imu = (addr & 0x80000C00) == 0x80000C00
            external = ~other & ((addr & 0xC00) == 0x400)
            keep = ~(other | external)
            self._count("skipped_imu", imu.sum())
            self._count("skipped_aps", other.sum() - imu.sum())
            self._count("skipped_special", external.sum())
            a = addr[keep]
            x = 239 - ((a >> 12) & 0x3FF).astype(np.int16)
            y = (a >> 22) & 0x1FF
            p = (a >> 11) & 1
        ev = empty_events(len(a))
        ev["t"], ev["x"], ev["y"], ev["p"] = t[keep], x, y, p
        return ev


def open_aedat(path: str | os.PathLike[str], **kwargs) -> FileSource:
    """Open a ``#!AER-DAT2.0`` or ``#!AER-DAT3.1`` file with the matching reader."""
    with open(path, "rb") as f:
        first = f.readline(64).rstrip(b"\r\n").decode("latin-1")
    if first == VERSION_20:
        return Aedat2Source(path, **kwargs)
    if first == VERSION_31:
        return Aedat31Source(path, **kwargs)
    raise FormatError(path, f"not an AEDAT 2.0 / 3.1 file: first line {first!r}")


def sniff(head: bytes, suffix: str) -> bool:
    """AEDAT 2.0 and 3.1 files start with their version line (suffix not used)."""
    return head.startswith((VERSION_20.encode(), VERSION_31.encode()))


FORMAT = FileFormat(
    name="aedat2",
    description="jAER AEDAT 2.0 (DVS128, DAVIS240) and AEDAT 3.1 (DVS Gesture) .aedat",
    suffixes=(".aedat",),
    sniff=sniff,
    open=open_aedat,
)
