"""Overload policy: a bounded queue between a live source's reader thread and the engine.

When the engine computes slower than a live source produces windows, something must
give. :class:`WindowQueue` holds at most ``maxsize`` windows and either drops the
oldest (``"drop_oldest"``: the engine stays current, the dropped windows are counted)
or blocks the producer (``"block"``: nothing is dropped here; the source falls behind
and a live source then drops, and counts, on its side). Nothing is dropped silently:
:attr:`WindowQueue.dropped` counts every window thrown away.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
OverloadPolicy = Literal["drop_oldest", "block"]
POLICIES = ("drop_oldest", "block")


class QueueClosed(Exception):
    """``put`` on a closed queue (the consumer stopped)."""


class WindowQueue(Generic[T]):
    """Bounded, thread-safe FIFO with an explicit overload policy.

    Args:
        maxsize: most items held (>= 1).
        policy: ``"drop_oldest"`` or ``"block"``.
    """

    def __init__(self, maxsize: int = 64, policy: OverloadPolicy = "drop_oldest") -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        if policy not in POLICIES:
            raise ValueError(f"unknown overload policy {policy!r}; known: {', '.join(POLICIES)}")
        self.maxsize, self.policy = maxsize, policy
        self.dropped = 0
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._ended = False
        self._error: BaseException | None = None

    def put(self, item: T) -> None:
        """Add ``item``; when full, drop the oldest (counted) or wait for room."""
        with self._cond:
            if self._closed:
                raise QueueClosed
            if len(self._items) >= self.maxsize:
                if self.policy == "drop_oldest":
                    self._items.popleft()
                    self.dropped += 1
                else:
                    while len(self._items) >= self.maxsize and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        raise QueueClosed
            self._items.append(item)
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """The producer is done (or failed with ``error``, re-raised to the consumer)."""
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    def get(self, timeout_s: float | None = None) -> tuple[T, int] | None:
        """Next item and the drop count so far; None once the producer ended and the
        queue is empty. Re-raises the producer's error. With ``timeout_s``, waits at
        most that long and raises ``TimeoutError`` if nothing came."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._ended, timeout_s):
                raise TimeoutError(f"no item within {timeout_s} s")
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item, self.dropped
            if self._error is not None:
                raise self._error
            return None

    def close(self) -> None:
        """The consumer stops: a blocked or later ``put`` raises :class:`QueueClosed`."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


def threaded(items: Iterable[T], maxsize: int = 64,
             policy: OverloadPolicy = "drop_oldest") -> Iterator[tuple[T, int]]:
    """Produce ``items`` on a reader thread through a :class:`WindowQueue`.

    Yields ``(item, dropped_so_far)``. Closing the generator stops the reader at its
    next item; an exception in the reader is re-raised here.
    """
    q: WindowQueue[T] = WindowQueue(maxsize, policy)

    def reader() -> None:
        try:
            for it in items:
                q.put(it)
        except QueueClosed:
            pass
        except BaseException as e:  # handed to the consumer
            q.end(e)
            return
        q.end()

    th = threading.Thread(target=reader, name="spikestream-reader", daemon=True)
    th.start()
    try:
        while (got := q.get()) is not None:
            yield got
    finally:
        q.close()
        th.join(timeout=1.0)
