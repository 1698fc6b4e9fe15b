"""AEDAT 4.0 (iniVation DV) reader.

Layout (see :mod:`._aedat4_header` for the header)::

    "#!AER-DAT4.0\\r\\n" | int32 n | IOHeader (n bytes) | packet | packet | ... | data table

    packet = int32 stream_id | int32 size | size bytes, compressed as the header says
             (LZ4 frame or Zstandard frame per packet, or none), holding a
             size-prefixed flatbuffer whose identifier names its type:
             "EVTS": table EventPacket { elements: [Event]; }
                     struct Event { t: int64; x: int16; y: int16; on: bool; } (16 bytes)

The event stream (``typeIdentifier`` ``EVTS``; the lowest id when there are
several) gives ``sensor_size = (sizeX, sizeY, 2)``. Packets of other streams
(frames, IMU, triggers) are skipped without being decompressed and counted in
``counters["skipped_packets"]``. Timestamps are kept as recorded: µs since the
Unix epoch.

The file is read packet by packet and events are handed out in chunks of
``chunk_events``, so memory stays bounded by one packet plus one chunk. The
decode is numpy views on the decompressed packet (no per-event Python).

Errors (:class:`FormatError`, naming the file and the byte offset): wrong magic,
a corrupt header, an unknown compression, a packet that is truncated, does not
decompress or does not parse, a stream id the header does not declare, and
time going back within the event stream.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator

import lz4.frame
import numpy as np
import zstandard

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import FileFormat
from ..source import DEFAULT_CHUNK_EVENTS, FileSource, OutOfRange
from ._aedat4_header import MAGIC, Aedat4Header, read_header, table_field, vector_at
from ._aedat_common import EventBatcher, event_view

EVENT_BYTES = 16
"""Size of one flatbuffer ``Event`` struct (t, x, y, on, 3 bytes padding)."""
MAX_LZ4_RATIO = 256
"""An LZ4 frame cannot expand more than ~255x: a larger claimed size is corrupt."""
MAX_PACKET_BYTES = 1 << 28
"""A Zstd packet claiming more than this (16 M events) is taken as corrupt."""

_NO_EVENTS = np.empty(0, dtype=EVENT_DTYPE)
_DV_LAYOUT = bytes.fromhex("100000004556545300000600080004000600000004000000")
"""Bytes 4-28 of an event packet as DV lays it out (root table at 20, vtable at
14, elements vector at 28): a packet that matches skips the generic table walk."""
_PACKET_HEADER = struct.Struct("<ii")
_U32 = struct.Struct("<I")

_DECOMPRESS_ERRORS = (RuntimeError, ValueError, MemoryError, OverflowError, zstandard.ZstdError)


def _decompressor(compression: str) -> Callable[[bytes], bytes]:
    """``decompress(packet_bytes) -> flatbuffer bytes`` for a header compression."""
    if compression == "none":
        return bytes
    if compression in ("lz4", "lz4_high"):

        def lz4_decompress(data: bytes) -> bytes:
            claimed = lz4.frame.get_frame_info(data)["content_size"]
            if claimed > MAX_LZ4_RATIO * len(data) + (1 << 16):
                raise ValueError(f"LZ4 frame claims {claimed} bytes from {len(data)}")
            return lz4.frame.decompress(data)

        return lz4_decompress
    dctx = zstandard.ZstdDecompressor()

    def zstd_decompress(data: bytes) -> bytes:
        claimed = zstandard.frame_content_size(data)
        if claimed > MAX_PACKET_BYTES:
            raise ValueError(f"Zstd frame claims {claimed} bytes")
        return dctx.decompressobj().decompress(data)

    return zstd_decompress


class Aedat4Source(FileSource):
    """Events of an AEDAT 4.0 file, streamed packet by packet.

    Args:
        path: the ``.aedat4`` file.
        chunk_events: largest chunk yielded.
        out_of_range: see :class:`FileSource`.

    Attributes:
        header: what the file header declares (compression, streams).
        stream_id: id of the event stream read.

    Raises:
        FormatError: not an AEDAT 4.0 file, a corrupt header, no event stream.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_events: int = DEFAULT_CHUNK_EVENTS,
        out_of_range: OutOfRange = "raise",
    ) -> None:
        super().__init__(path, chunk_events, out_of_range)
        self.file_size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            self.header: Aedat4Header = read_header(f, self.name, self.file_size)
        streams = self.header.streams
        event_ids = sorted(sid for sid, s in streams.items() if s.type_identifier == "EVTS")
        if not event_ids:
            declared = ", ".join(f"{sid}:{s.type_identifier}" for sid, s in streams.items())
            raise FormatError(self.name, f"no event stream (EVTS) in the header; has {declared}")
        self.stream_id = event_ids[0]
        size = streams[self.stream_id].size
        if size is None or not (0 < size[0] <= 32768 and 0 < size[1] <= 32768):
            raise FormatError(
                self.name, f"event stream {self.stream_id} declares no valid sizeX/sizeY: {size}"
            )
        self.sensor_size = (size[0], size[1], 2)
        self._decompress = _decompressor(self.header.compression)

    def _chunks(self) -> Iterator[np.ndarray]:
        header = self.header
        end = header.data_table_position if header.data_table_position >= 0 else self.file_size
        batcher = EventBatcher(self.chunk_events, self.name)
        with open(self.path, "rb", buffering=1 << 20) as f:
            f.seek(header.data_start)
            pos = header.data_start
            while pos < end:
                head = f.read(_PACKET_HEADER.size)
                if len(head) < _PACKET_HEADER.size or pos + _PACKET_HEADER.size > end:
                    raise FormatError(
                        self.name, f"truncated packet header at byte {pos} (packets end at {end})"
                    )
                stream_id, size = _PACKET_HEADER.unpack(head)
                body = pos + _PACKET_HEADER.size
                if size < 0 or body + size > end:
                    raise FormatError(
                        self.name,
                        f"truncated packet at byte {pos}: {size} bytes announced, "
                        f"{end - body} left before byte {end}",
                    )
                if stream_id == self.stream_id:
                    data = f.read(size)
                    if len(data) < size:
                        raise FormatError(self.name, f"truncated packet at byte {pos}")
                    yield from batcher.push(self._events(data, pos), pos)
                elif stream_id in header.streams:
                    f.seek(size, os.SEEK_CUR)
                    self.counters["skipped_packets"] += 1
                else:
                    raise FormatError(
                        self.name,
                        f"packet at byte {pos} has stream id {stream_id}, which the header does "
                        f"not declare (declared: {sorted(header.streams)})",
                    )
                pos = body + size
            yield from batcher.flush()

    def _events(self, data: bytes, pos: int) -> np.ndarray:
        """``(N,)`` events of the packet at byte ``pos`` (a strided view, not a copy)."""
        try:
            buf = self._decompress(data)
        except _DECOMPRESS_ERRORS as e:
            raise FormatError(
                self.name,
                f"packet at byte {pos} does not decompress ({self.header.compression}): {e}",
            ) from None
        try:
            if len(buf) < 12 or _U32.unpack_from(buf, 0)[0] > len(buf) - 4:
                raise ValueError(f"size prefix does not fit the {len(buf)}-byte packet")
            if buf[8:12] != b"EVTS":
                raise ValueError(f"identifier {bytes(buf[8:12])!r}, expected b'EVTS'")
            if buf[4:28] == _DV_LAYOUT:
                start, count = 32, _U32.unpack_from(buf, 28)[0]
                if start + count * EVENT_BYTES > len(buf):
                    raise ValueError(f"{count} events do not fit the {len(buf)}-byte packet")
            else:
                table = 4 + _U32.unpack_from(buf, 4)[0]
                field = table_field(buf, table, 0, 4)
                if field is None:
                    return _NO_EVENTS
                start, count = vector_at(buf, field, EVENT_BYTES)
        except (ValueError, struct.error) as e:
            raise FormatError(self.name, f"corrupt event packet at byte {pos}: {e}") from None
        return event_view(buf, start, count, EVENT_BYTES)


def sniff(head: bytes, suffix: str) -> bool:
    """AEDAT 4.0 files start with ``#!AER-DAT4.0`` (the suffix is not used)."""
    return head.startswith(MAGIC)


FORMAT = FileFormat(
    name="aedat4",
    description="AEDAT 4.0 (iniVation DV): events of the first event stream; LZ4/Zstd packets",
    suffixes=(".aedat4",),
    sniff=sniff,
    open=Aedat4Source,
)
