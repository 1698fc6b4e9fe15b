"""The ``% key value`` ASCII header of Prophesee ``.raw`` and ``.dat`` files.

Both formats start with lines ``% key value\\n``; ``.raw`` files written by
recent Prophesee software close the header with ``% end``. Older files stop
where the binary body starts, so a line counts as header only when it is
``%`` followed by a space and printable text: a binary word that happens to
start with ``%`` is not mistaken for a header line.

Old ``.raw`` headers state neither format nor geometry; like Prophesee's own
software, :func:`system_info` then infers them from ``% system_ID`` (for files
whose integrator is Prophesee) or ``% sensor_generation``.
"""

from __future__ import annotations

import os
import re

from ..errors import FormatError
from ..events import SensorSize

MAX_HEADER_BYTES = 1 << 20
"""A header longer than this is taken for a corrupt file."""

_LINE = re.compile(rb"%[ \t]?[\x20-\x7e\t]*\r?\n")
_PARTIAL = re.compile(rb"%[\x20-\x7e\t]*\r?")
_GEOMETRY = re.compile(r"\s*(\d+)\s*x\s*(\d+)\s*$")


def parse_header(buf: bytes) -> tuple[dict[str, str], int, bool]:
    """Parse the header lines at the start of ``buf``.

    Returns:
        ``(fields, end, complete)``: ``key -> value`` (the last of repeated keys),
        the byte offset where the body starts, and whether the header ended
        inside ``buf`` (``% end`` or a non-header byte seen).
    """
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(buf) and buf[pos] == 0x25:  # '%'
        m = _LINE.match(buf, pos)
        if m is None:
            if _PARTIAL.fullmatch(buf, pos):
                return fields, pos, False  # a text line cut by the end of buf
            return fields, pos, True  # '%' starts binary data, not a header line
        text = m.group().decode("ascii").strip()[1:].strip()
        pos = m.end()
        if text == "end":
            return fields, pos, True
        key, _, value = text.partition(" ")
        if key:
            fields[key] = value.strip()
    return fields, pos, pos < len(buf)


def read_header(path: os.PathLike[str]) -> tuple[dict[str, str], int]:
    """Read the header of the file at ``path``.

    Returns:
        ``(fields, data_offset)``.

    Raises:
        FormatError: no header, a header cut short, or a header over
            :data:`MAX_HEADER_BYTES`.
    """
    fields, end, _, _ = read_header_bytes(path)
    return fields, end


def read_header_bytes(
    path: os.PathLike[str], sniffed: tuple[bytes, int] | None = None
) -> tuple[dict[str, str], int, bytes, bool]:
    """:func:`read_header`, and the bytes read: at least the first 64 KiB (the
    whole file when it is smaller), so a reader of a small file need not open it
    again. ``sniffed``: ``(head, file_size)`` the caller already has (see
    ``FileSource._sniffed_head``), used instead of reading when the header ends
    inside it. Plain ``os`` calls: each system call counts when a dataset of
    small files is read.

    Returns:
        ``(fields, data_offset, head, whole)``; ``whole``: ``head`` is the file.
    """
    if sniffed is not None:
        buf, file_size = sniffed
        whole = len(buf) == file_size
        fields, end, complete = parse_header(buf)
        if complete or whole:
            return (*_checked(path, buf, fields, end, complete), buf, whole)
    size = 1 << 16
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        buf = read_up_to(fd, size)
        while True:
            fields, end, complete = parse_header(buf)
            if complete or len(buf) < size:
                break
            if size >= MAX_HEADER_BYTES:
                raise FormatError(path, f"header longer than {MAX_HEADER_BYTES} bytes")
            size *= 4
            buf += read_up_to(fd, size - len(buf))
    finally:
        os.close(fd)
    return (*_checked(path, buf, fields, end, complete), buf, len(buf) < size)


def _checked(
    path: os.PathLike[str], buf: bytes, fields: dict[str, str], end: int, complete: bool
) -> tuple[dict[str, str], int]:
    if end == 0:
        raise FormatError(path, "no '% ' header line at the start of the file")
    if not complete and end < len(buf):
        raise FormatError(path, f"header line at byte {end} is cut short (truncated file?)")
    return fields, end


