"""File formats: sniffing a file's format from its header, and opening it.

Each reader module in ``streams/readers`` defines ``FORMAT``, a
:class:`FileFormat`. The list here is explicit (no import-time registry): a new
reader adds its module name to ``_READER_MODULES``, most specific magic first.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import FormatError
from .source import FileSource

SNIFF_BYTES = 4096


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
    return [
        importlib.import_module(f".readers.{m}", __package__).FORMAT for m in _READER_MODULES
    ]


def sniff_format(path: str | os.PathLike[str]) -> FileFormat:
    """The format of ``path``, decided by its header (and suffix where the format
    has no magic bytes).

    Raises:
        FormatError: missing, empty, or of no known format.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(p, "no such file")
    with open(p, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        raise FormatError(p, "file is empty")
    suffix = p.suffix.lower()
    for fmt in formats():
        if fmt.sniff(head, suffix):
            return fmt
    known = ", ".join(f"{f.name} ({'/'.join(f.suffixes)})" for f in formats())
    raise FormatError(p, f"not a known event file format; known: {known}")


def open_file(path: str | os.PathLike[str], **kwargs) -> FileSource:
    """Open a recording of any known format as a :class:`FileSource`."""
    return sniff_format(path).open(path, **kwargs)
