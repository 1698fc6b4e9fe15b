"""AEDAT 3.1 reader (cAER; the original DVS128 Gesture recordings).

Layout: header lines starting with ``#`` from ``#!AER-DAT3.1`` to
``#!END-HEADER``, then packets, each a 28-byte little-endian header::

    int16 eventType, int16 eventSource, int32 eventSize, int32 eventTSOffset,
    int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid

followed by ``eventCapacity * eventSize`` bytes of events. Polarity events
(type 1) are 8 bytes: uint32 data (bit 0 valid, bit 1 polarity, bits 2-16 y,
bits 17-31 x) and int32 timestamp; the µs time is
``(eventTSOverflow << 31) | timestamp``. Packets of other types are skipped
(``counters["skipped_packets"]``, their events in ``skipped_events``); invalid
polarity events are dropped and counted (``dropped_invalid``).

Sensor size: from a ``#Source N: <name>`` header line naming a DVS128,
DAVIS240 or DAVIS346; else the ``sensor=`` keyword (default ``"dvs128"``, as
DVS Gesture). A ``<stem>_labels.csv`` beside the file is loaded into ``labels``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import numpy as np

from ..errors import FormatError
from ..events import SensorSize, empty_events
from ..source import DEFAULT_CHUNK_EVENTS, FileSource, OutOfRange
from ._aedat_common import EventBatcher, gesture_labels, read_text_header, reconcile_sensor

VERSION_31 = "#!AER-DAT3.1"
END_HEADER = b"#!END-HEADER"
POLARITY_EVENT = 1
SENSORS_31: dict[str, SensorSize] = {
    "dvs128": (128, 128, 2),
    "davis240": (240, 180, 2),
    "davis346": (346, 260, 2),
}
"""Sensors an AEDAT 3.1 ``#Source`` line may name, and their sizes."""
_PACKET_HEADER = struct.Struct("<hhiiiiii")
_RAW = np.dtype([("data", "<u4"), ("t", "<i4")])


def sensor_from_header(lines: list[str], sensor: str | None, name: str) -> str:
    """The sensor named by the ``#Source`` lines, else ``sensor``, else dvs128.

    Raises:
        FormatError: unknown ``sensor``, an unknown source without ``sensor=``,
            or a ``sensor=`` that contradicts the header.
    """
    if sensor is not None and sensor not in SENSORS_31:
        raise FormatError(name, f"sensor={sensor!r} unknown; AEDAT 3.1 knows {sorted(SENSORS_31)}")
    sources = [
        ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("#Source") and ":" in ln
    ]
    if not sources:
        return sensor or "dvs128"
    found = next((k for k in SENSORS_31 if k in sources[0].lower().replace(" ", "")), None)
    unknown = f" is not a known sensor; pass sensor= one of {sorted(SENSORS_31)}"
    return reconcile_sensor(name, sensor, found, f"header source {sources[0]!r}", unknown)


class Aedat31Source(FileSource):
    """Polarity events of an AEDAT 3.1 file, streamed packet by packet.

    Args:
        path: the ``.aedat`` file.
        chunk_events: largest chunk yielded.
        out_of_range: see :class:`FileSource`.
        sensor: ``"dvs128"``, ``"davis240"`` or ``"davis346"`` when the header
            does not name its source.

    Attributes:
        sensor: the sensor whose size is used.
        header_lines: the ``#`` lines of the header.

    Raises:
        FormatError: not AEDAT 3.1, a header without ``#!END-HEADER``, or a
            sensor that cannot be chosen.
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
            lines, self.data_start = read_text_header(f, self.name, END_HEADER, required=True)
        if lines[0].strip() != VERSION_31:
            raise FormatError(self.name, f"not an AEDAT 3.1 file: starts with {lines[:1]}")
        self.header_lines = tuple(lines)
        self.sensor = sensor_from_header(lines, sensor, self.name)
        self.sensor_size = SENSORS_31[self.sensor]
        self.file_size = self.path.stat().st_size
        self.labels = gesture_labels(self.path)

    def _chunks(self) -> Iterator[np.ndarray]:
        batcher = EventBatcher(self.chunk_events, self.name)
        with open(self.path, "rb", buffering=1 << 20) as f:
            f.seek(self.data_start)
            pos = self.data_start
            while head := f.read(_PACKET_HEADER.size):
                if len(head) < _PACKET_HEADER.size:
                    raise FormatError(self.name, f"truncated packet header at byte {pos}")
                etype, _, size, ts_offset, overflow, capacity, number, _ = _PACKET_HEADER.unpack(
                    head
                )
                if size <= 0 or overflow < 0 or not 0 <= number <= capacity:
                    raise FormatError(
                        self.name,
                        f"corrupt packet header at byte {pos}: eventSize={size}, eventTSOverflow="
                        f"{overflow}, eventCapacity={capacity}, eventNumber={number}",
                    )
                body = pos + _PACKET_HEADER.size
                if body + capacity * size > self.file_size:
                    raise FormatError(
                        self.name,
                        f"truncated packet at byte {pos}: {capacity} x {size} bytes announced, "
                        f"{self.file_size - body} left",
                    )
                if etype != POLARITY_EVENT:
                    f.seek(capacity * size, os.SEEK_CUR)
                    self.counters["skipped_packets"] += 1
                    self.counters["skipped_events"] += number
                else:
                    if size != _RAW.itemsize or ts_offset != 4:
                        raise FormatError(
                            self.name,
                            f"polarity packet at byte {pos} has eventSize={size}, "
                            f"eventTSOffset={ts_offset}; expected 8 and 4",
                        )
                    for done in range(0, number, self.chunk_events):
                        k = min(self.chunk_events, number - done)
                        ev = self._polarity(f.read(k * size), overflow, body + done * size)
                        yield from batcher.push(ev, pos)
                    f.seek((capacity - number) * size, os.SEEK_CUR)
                pos = body + capacity * size
            yield from batcher.flush()

    def _polarity(self, data: bytes, overflow: int, pos: int) -> np.ndarray:
        """Valid polarity events of ``data`` (``(N,)`` records read at byte ``pos``)."""
        raw = np.frombuffer(data, dtype=_RAW)
        if raw["t"].size and raw["t"].min() < 0:
            i = int(np.argmax(raw["t"] < 0))
            raise FormatError(
                self.name, f"negative timestamp {int(raw['t'][i])} at byte {pos + 8 * i}"
            )
        d = raw["data"]
        valid = (d & 1).astype(bool)
        if not valid.all():
            self.counters["dropped_invalid"] += int(len(d) - valid.sum())
        d = d[valid]
        ev = empty_events(len(d))
        ev["t"] = raw["t"][valid].astype(np.int64) | (overflow << 31)
        ev["x"] = (d >> 17) & 0x7FFF
        ev["y"] = (d >> 2) & 0x7FFF
        ev["p"] = (d >> 1) & 1
        return ev