def read_up_to(fd: int, n: int) -> bytes:
    """Up to ``n`` bytes from ``fd``, fewer only at the end of the file."""
    data = os.read(fd, n)
    while 0 < len(data) < n:
        more = os.read(fd, n - len(data))
        if not more:
            break
        data += more
    return data


def starts_with_header_line(head: bytes) -> bool:
    """Whether ``head`` starts with one whole ``% key value`` line (what
    :func:`sniff_header` needs, without parsing the rest)."""
    return head.startswith(b"% ") and _LINE.match(head) is not None


def sniff_header(head: bytes) -> dict[str, str] | None:
    """Header fields if ``head`` starts with at least one ``% key value`` line."""
    if not head.startswith(b"% "):
        return None
    fields, end, _ = parse_header(head)
    return fields if end > 0 else None


def _dims(path: os.PathLike[str], what: str, w: str, h: str) -> tuple[int, int]:
    try:
        width, height = int(w), int(h)
    except ValueError:
        raise FormatError(path, f"header {what} has non-integer size {w!r} x {h!r}") from None
    if not (0 < width <= 1 << 15 and 0 < height <= 1 << 15):
        raise FormatError(path, f"header {what} gives an impossible sensor {width}x{height}")
    return width, height


def header_t0(path: os.PathLike[str], fields: dict[str, str]) -> int:
    """The ``% t0 N`` offset in µs (faery writes it when it shifts timestamps to 0), else 0."""
    text = fields.get("t0", fields.get("T0", "0")).strip()
    try:
        t0 = int(text)
    except ValueError:
        raise FormatError(path, f"header t0 {text!r} is not an integer (µs)") from None
    if not 0 <= t0 < 1 << 62:
        raise FormatError(path, f"header t0 {t0} is out of range")
    return t0


def header_geometry(path: os.PathLike[str], fields: dict[str, str]) -> tuple[int, int] | None:
    """``(width, height)`` stated by the header, or None.

    Looks at ``% format NAME;width=W;height=H``, ``% geometry WxH`` and the DAT
    keys ``% Width W`` / ``% Height H``, in that order.
    """
    options = dict(
        part.split("=", 1) for part in fields.get("format", "").split(";")[1:] if "=" in part
    )
    if "width" in options and "height" in options:
        return _dims(path, "format", options["width"], options["height"])
    if "geometry" in fields:
        m = _GEOMETRY.match(fields["geometry"])
        if m is None:
            raise FormatError(path, f"header geometry {fields['geometry']!r} is not WIDTHxHEIGHT")
        return _dims(path, "geometry", m.group(1), m.group(2))
    if "Width" in fields and "Height" in fields:
        return _dims(path, "Width/Height", fields["Width"], fields["Height"])
    return None


def check_sensor_size(sensor_size: tuple[int, ...]) -> SensorSize:
    """Normalise ``(width, height[, polarities])`` to a :data:`SensorSize`."""
    s = tuple(int(v) for v in sensor_size)
    if len(s) == 2:
        s = (*s, 2)
    if len(s) != 3 or min(s) < 1:
        raise ValueError(
            f"sensor_size must be (width, height[, polarities]) > 0, got {sensor_size}"
        )
    return s  # type: ignore[return-value]


def geometry_from_header(
    path: os.PathLike[str],
    fields: dict[str, str],
    sensor_size: tuple[int, ...] | None,
    guess: tuple[int, int] | None = None,
) -> SensorSize:
    """The sensor size of a Prophesee file.

    The header's stated geometry wins and must agree with ``sensor_size`` when
    both are given; else ``sensor_size``; else ``guess`` (a geometry the format
    documents for such headers); else a :class:`FormatError` asks for it.
    """
    stated = header_geometry(path, fields)
    given = check_sensor_size(sensor_size) if sensor_size is not None else None
    if stated is not None:
        if given is not None and given[:2] != stated:
            raise FormatError(
                path,
                f"sensor_size={given[:2]} disagrees with the header's {stated[0]}x{stated[1]}",
            )
        return (*stated, given[2] if given else 2)
    if given is not None:
        return given
    if guess is not None:
        return (*guess, 2)
    raise FormatError(
        path, "header gives no sensor geometry; pass sensor_size=(width, height) to open it"
    )


