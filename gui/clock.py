"""``StreamClock``: when the next window of a recording is due, with pause and speed.

:func:`spikestream.streams.pacing.pace` paces a whole stream at one fixed speed and
sleeps inside the iteration; an interactive player must pause, single-step and change
speed mid-stream without ever blocking on a sleep. The GUI worker therefore paces at
window granularity with this clock: window ``[t_start_us, t_end_us)`` is stepped no
earlier than :meth:`StreamClock.due` of ``t_end_us`` (a window is complete at its
end, as from a live camera). Every play, resume or speed change re-anchors the clock
at the last stepped window, so a pause never turns into a burst afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StreamClock:
    """Maps stream time (µs) to the monotonic wall clock (s) at a given speed.

    Args:
        speed: stream seconds per wall second; None = as fast as possible.
        clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, speed: float | None = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._clock = clock
        self._wall0: float | None = None
        self._t0_us = 0

    def anchor(self, t_us: int) -> None:
        """Stream time ``t_us`` is now: the next window ending at ``t_us`` is due now."""
        self._wall0 = self._clock()
        self._t0_us = int(t_us)

    def unanchor(self) -> None:
        """Forget the anchor (paused, or speed changed): the next :meth:`due` anchors."""
        self._wall0 = None

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self.unanchor()

    def due(self, t_us: int) -> float:
        """Wall time (s, of ``clock``) at which stream time ``t_us`` is due; anchors
        at ``t_us`` when unanchored (so the first window after a pause is due now)."""
        if self.speed is None:
            return float("-inf")
        if self._wall0 is None:
            self.anchor(t_us)
        assert self._wall0 is not None
        return self._wall0 + (int(t_us) - self._t0_us) * 1e-6 / self.speed

    def wait_s(self, t_us: int) -> float:
        """Seconds of wall time until ``t_us`` is due (<= 0: due now)."""
        return self.due(t_us) - self._clock()
