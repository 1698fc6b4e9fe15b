"""What the windower hands out: :class:`EventWindow` steps, in :class:`WindowBatch` es.

A batch holds the windows one ``Windower.push`` completed as blocks of consecutive
windows of one epoch (their events, sorted, and where each non-empty window starts
and ends); empty windows are made on the fly while iterating, so a long silence
costs time to walk through but no memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from .events import empty_events

_EMPTY = empty_events()
_EMPTY.flags.writeable = False


class EventWindow(NamedTuple):
    """One step of the stream.

    Attributes:
        t_start_us, t_end_us: the half-open window ``[t_start_us, t_end_us)``, µs.
        events: ``(N,)`` :data:`EVENT_DTYPE`, time-ordered, all inside the window;
            ``N`` may be 0 (an empty window is still a step).
        index: step number since the stream started (all epochs; skipped gap
            windows are counted, so the index is the step's place in time).
        epoch: 0, then +1 at every timestamp reset.
    """

    t_start_us: int
    t_end_us: int
    events: np.ndarray
    index: int
    epoch: int = 0


class WindowBlock(NamedTuple):
    """``n`` consecutive windows of one epoch, empty ones made on the fly."""

    index: int  # step index of the first window
    epoch: int
    t_start_us: int
    dt_us: int
    n: int  # windows on the grid, skipped ones included
    n_out: int  # windows emitted
    events: np.ndarray  # sorted, all in [t_start_us, t_start_us + n*dt_us)
    nonempty: list[int]  # local ids of the non-empty windows
    lo: list[int]
    hi: list[int]
    run0: int  # empty windows emitted just before this block
    max_gap: int | None


def make_block(
    index: int, epoch: int, t_start_us: int, dt_us: int, n: int, events: np.ndarray,
    run0: int, max_gap: int | None,
) -> tuple[WindowBlock, int, int, int]:  # fmt: skip
    """Build a block; return it, the empty run after it, windows skipped, gaps begun.

    Args:
        events: ``(N,)`` sorted, all in ``[t_start_us, t_start_us + n*dt_us)``.
        run0: empty windows emitted just before (for ``max_gap``).
    """
    t = events["t"]
    m = len(t)
    if n == 1 or m == 0:  # one window (live pushes, flush) or pure silence
        nonempty, lo, hi = ([0], [0], [m]) if m else ([], [], [])
    elif n <= 4 * m + 16:  # dense: cut at the grid edges
        edges = t_start_us + dt_us * np.arange(1, n, dtype=np.int64)
        bounds = [0, *np.searchsorted(t, edges, side="left").tolist(), m]
        nonempty = [k for k in range(n) if bounds[k] < bounds[k + 1]]
        lo = [bounds[k] for k in nonempty]
        hi = [bounds[k + 1] for k in nonempty]
    else:  # sparse (a long silence): cut where the window id changes
        ids = (t - t_start_us) // dt_us
        change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        lo = [0, *change.tolist()]
        hi = [*change.tolist(), m]
        nonempty = ids[lo].tolist()
    skipped = gaps = 0
    before, prev = run0, -1  # empty windows already counted before the current run
    for k in (*nonempty, n):
        run = before + k - prev - 1
        if max_gap is not None and run > max_gap:
            skipped += run - max(before, max_gap)
            gaps += before <= max_gap
        before, prev = 0, k
    blk = WindowBlock(
        index, epoch, t_start_us, dt_us, n, n - skipped, events, nonempty, lo, hi, run0, max_gap
    )
    return blk, run, skipped, gaps


def _iter_block(b: WindowBlock) -> Iterator[EventWindow]:
    ev, dt, ts, idx, ep = b.events, b.dt_us, b.t_start_us, b.index, b.epoch
    m = len(b.nonempty)
    run, k, j = b.run0, 0, 0
    while k < b.n:
        nk = b.nonempty[j] if j < m else b.n
        if nk > k:
            emit = nk - k if b.max_gap is None else max(0, min(nk - k, b.max_gap - run))
            for q in range(k, k + emit):
                yield EventWindow(ts + q * dt, ts + (q + 1) * dt, _EMPTY, idx + q, ep)
            run += nk - k
        if j < m:
            yield EventWindow(ts + nk * dt, ts + (nk + 1) * dt, ev[b.lo[j] : b.hi[j]], idx + nk, ep)
            run, j = 0, j + 1
        k = nk + 1


class WindowBatch:
    """The windows one ``push``/``flush`` made complete, in order.

    Iterable and sized like a list (``len``, ``for``, ``list(batch)``); empty
    windows are made on the fly, so an hour of silence costs no memory.
    """

    __slots__ = ("_blocks", "_len")

    def __init__(self, blocks: list[WindowBlock]) -> None:
        self._blocks = blocks
        self._len = sum(b.n_out for b in blocks)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[EventWindow]:
        for b in self._blocks:
            yield from _iter_block(b)

    @property
    def n_events(self) -> int:
        """Events in all these windows."""
        return sum(len(b.events) for b in self._blocks)

    def __repr__(self) -> str:
        return f"WindowBatch({self._len} windows, {self.n_events} events)"
