"""Pacing: release recorded events no earlier than their stream time.

A recording replayed at ``speed`` 1 looks like a live camera: an event with
timestamp ``t`` (µs) leaves :func:`pace` no earlier than
``wall0 + (t - t0) / speed`` where ``t0`` is the first event's timestamp and
``wall0`` the monotonic clock when that first event arrived at the pacer.
Speed 2 plays twice as fast; ``None`` (``"max"`` on the command line) passes
chunks through as fast as the consumer takes them.

Big chunks are cut into sub-chunks spanning at most ``granularity_us`` of
stream time, each released when its last event is due, so events arrive
smoothly (at most ``granularity_us / speed`` late by design) instead of in
one burst per file chunk. Gaps in the stream are slept through. When the
consumer is slower than the stream, the pacer never drops anything: it falls
behind and says so in :class:`PaceStats` (``lag_us``, ``max_lag_us``).

The clock and sleep are injectable, so tests drive the pacer with a fake
clock and check every release time exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

DEFAULT_GRANULARITY_US = 1000
"""Largest stream-time span (µs) of one released sub-chunk."""


@dataclass
class PaceStats:
    """What the pacer did so far (updated as chunks are released).

    Attributes:
        events: events released.
        chunks: sub-chunks released.
        lag_us: how late (wall µs, ≥ 0) the latest sub-chunk left compared with
            its due time; 0 when the pacer is keeping up.
        max_lag_us: the largest ``lag_us`` seen.
        late_chunks: sub-chunks released more than ``granularity_us`` (wall) late.
        slept_s: total time spent sleeping, seconds.
    """

    events: int = 0
    chunks: int = 0
    lag_us: float = 0.0
    max_lag_us: float = 0.0
    late_chunks: int = 0
    slept_s: float = 0.0


def parse_speed(text: str | float | None) -> float | None:
    """Parse a replay speed: ``"1"``, ``"2x"``, ``"0.5"``, ``"max"`` (or ``None``).

    Returns:
        the speed factor (> 0, finite), or ``None`` for as fast as possible.

    Raises:
        ValueError: not a positive finite number or ``"max"``.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = text.strip().lower()
        if s == "max":
            return None
        if s.endswith("x"):
            s = s[:-1]
        try:
            value = float(s)
        except ValueError:
            raise ValueError(
                f"invalid speed {text!r}: give a positive factor like 1, 2x, 0.5 or 'max'"
            ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"invalid speed {text!r}: must be > 0 and finite, or 'max'")
    return value


def split_by_time(ev: np.ndarray, t0_us: int, granularity_us: int) -> list[np.ndarray]:
    """Cut ``ev`` where ``(t - t0_us) // granularity_us`` changes.

    Args:
        ev: ``(N,)`` events, time-ordered.
        t0_us: origin of the bins (the stream's first timestamp).
        granularity_us: bin width in µs of stream time.

    Returns:
        views of ``ev``, each spanning less than ``granularity_us``.
    """
    if len(ev) == 0:
        return []
    bins = (ev["t"] - t0_us) // granularity_us
    cuts = np.flatnonzero(bins[1:] != bins[:-1]) + 1
    if len(cuts) == 0:
        return [ev]
    return np.split(ev, cuts)


class Paced(Iterator[np.ndarray]):
    """Iterator returned by :func:`pace`; its :attr:`stats` update as it runs."""

    def __init__(
        self,
        chunks: Iterable[np.ndarray],
        speed: float | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        granularity_us: int,
    ) -> None:
        if speed is not None and (not math.isfinite(speed) or speed <= 0):
            raise ValueError(f"speed must be > 0 and finite, or None; got {speed}")
        if granularity_us < 1:
            raise ValueError(f"granularity_us must be >= 1, got {granularity_us}")
        self.speed = speed
        self.granularity_us = int(granularity_us)
        self.stats = PaceStats()
        self._clock = clock
        self._sleep = sleep
        self._gen = self._run(iter(chunks))

    def __next__(self) -> np.ndarray:
        return next(self._gen)

    def close(self) -> None:
        """Stop early; the underlying iterator is released."""
        self._gen.close()

    def _run(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        st = self.stats
        if self.speed is None:
            for ev in chunks:
                if len(ev):
                    st.events += len(ev)
                    st.chunks += 1
                    yield ev
            return
        scale_s = 1e-6 / self.speed  # wall seconds per µs of stream time
        late_us = self.granularity_us
        t0: int | None = None
        wall0 = 0.0
        for ev in chunks:
            if len(ev) == 0:
                continue
            if t0 is None:
                t0 = int(ev["t"][0])
                wall0 = self._clock()
            for sub in split_by_time(ev, t0, self.granularity_us):
                due = wall0 + (int(sub["t"][-1]) - t0) * scale_s
                now = self._clock()
                while now < due:  # retried: a sleep may return early
                    self._sleep(due - now)
                    st.slept_s += due - now
                    now = self._clock()
                lag_us = max(0.0, (now - due) * 1e6)
                st.lag_us = lag_us
                st.max_lag_us = max(st.max_lag_us, lag_us)
                if lag_us > late_us:
                    st.late_chunks += 1
                st.events += len(sub)
                st.chunks += 1
                yield sub


def pace(
    chunks: Iterable[np.ndarray],
    speed: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    granularity_us: int = DEFAULT_GRANULARITY_US,
) -> Paced:
    """Release event chunks no earlier than their stream time.

    Args:
        chunks: time-ordered ``(N,)`` event chunks (:data:`EVENT_DTYPE`).
        speed: replay factor (1 = real time, 2 = twice as fast); ``None`` = as
            fast as possible (chunks pass through unchanged).
        clock: monotonic clock in seconds.
        sleep: sleeps for a number of seconds.
        granularity_us: largest stream-time span of a released sub-chunk.

    Returns:
        an iterator of non-empty sub-chunks (views of the input) with ``.stats``
        (:class:`PaceStats`).
    """
    return Paced(chunks, speed, clock, sleep, granularity_us)
