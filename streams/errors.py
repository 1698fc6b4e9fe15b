"""Errors raised by sources and readers.

Every error names the file or source it comes from and says what is wrong, so a
user can act on it without a traceback: ``FormatError("rec.aedat4", "truncated
packet header at byte 1234")`` prints ``rec.aedat4: truncated packet header at
byte 1234``.
"""

from __future__ import annotations

import os


class SpikestreamError(Exception):
    """Base class of every error spikestream raises on purpose."""


class FormatError(SpikestreamError, ValueError):
    """A file or datagram does not hold what its format promises.

    Args:
        source: the path, URI or name of the offending input.
        problem: what is wrong, in words a user understands.
    """

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class SourceError(SpikestreamError, OSError):
    """A source cannot be opened or used (missing driver, port busy, bad URI)."""

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
