"""File formats: sniffing a file's format from its header, and opening it.

Each reader module in ``streams/readers`` defines ``FORMAT``, a
:class:`FileFormat`. The list here is explicit (no import-time registry): a new
reader adds its module name to ``_READER_MODULES``, most specific magic first.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from .errors import FormatError
from .source import HANDOVER, FileSource

SNIFF_BYTES = 4096
HANDOVER_BYTES = 1 << 16
""":func:`open_file` reads this much of a file (all of a small one) to sniff it,
and hands it to the reader, which then need not read it again."""


@dataclass(frozen=True)
class FileFormat:
    """A file format spikestream reads.

    Attributes:
        name: short name (``"aedat4"``, ``"evt3"``...).
        description: one line for ``spikestream info --formats``.
        suffixes: lower-case suffixes that hint at it (``(".aedat4",)``).
        sniff: ``sniff(head, suffix) -> bool`` decides from the first
            :data:`SNIFF_BYTES` bytes (and the suffix, for formats without magic).
        open: ``open(path, **kwargs) -> FileSource``.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes, str], bool]
    open: Callable[..., FileSource]


_READER_MODULES = (
    "aedat4",
    "aedat2",
    "prophesee_raw",
    "prophesee_dat",
    "npfiles",
    "nmnist",
    "csvfile",
)


def formats() -> list[FileFormat]:
    """All known formats, in sniffing order."""
    return list(_formats())


@functools.cache
def _formats() -> tuple[FileFormat, ...]:
    return tuple(
        importlib.import_module(f".readers.{m}", __package__).FORMAT for m in _READER_MODULES
    )


def sniff_format(path: str | os.PathLike[str]) -> FileFormat:
    """The format of ``path``, decided by its header (and suffix where the format
    has no magic bytes).

    Raises:
        FormatError: missing, empty, or of no known format.
    """
    return _sniff(path, *_head(path, SNIFF_BYTES))


def open_file(path: str | os.PathLike[str], **kwargs) -> FileSource:
    """Open a recording of any known format as a :class:`FileSource`."""
    head, size = _head(path, HANDOVER_BYTES)
    fmt = _sniff(path, head[:SNIFF_BYTES], size)
    HANDOVER.path, HANDOVER.head, HANDOVER.size = os.fspath(path), head, size
    try:
        return fmt.open(path, **kwargs)
    finally:
        HANDOVER.path, HANDOVER.head = None, b""


def _sniff(path: str | os.PathLike[str], head: bytes, size: int) -> FileFormat:
    if not head:
        raise FormatError(Path(path), "file is empty")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    for fmt in _formats():
        if fmt.sniff(head, suffix):
            return fmt
    known = ", ".join(f"{f.name} ({'/'.join(f.suffixes)})" for f in _formats())
    raise FormatError(Path(path), f"not a known event file format; known: {known}")


def _head(path: str | os.PathLike[str], n_bytes: int) -> tuple[bytes, int]:
    """The first ``n_bytes`` of a regular file and its size, in as few system
    calls as it takes (open, fstat, read, close): small files are opened by the
    thousand (a dataset), where each call counts."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise FormatError(Path(path), "no such file") from None
    except PermissionError:
        if os.path.isdir(path):
            raise FormatError(Path(path), "no such file") from None
        raise
    try:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode):
            raise FormatError(Path(path), "no such file")
        want = min(n_bytes, st.st_size) or n_bytes  # 0: empty, or of unknown size
        head = os.read(fd, want)
        while 0 < len(head) < want:
            more = os.read(fd, want - len(head))
            if not more:
                break
            head += more
        return head, st.st_size
    finally:
        os.close(fd)
