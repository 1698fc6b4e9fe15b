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

The file is read in blocks of :data:`BLOCK_BYTES` and events are handed out
in chunks of ``chunk_events``, so memory stays bounded by one block, one packet
and one chunk. One numba kernel (:mod:`._aedat4_kernel`) walks the packets of a
block, decompresses LZ4 with liblz4 and copies the events into the chunk, with
no Python per packet; Zstd packets and anything the kernel does not handle are
decoded here in Python, which also words every error.

Errors (:class:`FormatError`, naming the file and the byte offset): wrong magic,
a corrupt header, an unknown compression, a packet that is truncated, does not
decompress or does not parse, a stream id the header does not declare, and
time going back within the event stream.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

import lz4.frame
import numpy as np
import zstandard

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import FileFormat
from ..source import DEFAULT_CHUNK_EVENTS, FileSource, OutOfRange
from ._aedat4_header import MAGIC, Aedat4Header, read_header, table_field, vector_at
from ._aedat4_kernel import (
    ARG0,
    ARG1,
    BAD_SIZE,
    BAD_STREAM,
    DONE,
    EVENT_BYTES,
    FULL,
    GROW,
    HEAD_CUT,
    LAST_T,
    MAX_P,
    MAX_X,
    MAX_Y,
    MORE,
    N_STATE,
    PEND_AT,
    PEND_IN_BUF,
    PEND_LEFT,
    PEND_POS,
    SKIPPED,
    SLOW,
    XY_RECORD,
    compression_code,
    decode_packets,
)

BLOCK_BYTES = 1 << 20
"""File bytes read at a time (a packet larger than this gets a buffer of its size)."""
SCRATCH_BYTES = 1 << 18
"""First size of the buffer one decompressed packet goes to (it grows when needed)."""
MAX_LZ4_RATIO = 256
"""An LZ4 frame cannot expand more than ~255x: a larger claimed size is corrupt."""
MAX_PACKET_BYTES = 1 << 28
"""A Zstd packet claiming more than this (16 M events) is taken as corrupt."""