# Sensor geometry by Prophesee system ID (width, height, encoding); see Prophesee's
# HAL: systems of integrator "Prophesee" whose old headers lack a format/geometry.
_SYSTEM_IDS: dict[int, tuple[int, int, str]] = {
    0x15: (640, 480, "evt2"),  # CCAM3 Gen3.0
    0x1C: (640, 480, "evt2"),  # CCAM3 Gen3.1
    0x1A: (1280, 720, "evt2"),  # CCAM3 Gen4.0
    0x17: (640, 480, "evt2"),  # CCAM4 Gen3.0 (rev A)
    0x97: (640, 480, "evt2"),  # CCAM4 Gen3.0 EVK
    0x19: (640, 480, "evt2"),  # CCAM4 Gen3.0 rev B
    0x99: (640, 480, "evt2"),  # CCAM4 Gen3.0 rev B EVK
    0x1D: (640, 480, "evt2"),  # CCAM4 Gen3.0 rev B EVK bridge
    0x23: (640, 480, "evt2"),  # CCAM5 Gen3.1
    0x1E: (1280, 720, "evt3"),  # CCAM5 Gen4.0
    0x2E: (1280, 720, "evt3"),  # CCAM5 Gen4.0 fixed frame
    0x21: (640, 480, "evt2"),  # VisionCam Gen3.0
    0xA1: (640, 480, "evt2"),  # VisionCam Gen3.0 EVK
    0x22: (640, 480, "evt2"),  # VisionCam Gen3.1
    0xA2: (640, 480, "evt2"),  # VisionCam Gen3.1 EVK
    0x29: (640, 480, "evt2"),  # EVK2 Gen3.1
    0x1F: (1280, 720, "evt2"),  # EVK2 Gen4.0
    0x27: (1280, 720, "evt2"),  # EVK2 Gen4.1
    0x28: (640, 480, "evt3"),  # EVK3 Gen3.1
    0x30: (1280, 720, "evt3"),  # EVK3 Gen4.1
    0x31: (1280, 720, "evt3"),  # EVK3 IMX636
    0x32: (1280, 720, "evt3"),  # EVK2 IMX636
}
_SENSOR_GENERATIONS = {
    "3.0": (640, 480),
    "3.1": (640, 480),
    "4.0": (1280, 720),
    "4.1": (1280, 720),
    "4.2": (1280, 720),
    "320": (320, 320),
}


def raw_encoding(fields: dict[str, str]) -> str | None:
    """``"evt2"``/``"evt3"`` from the ``format`` or ``evt`` key; other names as given."""
    fmt = fields.get("format", "").split(";")[0].strip().lower()
    if fmt:
        return {"evt2": "evt2", "evt2.0": "evt2", "evt3": "evt3", "evt3.0": "evt3"}.get(fmt, fmt)
    evt = fields.get("evt", "").strip()
    if evt:
        return {"2": "evt2", "2.0": "evt2", "3": "evt3", "3.0": "evt3"}.get(evt, f"evt {evt}")
    return None


def system_info(fields: dict[str, str]) -> tuple[int, int, str] | None:
    """``(width, height, encoding)`` inferred from ``system_ID`` (for a Prophesee
    integrator only), else from ``sensor_generation`` (encoding ``""``), else None."""
    if fields.get("integrator_name", "Prophesee") == "Prophesee":
        try:
            known = _SYSTEM_IDS.get(int(fields.get("system_ID", ""), 0))
        except ValueError:
            known = None
        if known is not None:
            return known
    size = _SENSOR_GENERATIONS.get(fields.get("sensor_generation", "").strip())
    return (*size, "") if size else None
