"""The AEDAT 4.0 hot loop in one numba kernel: packet headers, LZ4 frames, the
event flatbuffer and the copy into :data:`EVENT_DTYPE` records, in one pass.

:func:`decode_packets` walks the packets in a block of file bytes, skips other
streams, decompresses each event packet into a scratch buffer, finds its event
vector and copies the events (13 of their 16 bytes) into the output chunk while
checking that time never goes back. Per packet it costs no Python at all, which
is what lets it keep up with aestream's C++ (a Python loop over the ~500
packets of a DVS128 second costs more than decoding them).

LZ4 blocks are decompressed by liblz4's ``LZ4_decompress_safe_usingDict``, the
function python-lz4's extension exports (it bundles liblz4, or links to it); its
address is handed to LLVM by name, so the compiled kernel caches like any other.
The kernel handles the frames DV writes (and any frame whose flags it can check,
xxHash-32 checksums included). Anything else (Zstd, an unusual or corrupt
frame, a flatbuffer it does not parse, a python-lz4 without the symbol) is
returned as ``SLOW``: the reader decodes that packet in Python, which also
words every error. So the kernel only has to be right, never to explain.
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import binding as llvm
from numba import njit, types

# statuses returned by decode_packets
FULL, MORE, DONE, SLOW, HEAD_CUT, BAD_SIZE, BAD_STREAM, TIME_BACK, GROW = range(9)
# slots of the int64 state array
LAST_T, PEND_AT, PEND_LEFT, PEND_IN_BUF, PEND_POS, SKIPPED, ARG0, ARG1 = range(8)
MAX_X, MAX_Y, MAX_P = 8, 9, 10
"""Largest x, y (as uint16) and p (as uint8) copied since the caller last reset them."""
N_STATE = 11

EVENT_BYTES = 16
"""Bytes of one flatbuffer ``Event`` struct (t, x, y, on, 3 bytes padding)."""
XY_RECORD = np.dtype([("t", "<i8"), ("xy", "<u4"), ("p", "i1")])
"""``EVENT_DTYPE``'s layout with x and y as one little-endian uint32 (x in the low
half): the kernel writes an event with three stores, not four."""
_DV_LAYOUT = np.frombuffer(
    bytes.fromhex("100000004556545300000600080004000600000004000000"), np.uint8
)
"""Bytes 4-28 of an event packet as DV lays it out (root table at 20, vtable at
14, elements vector at 28)."""
_LZ4_MAGIC = 0x184D2204
_LZ4_MAX_RATIO = 255
_COMPRESSIONS = {"none": 0, "lz4": 1, "lz4_high": 1, "zstd": 2, "zstd_high": 2}
_SYMBOL = "LZ4_decompress_safe_usingDict"


def _register_lz4() -> bool:
    """Give LLVM the address of liblz4's decompressor; without it, a stub that
    fails every call (each LZ4 packet then takes the Python path)."""
    try:
        import lz4.block._block as _block

        fn = getattr(ctypes.CDLL(_block.__file__), _SYMBOL)
        llvm.add_symbol(_SYMBOL, ctypes.cast(fn, ctypes.c_void_p).value)
        return True
    except (ImportError, OSError, AttributeError):
        llvm.add_symbol(_SYMBOL, ctypes.cast(_STUB, ctypes.c_void_p).value)
        return False


_STUB = ctypes.CFUNCTYPE(ctypes.c_int, *[ctypes.c_void_p] * 2, *[ctypes.c_int] * 2,
                         ctypes.c_void_p, ctypes.c_int)(lambda *a: -1)  # fmt: skip
HAVE_LZ4 = _register_lz4()
_lz4_decompress = types.ExternalFunction(
    _SYMBOL,
    types.int32(types.voidptr, types.voidptr, types.int32, types.int32, types.voidptr, types.int32),
)


def compression_code(compression: str) -> int:
    """The kernel's code for a header compression: 0 none, 1 LZ4, 2 other (Python)."""
    return _COMPRESSIONS[compression]


