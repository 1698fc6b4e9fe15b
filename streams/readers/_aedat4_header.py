"""The AEDAT 4.0 file header, and the few flatbuffer reads the reader needs.

An AEDAT 4.0 file (iniVation DV) starts with the 14-byte version line
``#!AER-DAT4.0\\r\\n``, an int32 (little-endian) length and an ``IOHeader``
flatbuffer of that length (identifier ``IOHE``)::

    table IOHeader {
        compression: CompressionType = NONE;   // NONE, LZ4, LZ4_HIGH, ZSTD, ZSTD_HIGH
        dataTablePosition: int64 = -1;         // byte offset of the file data table
        infoNode: string;                      // XML: one node per stream
    }

The XML names each stream (``<node name="0">`` under ``outInfo``) with its
``typeIdentifier`` (``EVTS`` events, ``FRME`` frames, ``IMUS``, ``TRIG``) and,
for events, ``sizeX``/``sizeY`` in its ``info`` node. Packets follow the header
up to ``dataTablePosition`` (or the end of the file when it is -1).

Flatbuffers are read by hand (offsets checked against the buffer), so a corrupt
file raises :class:`FormatError` and never reads out of bounds.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import FormatError

MAGIC = b"#!AER-DAT4.0"
VERSION_LINE = b"#!AER-DAT4.0\r\n"
COMPRESSIONS: tuple[str, ...] = ("none", "lz4", "lz4_high", "zstd", "zstd_high")
"""``CompressionType`` enum values, by index."""
MAX_HEADER_BYTES = 16 << 20

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")


@dataclass(frozen=True)
class StreamInfo:
    """One stream declared in the header.

    Attributes:
        stream_id: the id packets of this stream carry.
        type_identifier: flatbuffer identifier (``"EVTS"``, ``"FRME"``...).
        size: ``(sizeX, sizeY)`` in pixels, or None when not declared.
    """

    stream_id: int
    type_identifier: str
    size: tuple[int, int] | None


@dataclass(frozen=True)
class Aedat4Header:
    """What the file header says.

    Attributes:
        compression: one of :data:`COMPRESSIONS`.
        data_table_position: byte offset where packets end, -1 when unknown.
        data_start: byte offset of the first packet.
        streams: declared streams by id.
    """

    compression: str
    data_table_position: int
    data_start: int
    streams: dict[int, StreamInfo]


def table_field(buf: bytes, table: int, index: int, size: int) -> int | None:
    """Absolute offset of field ``index`` of the flatbuffer table at ``table``.

    Returns None when the field is absent (the reader then uses its default).

    Raises:
        ValueError: an offset points outside ``buf``; ``size`` is the field's
            byte size, checked to fit.
    """
    if table < 0 or table + 4 > len(buf):
        raise ValueError(f"table offset {table} outside the {len(buf)}-byte buffer")
    vtable = table - _I32.unpack_from(buf, table)[0]
    if vtable < 0 or vtable + 4 > len(buf):
        raise ValueError(f"vtable offset {vtable} outside the {len(buf)}-byte buffer")
    vt_size = _U16.unpack_from(buf, vtable)[0]
    slot = 4 + 2 * index
    if slot + 2 > vt_size:
        return None
    if vtable + slot + 2 > len(buf):
        raise ValueError(f"vtable at {vtable} runs past the {len(buf)}-byte buffer")
    offset = _U16.unpack_from(buf, vtable + slot)[0]
    if offset == 0:
        return None
    field = table + offset
    if field + size > len(buf):
        raise ValueError(f"field {index} at {field} runs past the {len(buf)}-byte buffer")
    return field


def vector_at(buf: bytes, field: int, item_size: int) -> tuple[int, int]:
    """``(start, count)`` of the vector (or string) a table field points to.

    Raises:
        ValueError: the vector does not fit in ``buf``.
    """
    vec = field + _U32.unpack_from(buf, field)[0]
    if vec + 4 > len(buf):
        raise ValueError(f"vector at {vec} outside the {len(buf)}-byte buffer")
    count = _U32.unpack_from(buf, vec)[0]
    start = vec + 4
    if start + count * item_size > len(buf):
        raise ValueError(
            f"vector of {count} x {item_size} bytes at {start} runs past the {len(buf)}-byte buffer"
        )
    return start, count


def read_header(f: BinaryIO, name: str, file_size: int) -> Aedat4Header:
    """Read and check the version line, the IOHeader and its stream list.

    Args:
        f: the file, positioned at byte 0.
        name: the file's name, for errors.
        file_size: its size in bytes.

    Raises:
        FormatError: wrong magic, a header that does not fit the file or does
            not parse, an unknown compression.
    """
    line = f.read(len(VERSION_LINE))
    if line != VERSION_LINE:
        raise FormatError(name, f"not an AEDAT 4.0 file: starts with {line[:16]!r}")
    raw_len = f.read(4)
    if len(raw_len) < 4:
        raise FormatError(name, "truncated: the file ends inside the header length at byte 14")
    length = _U32.unpack(raw_len)[0]
    data_start = len(VERSION_LINE) + 4 + length
    if length > MAX_HEADER_BYTES or data_start > file_size:
        raise FormatError(
            name, f"header length {length} at byte 14 runs past the end of the file ({file_size})"
        )
    buf = f.read(length)
    try:
        table = _U32.unpack_from(buf, 0)[0]
        comp_at = table_field(buf, table, 0, 4)
        pos_at = table_field(buf, table, 1, 8)
        info_at = table_field(buf, table, 2, 4)
        code = _I32.unpack_from(buf, comp_at)[0] if comp_at is not None else 0
        table_pos = _I64.unpack_from(buf, pos_at)[0] if pos_at is not None else -1
        if info_at is None:
            raise ValueError("it has no infoNode (stream list)")
        start, count = vector_at(buf, info_at, 1)
        xml = bytes(buf[start : start + count]).decode("utf-8")
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise FormatError(name, f"corrupt IOHeader (bytes 18-{data_start}): {e}") from None
    if not 0 <= code < len(COMPRESSIONS):
        raise FormatError(
            name, f"unknown compression code {code} in the header; known: {', '.join(COMPRESSIONS)}"
        )
    if table_pos > file_size:
        raise FormatError(
            name,
            f"truncated: the header says packets end at byte {table_pos} "
            f"but the file has {file_size} bytes",
        )
    if table_pos != -1 and table_pos < data_start:
        raise FormatError(
            name,
            f"corrupt header: packets end at byte {table_pos}, before they start ({data_start})",
        )
    streams = parse_streams(xml, name)
    return Aedat4Header(COMPRESSIONS[code], table_pos, data_start, streams)


def parse_streams(xml: str, name: str) -> dict[int, StreamInfo]:
    """Streams declared in the header's XML ``infoNode``.

    Raises:
        FormatError: malformed XML, a stream without a numeric id or type, a
            duplicate id, or a non-integer size.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise FormatError(name, f"header XML does not parse: {e}") from None
    out_info = next((n for n in root.iter("node") if n.get("name") == "outInfo"), None)
    if out_info is None:
        raise FormatError(name, "header XML has no outInfo node (no streams)")
    streams: dict[int, StreamInfo] = {}
    for node in out_info.findall("node"):
        sid_text = node.get("name", "")
        if not sid_text.isdigit():
            raise FormatError(name, f"header stream node has a non-numeric id {sid_text!r}")
        sid = int(sid_text)
        attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("attr")}
        type_id = attrs.get("typeIdentifier", "")
        if not type_id:
            raise FormatError(name, f"header stream {sid} has no typeIdentifier")
        info = next((n for n in node.findall("node") if n.get("name") == "info"), None)
        size = None
        if info is not None:
            info_attrs = {a.get("key"): (a.text or "").strip() for a in info.findall("attr")}
            if "sizeX" in info_attrs or "sizeY" in info_attrs:
                try:
                    size = (int(info_attrs["sizeX"]), int(info_attrs["sizeY"]))
                except (KeyError, ValueError):
                    raise FormatError(
                        name,
                        f"header stream {sid} has sizeX={info_attrs.get('sizeX')!r}, "
                        f"sizeY={info_attrs.get('sizeY')!r}; expected two integers",
                    ) from None
        if sid in streams:
            raise FormatError(name, f"header declares stream {sid} twice")
        streams[sid] = StreamInfo(sid, type_id, size)
    return streams
