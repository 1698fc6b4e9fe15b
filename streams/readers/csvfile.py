"""Event CSV files: one event per line, four integer columns, read in chunks.

Column order, from the first of:
- a header line naming the columns, in any order: ``t,x,y,p`` (ours),
  ``t,x@640,y@480,on`` (faery's writer), ``x,y,p,t``...; names understood:
  t/ts/t_us/time/timestamp/timestamp_us, x, y, p/pol/polarity/on;
- the ``columns=`` argument (``("x", "y", "p", "t")``);
- ``x,y,p,t`` after a Prophesee ``%geometry:W,H`` line (Metavision's CSV export);
- else ``t,x,y,p``.

Timestamps are integer µs; polarity is 0/1 (-1 reads as 0). Sensor size, from
the first of: a ``# sensor_size: W H [P]`` comment (what
:func:`~spikestream.streams.writers.save_events` writes), ``%geometry:W,H``,
faery's ``x@W,y@H`` header, the ``sensor_size=`` argument; never from the data.
Sizes stated twice must agree. Lines starting with ``#`` or ``%`` and blank
lines are skipped. A malformed line, a coordinate outside 0..32767, a polarity
other than -1/0/1 or a step back in time is a :class:`FormatError` naming the line.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE, SensorSize
from ..formats import FileFormat
from ..source import FileSource
from ._prophesee_header import check_sensor_size

DEFAULT_COLUMNS = ("t", "x", "y", "p")
PROPHESEE_COLUMNS = ("x", "y", "p", "t")
_ALIASES = {
    **dict.fromkeys(("t", "ts", "t_us", "time", "time_us", "timestamp", "timestamp_us"), "t"),
    "x": "x",
    "y": "y",
    **dict.fromkeys(("p", "pol", "polarity", "on"), "p"),
}
_SENSOR_COMMENT = re.compile(r"#\s*sensor_size\s*[:=]\s*(\d+)[\s,x]+(\d+)(?:[\s,x]+(\d+))?\s*$")
_GEOMETRY = re.compile(r"%\s*geometry\s*[:=]?\s*(\d+)\s*[,x ]\s*(\d+)\s*$", re.IGNORECASE)
_MAX_PREAMBLE_LINES = 1000


def _check_columns(source: Path, columns: Sequence[str], what: str) -> tuple[str, ...]:
    cols = tuple(columns)
    if sorted(cols) != ["p", "t", "x", "y"]:
        raise FormatError(source, f"{what} {list(columns)} must name t, x, y and p once each")
    return cols


class CsvSource(FileSource):
    """An event CSV file.

    Args:
        path: the file.
        sensor_size: ``(width, height[, polarities])`` unless the file states it.
        columns: column order for a file without a header line.
        chunk_events, out_of_range: see :class:`FileSource`.

    Attributes:
        columns: the column order used.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sensor_size: tuple[int, ...] | None = None,
        columns: Sequence[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(path, **kwargs)
        sizes: dict[str, tuple[int, int]] = {}
        header: tuple[str, ...] | None = None
        prophesee = False
        npol = 2
        self._data_line = 1
        with self._open_text() as f, self._text_errors():
            for lineno, line in enumerate(f, start=1):
                text = line.strip()
                if lineno > _MAX_PREAMBLE_LINES:
                    raise FormatError(
                        self.path, f"no data in the first {_MAX_PREAMBLE_LINES} lines"
                    )
                if not text:
                    continue
                if text.startswith("#"):
                    if m := _SENSOR_COMMENT.match(text):
                        sizes["'# sensor_size'"] = (int(m.group(1)), int(m.group(2)))
                        npol = int(m.group(3) or 2)
                    continue
                if text.startswith("%"):
                    if m := _GEOMETRY.match(text):
                        sizes["'%geometry'"] = (int(m.group(1)), int(m.group(2)))
                        prophesee = True
                    continue
                if re.search(r"[A-Za-z_]", text):
                    header = self._parse_header(text, sizes)
                    self._data_line = lineno + 1
                else:
                    self._data_line = lineno
                break
        if header is not None:
            if columns is not None and _check_columns(self.path, columns, "columns") != header:
                raise FormatError(
                    self.path, f"columns={list(columns)} disagrees with the header {list(header)}"
                )
            self.columns = header
        elif columns is not None:
            self.columns = _check_columns(self.path, columns, "columns")
        else:
            self.columns = PROPHESEE_COLUMNS if prophesee else DEFAULT_COLUMNS
        self.sensor_size = self._sensor_size(sizes, npol, sensor_size)

    def _open_text(self):
        return open(self.path, encoding="utf-8-sig", errors="strict", newline=None)

    @contextlib.contextmanager
    def _text_errors(self) -> Iterator[None]:
        try:
            yield
        except UnicodeDecodeError as e:
            raise FormatError(self.path, f"not a UTF-8 text file ({e.reason})") from None

    def _parse_header(self, text: str, sizes: dict[str, tuple[int, int]]) -> tuple[str, ...]:
        names = []
        dims: dict[str, int] = {}
        for field in text.split(","):
            name, _, dim = field.strip().partition("@")
            key = _ALIASES.get(name.strip().lower())
            if key is None:
                raise FormatError(
                    self.path, f"header column {field.strip()!r} is not one of t, x, y, p"
                )
            names.append(key)
            if dim.strip().isdigit():
                dims[key] = int(dim)
        if "x" in dims and "y" in dims:
            sizes["header x@W,y@H"] = (dims["x"], dims["y"])
        return _check_columns(self.path, names, "header")

    def _sensor_size(
        self, sizes: dict[str, tuple[int, int]], npol: int, given: tuple[int, ...] | None
    ) -> SensorSize:
        stated = set(sizes.values())
        if len(stated) > 1:
            raise FormatError(self.path, f"sensor sizes disagree: {sizes}")
        if stated:
            ((w, h),) = stated
            if not (0 < w <= 1 << 15 and 0 < h <= 1 << 15 and 0 < npol <= 2):
                raise FormatError(self.path, f"impossible sensor size {w}x{h}x{npol}")
            size = check_sensor_size((w, h, npol))
            if given is not None and check_sensor_size(given)[:2] != (w, h):
                raise FormatError(
                    self.path, f"sensor_size={tuple(given)} disagrees with the file's {w}x{h}"
                )
            return size
        if given is not None:
            return check_sensor_size(given)
        raise FormatError(
            self.path,
            "the file states no sensor size (no '# sensor_size: W H' line); "
            "pass sensor_size=(W, H)",
        )

    def _chunks(self) -> Iterator[np.ndarray]:
        order = [self.columns.index(c) for c in ("t", "x", "y", "p")]
        last_t: int | None = None
        with self._open_text() as f, self._text_errors():
            lines_iter = itertools.islice(f, self._data_line - 1, None)
            line0 = self._data_line
            while True:
                lines = list(itertools.islice(lines_iter, self.chunk_events))
                if not lines:
                    break
                data_lines = [ln for ln in lines if ln.strip() and ln.lstrip()[0] not in "#%"]
                if data_lines:
                    try:
                        arr = np.loadtxt(data_lines, delimiter=",", dtype=np.int64, ndmin=2)
                        if arr.shape[1] != 4:
                            raise ValueError(f"{arr.shape[1]} columns")
                    except ValueError as e:
                        raise self._bad_line(lines, line0, str(e)) from None
                    t, x, y, p = (arr[:, i] for i in order)
                    last_t = self._validate(lines, line0, t, x, y, p, last_t)
                    ev = np.empty(len(t), EVENT_DTYPE)
                    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, np.where(p < 0, 0, p)
                    yield ev
                line0 += len(lines)

    def _validate(self, lines, line0, t, x, y, p, last_t) -> int:
        checks = (
            ("a coordinate outside 0..32767", (x < 0) | (x > 32767) | (y < 0) | (y > 32767)),
            ("a polarity other than -1, 0 or 1", (p < -1) | (p > 1)),
            (
                "a timestamp before the previous line's",
                np.diff(t, prepend=t[0] if last_t is None else last_t) < 0,
            ),
        )
        for what, bad in checks:
            if bad.any():
                raise FormatError(
                    self.path,
                    f"line {self._line_of_row(lines, line0, int(np.argmax(bad)))}: {what}",
                )
        return int(t[-1])

    @staticmethod
    def _line_of_row(lines: list[str], line0: int, row: int) -> int:
        k = -1
        for i, ln in enumerate(lines):
            if ln.strip() and ln.lstrip()[0] not in "#%":
                k += 1
                if k == row:
                    return line0 + i
        return line0 + len(lines) - 1

    def _bad_line(self, lines: list[str], line0: int, why: str) -> FormatError:
        for i, ln in enumerate(lines):
            text = ln.strip()
            if not text or text[0] in "#%":
                continue
            fields = text.split(",")
            try:
                if len(fields) != 4:
                    raise ValueError
                [int(v) for v in fields]
            except ValueError:
                return FormatError(
                    self.path, f"line {line0 + i}: expected 4 integers, got {text[:80]!r}"
                )
        return FormatError(self.path, f"lines {line0}-{line0 + len(lines) - 1}: {why}")


def _sniff(head: bytes, suffix: str) -> bool:
    return suffix == ".csv" and b"\x00" not in head


def open_csv(path: str | os.PathLike[str], **kwargs) -> CsvSource:
    """Open an event CSV file; see :class:`CsvSource`."""
    return CsvSource(Path(path), **kwargs)


FORMAT = FileFormat(
    name="csv",
    description="CSV of t,x,y,p (or a header naming the order; faery and Prophesee layouts)",
    suffixes=(".csv",),
    sniff=_sniff,
    open=open_csv,
)