_DV_LAYOUT = bytes.fromhex("100000004556545300000600080004000600000004000000")
"""Bytes 4-28 of an event packet as DV lays it out (root table at 20, vtable at
14, elements vector at 28): a packet that matches skips the generic table walk."""
_PACKET_HEADER = struct.Struct("<ii")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")

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

    _grows_its_chunks = True

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
        chunk = self.chunk_events
        code = compression_code(header.compression)
        declared = np.array(sorted(header.streams), np.int64)
        st = np.zeros(N_STATE, np.int64)
        st[LAST_T] = np.iinfo(np.int64).min
        scratch = _buffer(SCRATCH_BYTES)
        base, pos, emitted, n = header.data_start, 0, 0, 0
        out = np.empty(min(chunk, self._guess_events(end - base)), EVENT_DTYPE)
        with open(self.path, "rb", buffering=0) as f:
            f.seek(base)
            buf = _buffer(min(BLOCK_BYTES, end - base))
            hi = _fill(f, buf, 0)
            while True:
                status, pos, n = decode_packets(
                    buf, pos, hi, base, end, self.stream_id, declared, code, scratch, st,
                    out.view(XY_RECORD), n,
                )  # fmt: skip
                if status == FULL:
                    if n < chunk:  # a guessed size (read_all): grow in place
                        out.resize(min(chunk, 2 * n), refcheck=False)
                        continue
                    self._count(st)
                    emitted += n
                    yield self._vetted(out, st[MAX_X], st[MAX_Y], st[MAX_P])
                    st[MAX_X] = st[MAX_Y] = st[MAX_P] = 0
                    out = np.empty(min(chunk, self._guess_events(end - base - pos)), EVENT_DTYPE)
                    n = 0
                elif status == MORE:
                    buf, pos, hi, base = self._refill(f, buf, pos, hi, base, end)
                elif status == SLOW:
                    scratch, pos = self._slow_packet(buf, pos, base, scratch, st)
                elif status == GROW and st[ARG0] <= MAX_PACKET_BYTES:
                    scratch = _buffer(int(st[ARG0]))
                elif status == GROW:
                    scratch, pos = self._slow_packet(buf, pos, base, scratch, st)
                elif status == DONE:
                    break
                else:
                    raise self._packet_error(status, buf, pos, base, end, st, emitted + n)
        self._count(st)
        if n:
            out.resize(n, refcheck=False)
            yield self._vetted(out, st[MAX_X], st[MAX_Y], st[MAX_P])

    def _guess_events(self, n_bytes: int) -> int:
        """A first size for the output: events in ``n_bytes`` of packets if they
        compress 3x (it grows when they hold more)."""
        per_byte = 1 if self.header.compression == "none" else 3
        return max(1, n_bytes * per_byte // EVENT_BYTES + 1)

    def _count(self, st: np.ndarray) -> None:
        if st[SKIPPED]:
            self.counters["skipped_packets"] += int(st[SKIPPED])
            st[SKIPPED] = 0

    def _refill(
        self, f: BinaryIO, buf: np.ndarray, pos: int, hi: int, base: int, end: int
    ) -> tuple[np.ndarray, int, int, int]:
        """Move the unread bytes from ``pos`` to the front of ``buf`` (growing it to
        hold the packet there) and read more. Returns ``(buf, 0, hi, base)``."""
        keep = max(0, hi - pos)
        if pos > hi:
            f.seek(base + pos)
        need = 8 + (max(0, _I32.unpack_from(buf, pos + 4)[0]) if keep >= 8 else 0)
        if need > len(buf):
            bigger = _buffer(need)
            bigger[:keep] = buf[pos:hi]
            buf = bigger
        elif keep:
            buf[:keep] = buf[pos:hi].copy()
        base += pos
        hi = _fill(f, buf[: min(len(buf), end - base)], keep)
        if hi < need:
            raise FormatError(
                self.name, f"truncated packet at byte {base}: the file ends at byte {base + hi}"
            )
        return buf, 0, hi, base

    def _slow_packet(
        self, buf: np.ndarray, pos: int, base: int, scratch: np.ndarray, st: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Decode the event packet at ``pos`` in Python (what the kernel leaves:
        Zstd, unusual frames, errors) and hand its events to the kernel."""
        size = _I32.unpack_from(buf, pos + 4)[0]
        data, start, count = self._events(buf[pos + 8 : pos + 8 + size].tobytes(), base + pos)
        n_bytes = count * EVENT_BYTES
        if n_bytes > len(scratch):
            scratch = _buffer(n_bytes)
        scratch[:n_bytes] = np.frombuffer(data, np.uint8, n_bytes, start)
        st[PEND_AT], st[PEND_LEFT], st[PEND_IN_BUF], st[PEND_POS] = 0, count, 0, base + pos
        return scratch, pos + 8 + size

    def _packet_error(
        self, status: int, buf: np.ndarray, pos: int, base: int, end: int, st: np.ndarray,
        index: int,
    ) -> FormatError:  # fmt: skip
        at = base + pos
        if status == HEAD_CUT:
            return FormatError(
                self.name, f"truncated packet header at byte {at} (packets end at {end})"
            )
        if status in (BAD_SIZE, BAD_STREAM):
            stream_id, size = _PACKET_HEADER.unpack_from(buf, pos)
        if status == BAD_SIZE:
            return FormatError(
                self.name,
                f"truncated packet at byte {at}: {size} bytes announced, "
                f"{end - at - 8} left before byte {end}",
            )
        if status == BAD_STREAM:
            return FormatError(
                self.name,
                f"packet at byte {at} has stream id {stream_id}, which the header does "
                f"not declare (declared: {sorted(self.header.streams)})",
            )
        return FormatError(  # TIME_BACK
            self.name,
            f"time goes back at event {index}: {int(st[ARG1])} us then {int(st[ARG0])} us "
            f"(data at byte {int(st[PEND_POS])}); events must be in time order",
        )

    def _events(self, data: bytes, pos: int) -> tuple[bytes, int, int]:
        """``(buffer, start, count)``: the events of the packet at byte ``pos``,
        decoded by the Python libraries (the errors are worded here)."""
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
                    return buf, 0, 0
                start, count = vector_at(buf, field, EVENT_BYTES)
        except (ValueError, struct.error) as e:
            raise FormatError(self.name, f"corrupt event packet at byte {pos}: {e}") from None
        return buf, start, count


def _buffer(n_bytes: int) -> np.ndarray:
    """A uint8 buffer of at least ``n_bytes``, a whole number of int64 (the kernel
    reads it through typed views)."""
    return np.empty(max(8, -(-n_bytes // 8) * 8), np.uint8)


def _fill(f: BinaryIO, buf: np.ndarray, filled: int) -> int:
    """Read into ``buf[filled:]`` until it is full or the file ends; returns the
    bytes now in ``buf``."""
    view = memoryview(buf)
    while filled < len(buf):
        got = f.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


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
