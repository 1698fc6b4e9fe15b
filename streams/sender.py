"""Send events over UDP as SPIF words, paced like a live camera.

:func:`send_events` is what ``spikestream send`` runs: it paces a recording
(:func:`~.pacing.pace`), encodes each released sub-chunk as SPIF words
(:mod:`.spif`) and sends it in datagrams of at most ``max_datagram_bytes``
(1472 by default: one Ethernet frame without IP fragmentation). aestream's own
``UDPInput`` reads only 512 bytes per datagram: to feed it, send
``max_events_per_datagram=128`` (64 with timestamps).

UDP has no flow control and SPIF no sequence numbers: a receiver that falls
behind loses datagrams without knowing. ``max_datagrams_per_s`` caps the rate
for fast replays (``speed=None``) to a receiver that must not lose any.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .errors import SourceError
from .pacing import DEFAULT_GRANULARITY_US, PaceStats, pace
from .spif import END_MARKER, bytes_per_event, encode_spif

DEFAULT_MAX_DATAGRAM_BYTES = 1472
"""Ethernet MTU 1500 minus IPv4 (20) and UDP (8) headers."""

MAX_UDP_PAYLOAD = 65507
"""The largest IPv4 UDP payload."""


@dataclass
class SendStats:
    """What :func:`send_events` sent.

    Attributes:
        events: events sent.
        datagrams: event datagrams sent (the end marker not included).
        bytes: payload bytes sent.
        wall_s: wall time from the first to the last datagram, seconds.
        end_marker: whether the end marker was sent.
        pace: the pacer's stats (lag behind the stream).
    """

    events: int = 0
    datagrams: int = 0
    bytes: int = 0
    wall_s: float = 0.0
    end_marker: bool = False
    pace: PaceStats = field(default_factory=PaceStats)


def events_per_datagram(
    with_timestamps: bool,
    max_events_per_datagram: int | None = None,
    max_datagram_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES,
) -> int:
    """Events per datagram: the given count, else as many as fit in
    ``max_datagram_bytes``.

    Raises:
        ValueError: fewer than one event, or more than a UDP payload holds.
    """
    size = bytes_per_event(with_timestamps)
    n = max_events_per_datagram if max_events_per_datagram else max_datagram_bytes // size
    if n < 1 or n * size > min(max_datagram_bytes, MAX_UDP_PAYLOAD):
        raise ValueError(
            f"{n} events of {size} bytes do not fit in a datagram of at most "
            f"{min(max_datagram_bytes, MAX_UDP_PAYLOAD)} bytes"
        )
    return n


def looped(source: Iterable[np.ndarray], passes: int | None = None) -> Iterator[np.ndarray]:
    """Replay a re-iterable source ``passes`` times (``None``: forever), shifting
    each pass's timestamps so that time keeps increasing: a pass starts 1 µs
    after the previous one's last event.

    Args:
        source: iterable of ``(N,)`` event chunks that can be iterated again.
        passes: number of passes, or ``None`` for endless.
    """
    offset = 0
    next_start: int | None = None
    done = 0
    while passes is None or done < passes:
        seen = False
        last = 0
        for ev in source:
            if len(ev) == 0:
                continue
            if not seen:
                seen = True
                if next_start is not None:
                    offset = next_start - int(ev["t"][0])
            last = int(ev["t"][-1])
            if offset:
                ev = ev.copy()
                ev["t"] += offset
            yield ev
        if not seen:
            return  # an empty source would loop forever
        next_start = last + offset + 1
        done += 1


def _as_chunks(source_or_chunks) -> tuple[Iterable[np.ndarray], bool]:
    if isinstance(source_or_chunks, np.ndarray):
        return [source_or_chunks], False
    return source_or_chunks, bool(getattr(source_or_chunks, "live", False))


def send_events(
    source_or_chunks: Iterable[np.ndarray] | np.ndarray,
    host: str = "127.0.0.1",
    port: int = 3333,
    speed: float | None = 1.0,
    with_timestamps: bool = False,
    *,
    max_events_per_datagram: int | None = None,
    max_datagram_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES,
    max_datagrams_per_s: float | None = None,
    end_marker: bool = False,
    granularity_us: int = DEFAULT_GRANULARITY_US,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SendStats:
    """Send events to ``host:port`` as SPIF datagrams, paced.

    Args:
        source_or_chunks: a :class:`~.source.Source`, any iterable of ``(N,)``
            event chunks, or one event array. A live source is not paced again.
        host, port: where to send.
        speed: replay factor (1 = real time); ``None`` = as fast as possible.
        with_timestamps: send a 32-bit µs timestamp word after every event word.
        max_events_per_datagram: events per datagram (default: as many as fit
            in ``max_datagram_bytes``).
        max_datagram_bytes: payload limit per datagram.
        max_datagrams_per_s: cap on the send rate (``None``: none).
        end_marker: finish with spikestream's end-of-stream datagram.
        granularity_us: pacing granularity (see :func:`~.pacing.pace`).
        stop: when set (from another thread), sending stops after the current
            sub-chunk.
        clock, sleep: monotonic clock (s) and sleep, injectable for tests.

    Returns:
        :class:`SendStats`.

    Raises:
        SourceError: the socket cannot send to ``host:port``.
        ValueError: bad datagram size or speed, or an event SPIF cannot carry.
    """
    per = events_per_datagram(with_timestamps, max_events_per_datagram, max_datagram_bytes)
    step = per * bytes_per_event(with_timestamps)
    if max_datagrams_per_s is not None and not (
        math.isfinite(max_datagrams_per_s) and max_datagrams_per_s > 0
    ):
        raise ValueError(f"max_datagrams_per_s must be > 0, got {max_datagrams_per_s}")
    chunks, live = _as_chunks(source_or_chunks)
    paced = pace(chunks, None if live else speed, clock, sleep, granularity_us)
    stats = SendStats(pace=paced.stats)
    target = (host, int(port))
    name = f"udp://{host}:{port}"
    t_start: float | None = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            for sub in paced:
                if t_start is None:
                    t_start = clock()
                payload = memoryview(encode_spif(sub, with_timestamps))
                for i in range(0, len(payload), step):
                    if max_datagrams_per_s is not None:
                        due = t_start + stats.datagrams / max_datagrams_per_s
                        ahead = due - clock()
                        if ahead > 1e-3:  # sleep in bursts, not per datagram
                            sleep(ahead)
                    part = payload[i : i + step]
                    sock.sendto(part, target)
                    stats.datagrams += 1
                    stats.bytes += len(part)
                stats.events += len(sub)
                if stop is not None and stop.is_set():
                    break
            if t_start is not None:
                stats.wall_s = clock() - t_start
            if end_marker:
                sock.sendto(END_MARKER, target)
                stats.end_marker = True
        except OSError as e:
            raise SourceError(name, f"cannot send: {e}") from e
        finally:
            paced.close()
    return stats
