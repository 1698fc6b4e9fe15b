"""A per-batch progress line for the training loop, on a terminal only.

On a TTY, :class:`ProgressBar` rewrites one line with a carriage return after each
batch: ``epoch 3/20 [#####.....] 12/40  loss 0.0412  acc 81.2%  4,210 ev/s  ETA 9 s``
(running means over the epoch so far; ETA = time per batch so far x batches left
in the epoch), at most every ``min_interval_s`` (the last batch always draws);
:meth:`ProgressBar.end` ends the line with a newline after the epoch's last batch,
and the loop's epoch line follows below it. Anywhere else (a pipe, a file, a test's
captured output) it writes nothing, so logs keep only the epoch lines.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """One carriage-return line of batch progress (module docstring).

    Args:
        stream: where to write (default ``sys.stdout``, looked up when writing).
        enabled: force on/off; None = whether ``stream`` is a TTY.
        min_interval_s: least time between two redraws, s.
        width: bar cells.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 min_interval_s: float = 0.1, width: int = 20) -> None:
        self._stream = stream
        self.enabled = enabled
        self.min_interval_s = min_interval_s
        self.width = width
        self._last = float("-inf")
        self._shown = 0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def active(self) -> bool:
        """Whether it writes (forced, or the stream is a TTY)."""
        if self.enabled is not None:
            return self.enabled
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def line(self, epoch: int, epochs: int, batch: int, n_batches: int, loss: float,
             accuracy: float, events_per_s: float, elapsed_s: float) -> str:
        """The text for ``batch`` (1-based) of ``n_batches`` after ``elapsed_s`` s."""
        filled = self.width * batch // max(n_batches, 1)
        eta = elapsed_s / max(batch, 1) * (n_batches - batch)
        return (f"epoch {epoch}/{epochs} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{batch}/{n_batches}  loss {loss:.4f}  acc {100 * accuracy:.1f}%  "
                f"{events_per_s:,.0f} ev/s  ETA {eta:.0f} s")

    def update(self, epoch: int, epochs: int, batch: int, n_batches: int, loss: float,
               accuracy: float, events_per_s: float, elapsed_s: float) -> None:
        """Redraw (throttled; the last batch always draws)."""
        if not self.active():
            return
        now = time.perf_counter()
        if batch < n_batches and now - self._last < self.min_interval_s:
            return
        self._last = now
        text = self.line(epoch, epochs, batch, n_batches, loss, accuracy, events_per_s,
                         elapsed_s)
        pad = " " * max(0, self._shown - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._shown = len(text)

    def end(self) -> None:
        """Finish the line drawn (a newline; the next update starts a new line)."""
        if self._shown and self.active():
            self.stream.write("\n")
            self.stream.flush()
        self._shown = 0
        self._last = float("-inf")

    def clear(self) -> None:
        """Wipe the line (before an epoch line is logged)."""
        if self._shown and self.active():
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
        self._shown = 0
