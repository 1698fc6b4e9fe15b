"""``WindowFeed``: a source's windows made on a reader thread, taken with a timeout.

The reader thread reads the source, cuts it into ``dt_us`` windows
(:class:`~spikestream.streams.windowing.Windower`) and puts them into a bounded
queue: a recording blocks the reader when the queue is full (nothing dropped); a live
source drops the oldest window and counts it (the engine stays current, as
:mod:`spikestream.runtime.overload` does for ``Engine.run``). Unlike
``runtime.overload.WindowQueue.get``, :meth:`WindowFeed.get` waits at most
``timeout_s``, so the GUI worker can wait for a window and for the user's commands
alike. :meth:`close` stops the reader and closes the source (files, sockets).
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from ..streams.windowing import EventWindow, Windower

END = object()
"""Returned by :meth:`WindowFeed.get` once the stream has ended."""


class WindowFeed:
    """Windows of ``source`` from a reader thread.

    Args:
        source: an open :class:`~spikestream.streams.source.Source`.
        dt_us: window length, µs.
        maxsize: windows held (the reader runs at most this far ahead).
    """

    def __init__(self, source: Any, dt_us: int, maxsize: int = 64) -> None:
        self.source = source
        self.live = bool(getattr(source, "live", False))
        self.maxsize = int(maxsize)
        self.dropped = 0
        self.error: BaseException | None = None
        self.windower = Windower(dt_us, source=str(getattr(source, "name", "<stream>")))
        self._items: deque[EventWindow] = deque()
        self._cond = threading.Condition()
        self._ended = False
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="spikestream-gui-reader",
                                        daemon=True)
        self._thread.start()

    @property
    def counters(self) -> Counter[str]:
        """The source's and the windower's counters together."""
        c: Counter[str] = Counter(getattr(self.source, "counters", {}))
        for k, v in self.windower.counters.items():
            c[f"window_{k}"] = v
        return c

    def _read(self) -> None:
        try:
            for w in self.windower.stream(iter(self.source)):
                if not self._put(w):
                    return
        except BaseException as e:  # handed to the consumer
            if not self._closed:
                self.error = e
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _put(self, w: EventWindow) -> bool:
        with self._cond:
            while len(self._items) >= self.maxsize and not self._closed:
                if self.live:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._cond.wait()
            if self._closed:
                return False
            self._items.append(w)
            self._cond.notify_all()
            return True

    def get(self, timeout_s: float) -> EventWindow | object | None:
        """The next window; None if none came within ``timeout_s``; :data:`END` once
        the stream ended (re-raises the reader's error then)."""
        with self._cond:
            if not self._items and not self._ended:
                self._cond.wait(timeout_s)
            if self._items:
                w = self._items.popleft()
                self._cond.notify_all()
                return w
            if self._ended:
                if self.error is not None:
                    err, self.error = self.error, None
                    raise err
                return END
            return None

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the reader and close the source (releases files and sockets)."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
        if self.live:  # a live reader waits in the socket: closing it ends the read
            self.source.close()
        self._thread.join(timeout_s)
        self.source.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