@njit(cache=True, inline="always")
def _u32(b, i):  # pragma: no cover - numba
    return (np.int64(b[i]) | (np.int64(b[i + 1]) << 8) | (np.int64(b[i + 2]) << 16)
            | (np.int64(b[i + 3]) << 24))  # fmt: skip


@njit(cache=True, inline="always")
def _i32(b, i):  # pragma: no cover - numba
    v = _u32(b, i)
    return v - (np.int64(1) << 32) if v >= (np.int64(1) << 31) else v


@njit(cache=True, inline="always")
def _i64(b, i):  # pragma: no cover - numba
    return _u32(b, i) | (_u32(b, i + 4) << 32)  # wraps to the signed value


@njit(cache=True, inline="always")
def _rotl(x, r):  # pragma: no cover - numba
    return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF


@njit(cache=True)
def xxh32(b, s, n):  # pragma: no cover - numba
    """xxHash-32 (seed 0) of ``b[s:s + n]``, as LZ4 frames checksum with it."""
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    m = 0xFFFFFFFF
    e = s + n
    if n >= 16:
        v = np.array([(p1 + p2) & m, p2, 0, (-p1) & m], np.int64)
        while s + 16 <= e:
            for k in range(4):
                v[k] = (_rotl((v[k] + _u32(b, s + 4 * k) * p2) & m, 13) * p1) & m
            s += 16
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & m
    else:
        h = p5
    h = (h + n) & m
    while s + 4 <= e:
        h = (_rotl((h + _u32(b, s) * p3) & m, 17) * p4) & m
        s += 4
    while s < e:
        h = (_rotl((h + np.int64(b[s]) * p5) & m, 11) * p1) & m
        s += 1
    h = ((h ^ (h >> 15)) * p2) & m
    h = ((h ^ (h >> 13)) * p3) & m
    return h ^ (h >> 16)


@njit(cache=True)
def lz4_frame(src, s, e, dst, st):  # pragma: no cover - numba
    """Decompress the LZ4 frame ``src[s:e]`` into ``dst[0:]``.

    Returns its size; -1 when the Python decoder must take it (a flag, checksum
    or error this one does not handle, or bytes after the frame); -2 when
    ``dst`` is too small (``st[ARG0]`` = bytes it needs).
    """
    if e - s < 7 or _u32(src, s) != _LZ4_MAGIC:
        return -1
    flg = src[s + 4]
    bd = src[s + 5]
    if (flg >> 6) != 1 or (flg & 0x03) != 0 or (bd & 0x8F) != 0 or (bd >> 4) < 4:
        return -1
    block_max = np.int64(1) << (2 * (bd >> 4) + 8)
    desc = 10 if flg & 0x08 else 2
    p = s + 4 + desc
    if p >= e or ((xxh32(src, s + 4, desc) >> 8) & 0xFF) != src[p]:
        return -1
    p += 1
    check = 4 if flg & 0x10 else 0
    q = p
    need = 0
    while True:
        if q + 4 > e:
            return -1
        size = _u32(src, q)
        q += 4
        if size == 0:
            break
        stored = size >> 31
        size &= 0x7FFFFFFF
        if size > block_max or q + size + check > e:
            return -1
        need += size if stored else min(block_max, _LZ4_MAX_RATIO * size + 64)
        q += size + check
    if flg & 0x04:
        q += 4
    if q != e:
        return -1
    if need > dst.shape[0]:
        st[ARG0] = need
        return -2
    d = 0
    while True:
        size = _u32(src, p)
        p += 4
        if size == 0:
            break
        stored = size >> 31
        size &= 0x7FFFFFFF
        if check and xxh32(src, p, size) != _u32(src, p + size):
            return -1
        if stored:
            dst[d : d + size] = src[p : p + size]
            d += size
        else:
            window = 0 if flg & 0x20 else min(d, 1 << 16)
            got = _lz4_decompress(src[p:].ctypes.data, dst[d:].ctypes.data, size,
                                  min(block_max, dst.shape[0] - d),
                                  dst[d - window:].ctypes.data, window)  # fmt: skip
            if got < 0:
                return -1
            d += got
        p += size + check
    if flg & 0x04 and xxh32(dst, 0, d) != _u32(src, p):
        return -1
    if flg & 0x08 and _i64(src, s + 6) != d:
        return -1
    return d


