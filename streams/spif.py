"""SPIF event words: how events travel over UDP to and from SpiNNaker and aestream.

Layout of one event word, a 32-bit unsigned integer in the sender's byte order
(little-endian on every machine aestream runs on; we always use ``<u4``):

====== ============ =======================================
bits   field        meaning
====== ============ =======================================
31     no-timestamp 1: no timestamp follows; 0: one follows
30..16 x            15-bit x coordinate
15     polarity     1 ON, 0 OFF
14..0  y            15-bit y coordinate
====== ============ =======================================

With timestamps, every event word (bit 31 clear) is followed by a second
32-bit word holding the event's timestamp in µs, truncated to 32 bits (it wraps
every 2**32 µs ≈ 71.6 min); an event then takes 8 bytes. Without, an event is
one word with bit 31 set. A datagram is a plain array of such words, no header,
no sequence number (a lost datagram cannot be detected).

Sources: the ``spif`` event format table in SpiNNakerManchester/spif
(``spiffer/README.md``) and aestream's sender ``DVSToUDP::stream``
(``src/output/dvs_to_udp.cpp``: ``(x | 0x8000) << 16``, ``y | 0x8000`` for ON,
timestamp as the next ``uint32``, 512-byte datagrams), whose receiver
(``TensorBuffer::set_buffer``) reads ``y = lo16 & 0x7FFF``, ``x = hi16 & 0x7FFF``.

:data:`END_MARKER` is spikestream's own extension: a datagram our sender may
send last so that our receiver ends cleanly. Its length (15 bytes) is not a
multiple of 4, so it can never be mistaken for events; real SPIF senders never
send it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FormatError
from .events import EVENT_DTYPE

WORD_DTYPE = np.dtype("<u4")
"""One SPIF word on the wire."""

NO_TIMESTAMP = np.uint32(1 << 31)
"""Bit 31: set when no timestamp word follows the event word."""

POLARITY_BIT = np.uint32(1 << 15)
X_SHIFT = 16
COORD_MASK = 0x7FFF
"""x and y are 15-bit fields."""

MAX_COORD = COORD_MASK
"""Largest x or y a SPIF word can carry."""

T_WRAP_US = 1 << 32
"""32-bit µs timestamps wrap after this many µs."""

END_MARKER = b"spikestream:eos"
"""spikestream's end-of-stream datagram (not SPIF; see the module docstring)."""


def bytes_per_event(with_timestamps: bool) -> int:
    """4 bytes per event without timestamps, 8 with."""
    return 8 if with_timestamps else 4


def encode_spif(events: np.ndarray, with_timestamps: bool) -> bytes:
    """Encode events as SPIF words.

    Args:
        events: ``(N,)`` :data:`EVENT_DTYPE`; ``0 <= x, y <= 32767``, ``p`` in {0, 1},
            ``t >= 0`` µs when ``with_timestamps`` (sent modulo 2**32).
        with_timestamps: append a timestamp word to every event word.

    Returns:
        ``4 * N`` or ``8 * N`` bytes.

    Raises:
        ValueError: a coordinate, polarity or timestamp cannot be encoded.
    """
    n = len(events)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    p = events["p"].astype(np.int64)
    for name, a in (("x", x), ("y", y)):
        if n and (a.min() < 0 or a.max() > MAX_COORD):
            raise ValueError(f"encode_spif: {name} outside 0..{MAX_COORD}")
    if n and (p.min() < 0 or p.max() > 1):
        raise ValueError("encode_spif: polarity must be 0 or 1")
    word = (x.astype(np.uint32) << X_SHIFT) | y.astype(np.uint32)
    word |= np.where(p == 1, POLARITY_BIT, np.uint32(0)).astype(np.uint32)
    if not with_timestamps:
        return (word | NO_TIMESTAMP).astype(WORD_DTYPE).tobytes()
    t = events["t"]
    if n and t.min() < 0:
        raise ValueError("encode_spif: negative timestamps cannot be sent")
    out = np.empty((n, 2), dtype=WORD_DTYPE)
    out[:, 0] = word
    out[:, 1] = (t & (T_WRAP_US - 1)).astype(np.uint32)
    return out.tobytes()


@dataclass(frozen=True)
class SpifDecoded:
    """Result of :func:`decode_spif`.

    Attributes:
        events: ``(N,)`` :data:`EVENT_DTYPE`; ``t`` is the raw 32-bit timestamp
            with timestamps, else the given arrival time.
        malformed_words: events dropped because their no-timestamp bit
            contradicts the mode (counted per event, i.e. per word pair with
            timestamps).
    """

    events: np.ndarray
    malformed_words: int


def decode_spif(
    buf: bytes | bytearray | memoryview | np.ndarray,
    with_timestamps: bool,
    t_arrival_us: int | np.ndarray = 0,
    source: str = "<spif>",
) -> SpifDecoded:
    """Decode SPIF words into events.

    Args:
        buf: the payload (one datagram or several concatenated).
        with_timestamps: words come in (event, timestamp) pairs.
        t_arrival_us: without timestamps, ``t`` of every event: a scalar, or an
            ``(N,)`` array with one arrival time per event.
        source: name used in errors.

    Returns:
        :class:`SpifDecoded`. Coordinates are not checked against a sensor:
        the caller does that (and counts what it drops).

    Raises:
        FormatError: the payload length is not a whole number of events.
    """
    size = bytes_per_event(with_timestamps)
    raw = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, dtype=np.uint8)
    if raw.nbytes % size:
        raise FormatError(
            source,
            f"payload of {raw.nbytes} bytes is not a whole number of {size}-byte SPIF events",
        )
    words = raw.view(WORD_DTYPE)
    if with_timestamps:
        pairs = words.reshape(-1, 2)
        word = pairs[:, 0]
        ok = (word & NO_TIMESTAMP) == 0
    else:
        word = words
        ok = (word & NO_TIMESTAMP) != 0
    n_bad = int(len(word) - np.count_nonzero(ok))
    if n_bad:
        word = word[ok]
    ev = np.empty(len(word), dtype=EVENT_DTYPE)
    ev["x"] = (word >> X_SHIFT) & COORD_MASK
    ev["y"] = word & COORD_MASK
    ev["p"] = (word & POLARITY_BIT) != 0
    if with_timestamps:
        ev["t"] = pairs[:, 1][ok] if n_bad else pairs[:, 1]
    else:
        t = np.asarray(t_arrival_us)
        ev["t"] = t[ok] if (n_bad and t.ndim) else t
    return SpifDecoded(ev, n_bad)


class TimestampUnwrapper:
    """Turns 32-bit wrapping µs timestamps into a non-decreasing int64 timeline.

    A timestamp more than half the 32-bit range below its predecessor is taken
    as a wrap (the sender's clock passed 2**32 µs); smaller steps back are kept
    as they are. The timeline starts at the first raw value: the sender's
    epoch above 32 bits does not travel.
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._offset = 0

    def __call__(self, t32: np.ndarray) -> np.ndarray:
        """``(N,)`` raw 32-bit timestamps -> ``(N,)`` int64 µs."""
        t = np.asarray(t32, dtype=np.int64)
        if len(t) == 0:
            return t
        prev = np.empty_like(t)
        prev[0] = t[0] if self._last is None else self._last
        prev[1:] = t[:-1]
        wraps = np.cumsum((prev - t) > (T_WRAP_US >> 1))
        out = t + self._offset + wraps * T_WRAP_US
        self._offset += int(wraps[-1]) * T_WRAP_US
        self._last = int(t[-1])
        return out
