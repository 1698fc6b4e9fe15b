"""Prophesee ``.raw`` recordings in EVT 2.0 and EVT 3.0, decoded by numba kernels.

A ``.raw`` file is an ASCII header of ``% key value`` lines (``% evt 3.0``,
``% format EVT3;height=720;width=1280``, ``% geometry 640x480``,
``% system_ID 48``...), optionally closed by ``% end``, then little-endian words:
32-bit for EVT 2.0, 16-bit for EVT 3.0 (Prophesee's format documentation).

The body is streamed in blocks of ``block_words`` words; the decoder state (time
high, wrap count, last y, vector base x and polarity, last timestamp) lives in a
small int64 array carried from block to block, so a block boundary may fall
anywhere between words. Memory stays bounded for any file size.

Timestamps:
- EVT 2.0: ``t = (time_high << 6) | t_low6``; time high has 28 bits, so it wraps
  every 2**34 µs (~4.8 h); a backward jump of time high by more than half its
  range counts as a wrap.
- EVT 3.0: ``t = (time_high << 12) | time_low``; time high has 12 bits of 4096 µs,
  so it wraps every 2**24 µs (~16.8 s); same half-range rule.
Any smaller step back in time (a corrupt word) is clamped to the last timestamp
and counted in ``counters["t_clamped"]``, so the stream stays time-ordered (as
faery does). A ``% t0 N`` header line (faery writes one when it shifts a
recording to start at 0) adds ``N`` µs to every timestamp. External triggers,
``OTHERS``/``CONTINUED`` words and unknown word types are skipped and counted
(``ext_triggers``, ``other_words``, ``unknown_words``).

Sensor size: from ``% format ...;width=W;height=H`` or ``% geometry WxH``; old
headers without either are resolved as Prophesee's own software does, from
``% system_ID`` (for files whose integrator is Prophesee) or
``% sensor_generation``; else from the ``sensor_size=`` argument; else a
:class:`FormatError` asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numba import njit

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import FileFormat
from ..source import FileSource
from ._prophesee_header import (
    geometry_from_header,
    header_t0,
    raw_encoding,
    read_header_bytes,
    sniff_header,
    system_info,
)

DEFAULT_BLOCK_WORDS = 1 << 20
"""Words read from the file per block (4 MiB of EVT 2.0, 2 MiB of EVT 3.0)."""

# Decoder state slots (one int64 array carried across blocks).
_TH, _TL, _WRAP, _LAST_T, _Y, _BASE_X, _POL = 0, 1, 2, 3, 4, 5, 6
_N_CLAMPED, _N_TRIG, _N_OTHER, _N_UNKNOWN = 7, 8, 9, 10
_MAX_X, _MAX_Y = 11, 12  # largest x (as uint16) and y written by the last call
_N_STATE = 13
_COUNTERS = {
    "t_clamped": _N_CLAMPED,
    "ext_triggers": _N_TRIG,
    "other_words": _N_OTHER,
    "unknown_words": _N_UNKNOWN,
}


@njit(cache=True)
def decode_evt2(words, i, out, target, st):  # pragma: no cover - numba
    """Decode EVT 2.0 ``words`` (uint32) from index ``i`` into ``out`` (EVENT_DTYPE).

    Stops after ``target`` events (``out`` holds at least that many) or at the
    end of ``words``. ``st`` (int64 state) is updated in place.
    Returns ``(n_events, next_word_index)``.
    """
    n = 0
    n_words = words.shape[0]
    th = st[_TH]
    wrap = st[_WRAP]
    last_t = st[_LAST_T]
    mx = my = 0
    while i < n_words and n < target:
        w = np.int64(words[i])
        kind = w >> 28
        if kind <= 1:
            tt = wrap + (th << 6) + ((w >> 22) & 0x3F)
            if tt < last_t:
                tt = last_t
                st[_N_CLAMPED] += 1
            last_t = tt
            x = (w >> 11) & 0x7FF
            y = w & 0x7FF
            mx = max(mx, x)
            my = max(my, y)
            e = out[n]  # record stores: faster than four strided field views
            e.t = tt
            e.x = x
            e.y = y
            e.p = kind
            n += 1
        elif kind == 0x8:
            new_th = w & 0x0FFFFFFF
            if new_th < th and th - new_th > (1 << 27):
                wrap += np.int64(1) << 34
            th = new_th
        elif kind == 0xA:
            st[_N_TRIG] += 1
        elif kind >= 0xE:
            st[_N_OTHER] += 1
        else:
            st[_N_UNKNOWN] += 1
        i += 1
    st[_TH] = th
    st[_WRAP] = wrap
    st[_LAST_T] = last_t
    st[_MAX_X] = mx
    st[_MAX_Y] = my
    return n, i


@njit(cache=True)
def decode_evt3(words, i, out, target, st):  # pragma: no cover - numba
    """Decode EVT 3.0 ``words`` (uint16) from index ``i`` into ``out`` (EVENT_DTYPE).

    Stops once at least ``target`` events are written (``out`` must hold
    ``target + 11``: one vector word yields up to 12) or at the end of ``words``.
    Returns ``(n_events, next_word_index)``.
    """
    n = 0
    n_words = words.shape[0]
    th = st[_TH]
    tl = st[_TL]
    wrap = st[_WRAP]
    last_t = st[_LAST_T]
    cy = st[_Y]
    bx = st[_BASE_X]
    bpol = st[_POL]
    tt = wrap + (th << 12) + tl
    if tt < last_t:
        tt = last_t
    mx = my = 0
    while i < n_words and n < target:
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0x0:
            cy = w & 0x7FF
        elif kind == 0x2:
            mx = max(mx, w & 0x7FF)
            my = max(my, cy)
            e = out[n]
            e.t = tt
            e.x = w & 0x7FF
            e.y = cy
            e.p = (w >> 11) & 1
            n += 1
        elif kind == 0x3:
            bx = w & 0x7FF
            bpol = (w >> 11) & 1
        elif kind == 0x4 or kind == 0x5:
            nbits = 12 if kind == 0x4 else 8
            for b in range(nbits):
                if (w >> b) & 1:
                    mx = max(mx, (bx + b) & 0xFFFF)  # as stored in int16, read unsigned
                    my = max(my, cy)
                    e = out[n]
                    e.t = tt
                    e.x = bx + b
                    e.y = cy
                    e.p = bpol
                    n += 1
            bx += nbits
        elif kind == 0x6 or kind == 0x8:
            v = w & 0xFFF
            if kind == 0x6:
                tl = v
            elif v != th:
                if v < th and th - v >= 2048:
                    wrap += np.int64(1) << 24
                th = v
                tl = 0
            new_t = wrap + (th << 12) + tl
            if new_t < last_t:
                new_t = last_t
                st[_N_CLAMPED] += 1
            tt = new_t
            last_t = new_t
        elif kind == 0xA:
            st[_N_TRIG] += 1
        elif kind == 0x7 or kind >= 0xE:
            st[_N_OTHER] += 1
        else:
            st[_N_UNKNOWN] += 1
        i += 1
    st[_TH] = th
    st[_TL] = tl
    st[_WRAP] = wrap
    st[_LAST_T] = last_t
    st[_Y] = cy
    st[_BASE_X] = bx
    st[_POL] = bpol
    st[_MAX_X] = mx
    st[_MAX_Y] = my
    return n, i


@njit(cache=True)
def count_evt3(words, i):  # pragma: no cover - numba
    """Events that EVT 3.0 ``words[i:]`` hold: single events, and the set bits of
    vector words (12 or 8 valid bits). Output buffers are sized with it: a
    whole-file read would otherwise ask for room for 12 events per word."""
    n = 0
    for k in range(i, words.shape[0]):
        w = np.int64(words[k])
        kind = w >> 12
        if kind == 0x2:
            n += 1
        elif kind == 0x4 or kind == 0x5:
            bits = w & (0xFFF if kind == 0x4 else 0xFF)
            while bits:
                bits &= bits - 1
                n += 1
    return n


_ENCODINGS = {"evt2": (decode_evt2, np.dtype("<u4"), 1), "evt3": (decode_evt3, np.dtype("<u2"), 12)}


class PropheseeRawSource(FileSource):
    """A Prophesee EVT 2.0 / EVT 3.0 ``.raw`` file.

    Args:
        path: the file.
        sensor_size: ``(width, height[, polarities])`` for files whose header does
            not give the geometry; must agree with the header when it does.
        block_words: words read per block (memory bound; small values for tests).
        chunk_events, out_of_range: see :class:`FileSource`.

    Attributes:
        encoding: ``"evt2"`` or ``"evt3"``.
        header: the header's ``key -> value`` fields.
    """

    _grows_its_chunks = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        sensor_size: tuple[int, ...] | None = None,
        block_words: int = DEFAULT_BLOCK_WORDS,
        **kwargs,
    ) -> None:
        super().__init__(path, **kwargs)
        if block_words < 1:
            raise ValueError(f"block_words must be >= 1, got {block_words}")
        self.block_words = block_words
        self.header, self._data_offset, _, _ = read_header_bytes(self.path, self._sniffed_head())
        inferred = system_info(self.header)
        encoding = raw_encoding(self.header) or (inferred[2] if inferred else "") or None
        if encoding is None:
            raise FormatError(
                self.path, "header has no '% evt' or '% format' line: not an EVT file"
            )
        if encoding not in _ENCODINGS:
            raise FormatError(
                self.path, f"unsupported encoding {encoding!r} (reads EVT 2.0 and 3.0)"
            )
        self.encoding = encoding
        guess = inferred[:2] if inferred else None
        self.sensor_size = geometry_from_header(self.path, self.header, sensor_size, guess)
        self.t0_us = header_t0(self.path, self.header)

    def _chunks(self) -> Iterator[np.ndarray]:
        kernel, word, max_per_word = _ENCODINGS[self.encoding]
        ws = word.itemsize
        st = np.zeros(_N_STATE, np.int64)
        seen = np.zeros(_N_STATE, np.int64)
        chunk = self.chunk_events
        with open(self.path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            buf = np.empty(max(ws, min(self.block_words * ws, size - self._data_offset)), np.uint8)
            f.seek(self._data_offset)
            pending = 0
            offset = self._data_offset
            while True:
                got = f.readinto(memoryview(buf)[pending:])
                if not got:
                    break
                avail = pending + got
                n_words = avail // ws
                words = buf[: n_words * ws].view(word)
                i = 0
                left = count_evt3(words, 0) if max_per_word > 1 else -1
                while i < n_words:
                    bound = n_words - i if left < 0 else left  # events the block still holds
                    target = max(1, min(chunk, bound))  # 1: the words after the last event
                    ev = np.empty(target + max_per_word - 1, EVENT_DTYPE)
                    n, i = kernel(words, i, ev, target, st)
                    left -= n if left >= 0 else 0
                    self._count(st, seen)
                    if self.t0_us:
                        ev["t"][:n] += self.t0_us
                    mx, my = st[_MAX_X], st[_MAX_Y]
                    if n <= chunk:  # one piece: give back the unused tail in place
                        ev.resize(n, refcheck=False)
                        if n:
                            yield self._vetted(ev, mx, my, 1)
                        continue
                    for k in range(0, n, chunk):
                        yield self._vetted(ev[k : min(n, k + chunk)], mx, my, 1)
                offset += n_words * ws
                pending = avail - n_words * ws
                buf[:pending] = buf[n_words * ws : avail]
        if pending:
            raise FormatError(
                self.path,
                f"truncated: {pending} byte(s) at byte {offset} do not form a whole "
                f"{ws}-byte {self.encoding.upper()} word",
            )

    def _count(self, st: np.ndarray, seen: np.ndarray) -> None:
        for name, slot in _COUNTERS.items():
            if st[slot] != seen[slot]:
                self.counters[name] += int(st[slot] - seen[slot])
                seen[slot] = st[slot]


def _sniff(head: bytes, suffix: str) -> bool:
    if head.startswith(b"% Data file containing"):
        return False  # a DAT header: no need to parse it
    fields = sniff_header(head)
    if fields is None:
        return False
    return raw_encoding(fields) is not None or (suffix == ".raw" and "system_ID" in fields)


def open_raw(path: str | os.PathLike[str], **kwargs) -> PropheseeRawSource:
    """Open a Prophesee ``.raw`` file; see :class:`PropheseeRawSource`."""
    return PropheseeRawSource(Path(path), **kwargs)


FORMAT = FileFormat(
    name="prophesee_raw",
    description="Prophesee .raw, EVT 2.0 and EVT 3.0 (header '% evt' / '% format')",
    suffixes=(".raw",),
    sniff=_sniff,
    open=open_raw,
)