@njit(cache=True)
def event_vector(fb, b0, n):  # pragma: no cover - numba
    """``(start, count)`` of the events of the size-prefixed ``EVTS`` flatbuffer
    ``fb[b0:b0 + n]``; ``(b0, 0)`` when it has no elements; ``(-1, 0)`` when it
    does not parse (the Python decoder then says why)."""
    if n < 12 or _u32(fb, b0) > n - 4:
        return -1, 0
    if fb[b0 + 8] != 69 or fb[b0 + 9] != 86 or fb[b0 + 10] != 84 or fb[b0 + 11] != 83:
        return -1, 0  # identifier "EVTS"
    dv = n >= 32
    for k in range(_DV_LAYOUT.shape[0]):
        if dv and fb[b0 + 4 + k] != _DV_LAYOUT[k]:
            dv = False
    if dv:
        count = _u32(fb, b0 + 28)
        return (b0 + 32, count) if 32 + count * EVENT_BYTES <= n else (-1, 0)
    table = 4 + _u32(fb, b0 + 4)  # the generic walk: root table, vtable, field 0
    if table + 4 > n:
        return -1, 0
    vtable = table - _i32(fb, b0 + table)
    if vtable < 0 or vtable + 4 > n:
        return -1, 0
    if 6 > (fb[b0 + vtable] | (np.int64(fb[b0 + vtable + 1]) << 8)):
        return b0, 0
    if vtable + 6 > n:
        return -1, 0
    offset = fb[b0 + vtable + 4] | (np.int64(fb[b0 + vtable + 5]) << 8)
    if offset == 0:
        return b0, 0
    field = table + offset
    if field + 4 > n:
        return -1, 0
    vec = field + _u32(fb, b0 + field)
    if vec + 4 > n:
        return -1, 0
    count = _u32(fb, b0 + vec)
    return (b0 + vec + 4, count) if vec + 4 + count * EVENT_BYTES <= n else (-1, 0)


@njit(cache=True)
def _copy_events(src, at, k, out, n, last_t, st):  # pragma: no cover - numba
    """Copy ``k`` events (16-byte structs at ``src[at:]``) to ``out[n:n + k]``
    (:data:`XY_RECORD`), keeping the largest x, y, p in ``st``. Returns ``k``, or
    the index of the first whose time goes back."""
    mx, my, mp = st[MAX_X], st[MAX_Y], st[MAX_P]
    j = 0
    if at % 8 == 0 and src.shape[0] % 8 == 0:  # typed loads: ~2 ns per event
        t64 = src.view(np.int64)
        u32 = src.view(np.uint32)
        a8 = at // 8
        a4 = at // 4
        while j < k:
            t = t64[a8 + 2 * j]
            if t < last_t:
                break
            last_t = t
            xy = u32[a4 + 4 * j + 2]
            p = src[at + 16 * j + 12]
            mx = max(mx, np.int64(xy & 0xFFFF))
            my = max(my, np.int64(xy >> 16))
            mp = max(mp, np.int64(p))
            e = out[n + j]
            e.t = t
            e.xy = xy
            e.p = p
            j += 1
    else:
        while j < k:  # unaligned (uncompressed files): byte by byte
            o = at + j * EVENT_BYTES
            t = _i64(src, o)
            if t < last_t:
                break
            last_t = t
            xy = _u32(src, o + 8)
            p = np.int64(src[o + 12])
            mx = max(mx, xy & 0xFFFF)
            my = max(my, xy >> 16)
            mp = max(mp, p)
            e = out[n + j]
            e.t = t
            e.xy = xy
            e.p = p
            j += 1
    st[MAX_X], st[MAX_Y], st[MAX_P] = mx, my, mp
    return j


