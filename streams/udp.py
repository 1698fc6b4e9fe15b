"""``UdpSource``: SPIF event words received over UDP, event by event.

aestream's ``UDPInput`` only gives count frames (no polarity, no time), takes at
most 128 events per datagram and keeps its port after use, so spikestream
receives UDP with its own socket and decodes the SPIF words itself (see
:mod:`.spif` for the layout).

Each iteration step waits up to ``timeout_s`` for a datagram, then drains what
else has arrived without blocking and yields it as one chunk. Without
timestamps, every event is stamped with the receiver's monotonic clock (µs) at
the arrival of its datagram; with timestamps, the senders' 32-bit µs
timestamps are unwrapped into an int64 timeline. Nothing bad stops the stream:
a datagram that is not a whole number of events is dropped and counted in
``counters["malformed_datagrams"]``, event words whose no-timestamp bit
contradicts the mode in ``counters["malformed_words"]``, events outside the
sensor in ``counters["dropped_out_of_range"]``.

The iteration ends when :meth:`close` is called (from any thread: it returns
within about ``timeout_s``), when ``idle_timeout_s`` passes without a datagram
(only if set), or when spikestream's own sender sends
:data:`~.spif.END_MARKER` (real SPIF senders never do).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .errors import SourceError
from .events import SensorSize, empty_events, out_of_sensor
from .source import Source
from .spif import END_MARKER, TimestampUnwrapper, bytes_per_event, decode_spif

DEFAULT_PORT = 3333
"""SPIF's (and aestream's) usual UDP port."""

MAX_DATAGRAM_BYTES = 65536
"""Largest datagram read (the UDP maximum)."""

DEFAULT_RCVBUF_BYTES = 4 << 20
"""Requested kernel receive buffer; Linux caps it at ``net.core.rmem_max``."""


def _parse_sensor(text: str, uri: str) -> SensorSize:
    parts = text.lower().split("x")
    try:
        dims = [int(v) for v in parts]
    except ValueError:
        dims = []
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise SourceError(uri, f"sensor={text!r}: give WIDTHxHEIGHT (e.g. 128x128) or WxHxP")
    return (dims[0], dims[1], dims[2] if len(dims) == 3 else 2)


def _parse_bool(text: str, key: str, uri: str) -> bool:
    v = text.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise SourceError(uri, f"{key}={text!r}: give 1 or 0")


class UdpSource(Source):
    """Live events from SPIF datagrams on a UDP port.

    Args:
        host: address to bind (``"127.0.0.1"``: this machine only; ``"0.0.0.0"``:
            every interface).
        port: UDP port; 0 picks a free one (read it back from :attr:`port`).
        sensor_size: ``(width, height, polarities)`` of the sending camera.
        with_timestamps: the sender appends a 32-bit µs timestamp to every event.
        timeout_s: longest blocking wait per step; also how soon :meth:`close`
            from another thread takes effect.
        idle_timeout_s: end the iteration after this long without a datagram
            (``None``: wait until closed).
        rcvbuf_bytes: kernel receive buffer to request (``SO_RCVBUF``).
        max_datagrams_per_chunk: largest number of datagrams drained into one chunk.
        clock_ns: monotonic clock (ns) used to stamp arrivals.

    Raises:
        SourceError: the port cannot be bound.
    """

    live = True

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        sensor_size: SensorSize,
        with_timestamps: bool = False,
        timeout_s: float = 0.05,
        idle_timeout_s: float | None = None,
        rcvbuf_bytes: int = DEFAULT_RCVBUF_BYTES,
        max_datagrams_per_chunk: int = 1024,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        name: str | None = None,
    ) -> None:
        super().__init__()
        w, h, npol = (int(v) for v in sensor_size)
        if w < 1 or h < 1 or npol < 1:
            raise ValueError(f"sensor_size must be positive, got {sensor_size}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.sensor_size = (w, h, npol)
        self.host = host
        self.with_timestamps = bool(with_timestamps)
        self.timeout_s = float(timeout_s)
        self.idle_timeout_s = idle_timeout_s
        self.max_datagrams_per_chunk = int(max_datagrams_per_chunk)
        self._clock_ns = clock_ns
        self._unwrap = TimestampUnwrapper()
        self._lock = threading.Lock()
        self.name = name or f"udp://{host}:{port}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(rcvbuf_bytes))
            sock.bind((host, int(port)))
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            raise SourceError(self.name, f"cannot listen on UDP {host}:{port}: {e}") from e
        self._sock: socket.socket | None = sock
        self.port: int = sock.getsockname()[1]
        self.name = name or f"udp://{host}:{self.port}"
        self.rcvbuf_bytes: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        """The receive buffer the kernel granted (Linux reports twice the request)."""

    @classmethod
    def from_uri(cls, uri: str, **kwargs) -> UdpSource:
        """Open ``udp://HOST:PORT?sensor=WxH&timestamps=1&idle_timeout_s=2``.

        Keyword arguments override the query. ``sensor`` (or ``sensor_size=``)
        is required: a UDP stream does not say how big its camera is.
        """
        parts = urlsplit(uri)
        if parts.scheme != "udp":
            raise SourceError(uri, "not a udp:// URI")
        try:
            port = parts.port
        except ValueError as e:
            raise SourceError(uri, f"bad port: {e}") from None
        opts: dict = {"host": parts.hostname or "127.0.0.1"}
        opts["port"] = DEFAULT_PORT if port is None else port
        known = {"sensor", "timestamps", "timeout_s", "idle_timeout_s"}
        for key, values in parse_qs(parts.query, keep_blank_values=True).items():
            value = values[-1]
            if key not in known:
                raise SourceError(uri, f"unknown option {key!r}; known: {', '.join(sorted(known))}")
            if key == "sensor":
                opts["sensor_size"] = _parse_sensor(value, uri)
            elif key == "timestamps":
                opts["with_timestamps"] = _parse_bool(value, key, uri)
            else:
                try:
                    opts[key] = float(value)
                except ValueError:
                    raise SourceError(uri, f"{key}={value!r} is not a number") from None
        opts.update(kwargs)
        if "sensor_size" not in opts:
            raise SourceError(uri, "give the sensor size: udp://HOST:PORT?sensor=WIDTHxHEIGHT")
        opts.setdefault("name", uri)
        return cls(**opts)

    def _bounded(self, ev: np.ndarray, offset: int) -> np.ndarray:
        bad = out_of_sensor(ev, self.sensor_size)
        if bad.any():
            self.counters["dropped_out_of_range"] += int(bad.sum())
            ev = ev[~bad]
        return ev

    def _receive(self, sock: socket.socket) -> tuple[list[bytes], list[int], bool]:
        """Wait up to ``timeout_s``, then drain. Returns datagrams, their
        arrival times (µs) and whether the end marker came."""
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        if not poller.poll(self.timeout_s * 1000):
            return [], [], False
        data: list[bytes] = []
        stamps: list[int] = []
        while len(data) < self.max_datagrams_per_chunk:
            try:
                d = sock.recv(MAX_DATAGRAM_BYTES)
            except BlockingIOError:
                break
            if d == END_MARKER:
                return data, stamps, True
            data.append(d)
            stamps.append(self._clock_ns() // 1000)
        return data, stamps, False

    def _decode(self, data: list[bytes], stamps: list[int]) -> np.ndarray:
        size = bytes_per_event(self.with_timestamps)
        good = [(d, s) for d, s in zip(data, stamps, strict=True) if len(d) % size == 0]
        self.counters["datagrams"] += len(data)
        self.counters["malformed_datagrams"] += len(data) - len(good)
        if not good:
            return empty_events()
        payload = b"".join(d for d, _ in good)
        if self.with_timestamps:
            t: int | np.ndarray = 0
        else:
            t = np.repeat(
                np.array([s for _, s in good], dtype=np.int64),
                [len(d) // size for d, _ in good],
            )
        dec = decode_spif(payload, self.with_timestamps, t, source=self.name)
        self.counters["malformed_words"] += dec.malformed_words
        ev = dec.events
        if self.with_timestamps and len(ev):
            ev["t"] = self._unwrap(ev["t"])
        return ev

    def _chunks(self) -> Iterator[np.ndarray]:
        last_arrival = time.monotonic()
        while not self._closed:
            with self._lock:
                sock = self._sock
                if sock is None:
                    return
                data, stamps, ended = self._receive(sock)
            if data:
                last_arrival = time.monotonic()
                yield self._decode(data, stamps)
            if ended:
                self.counters["end_markers"] += 1
                return
            if (
                not data
                and self.idle_timeout_s is not None
                and time.monotonic() - last_arrival >= self.idle_timeout_s
            ):
                return

    def close(self) -> None:
        """Release the port now; an iteration in another thread ends within
        ``timeout_s``."""
        self._closed = True
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
        for it in self._open_iters:
            try:
                it.close()  # type: ignore[attr-defined]
            except ValueError:  # running in another thread: it sees _closed
                pass
        self._open_iters.clear()
