"""``WindowFeed``: a source's windows made on a reader thread, taken with a timeout.

The reader thread reads the source, cuts it into ``dt_us`` windows
(:class:`~spikestream.streams.windowing.Windower`) and puts them into the runtime's
bounded :class:`~spikestream.runtime.overload.WindowQueue`: a recording blocks the
reader when the queue is full (nothing dropped); a live source drops the oldest window
and counts it (the engine stays current, as ``Engine.run`` does). :meth:`WindowFeed.get`
waits at most ``timeout_s``, so the GUI worker can wait for a window and for the user's
commands alike. :meth:`close` stops the reader and closes the source (files, sockets).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ..runtime.overload import QueueClosed, WindowQueue
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
        self.windower = Windower(dt_us, source=str(getattr(source, "name", "<stream>")))
        self._queue: WindowQueue[EventWindow] = WindowQueue(
            int(maxsize), "drop_oldest" if self.live else "block")
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

    @property
    def dropped(self) -> int:
        """Windows dropped because the engine fell behind a live source."""
        return self._queue.dropped

    def _read(self) -> None:
        error: BaseException | None = None
        try:
            for w in self.windower.stream(iter(self.source)):
                self._queue.put(w)
        except QueueClosed:  # the consumer closed the feed
            return
        except BaseException as e:  # handed to the consumer
            error = e
        self._queue.end(error)

    def get(self, timeout_s: float) -> EventWindow | object | None:
        """The next window; None if none came within ``timeout_s``; :data:`END` once
        the stream ended (re-raises the reader's error then)."""
        try:
            got = self._queue.get(timeout_s)
        except TimeoutError:
            return None
        return END if got is None else got[0]

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the reader and close the source (releases files and sockets)."""
        self._queue.close()
        if self.live:  # a live reader waits in the socket: closing it ends the read
            self.source.close()
        self._thread.join(timeout_s)
        self.source.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