@njit(cache=True, nogil=True)
def decode_packets(buf, pos, hi, base, end, stream_id, declared, compression, scratch, st, out, n):  # noqa: E501  # pragma: no cover - numba
    """Decode packets from ``buf[pos:hi]`` (file bytes; ``buf[0]`` is byte ``base``)
    into ``out`` (an :data:`EVENT_DTYPE` array viewed as :data:`XY_RECORD`, ``n`` filled).

    Args:
        end: file offset where packets end.
        stream_id: the event stream; ``declared``: every declared id (int64).
        compression: see :func:`compression_code`.
        scratch: uint8 buffer for one decompressed packet.
        st: int64 state (:data:`N_STATE` slots) carried across calls: last
            timestamp, events of the current packet not yet copied, skipped packets.

    Returns:
        ``(status, pos, n)``: ``FULL`` (``out`` is full), ``MORE`` (the packet
        at ``pos`` is not all in ``buf``), ``DONE`` (packets end), ``SLOW`` (the
        event packet at ``pos`` is the Python decoder's), ``GROW`` (``scratch``
        needs ``st[ARG0]`` bytes), or an error about the packet at ``pos``:
        ``HEAD_CUT``, ``BAD_SIZE``, ``BAD_STREAM``, ``TIME_BACK`` (event ``n`` of
        the chunk: ``st[ARG0]`` µs after ``st[ARG1]`` µs).
    """
    cap = out.shape[0]
    last_t = st[LAST_T]
    while True:
        left = st[PEND_LEFT]
        if left:
            k = min(left, cap - n)
            src = buf if st[PEND_IN_BUF] else scratch
            j = _copy_events(src, st[PEND_AT], k, out, n, last_t, st)
            if j < k:
                st[ARG0] = _i64(src, st[PEND_AT] + j * EVENT_BYTES)
                st[ARG1] = out[n + j - 1].t if j else last_t
                return TIME_BACK, pos, n + j
            n += k
            if k:
                last_t = out[n - 1].t
            st[PEND_AT] += k * EVENT_BYTES
            st[PEND_LEFT] = left - k
            st[LAST_T] = last_t
            if left > k:
                return FULL, pos, n
        if base + pos >= end:
            return DONE, pos, n
        if n == cap:
            return FULL, pos, n
        if pos + 8 > hi:
            return (HEAD_CUT if base + pos + 8 > end else MORE), pos, n
        sid = _i32(buf, pos)
        size = _i32(buf, pos + 4)
        body = pos + 8
        if size < 0 or base + body + size > end:
            return BAD_SIZE, pos, n
        if sid != stream_id:
            known = False
            for k in range(declared.shape[0]):
                known |= declared[k] == sid
            if not known:
                return BAD_STREAM, pos, n
            st[SKIPPED] += 1
            pos = body + size
            continue
        if body + size > hi:
            return MORE, pos, n
        if compression == 0:
            start, count = event_vector(buf, body, size)
            st[PEND_IN_BUF] = 1
        elif compression == 1:
            got = lz4_frame(buf, body, body + size, scratch, st)
            if got == -2:
                return GROW, pos, n
            start, count = event_vector(scratch, 0, got) if got >= 0 else (-1, 0)
            st[PEND_IN_BUF] = 0
        else:
            start, count = -1, 0
        if start < 0:
            return SLOW, pos, n
        st[PEND_AT] = start
        st[PEND_LEFT] = count
        st[PEND_POS] = base + pos
        pos = body + size
