"""The numba kernels of the event-driven backend: one compiled call per step.

:func:`step` runs the input stage and every layer of the network for ``B``
streams from the flat tables of :mod:`.numba_plan` (whose column indices are the
constants below: they live in this file so that numba's on-disk cache, which tracks
only this file, never keeps kernels compiled for another layout).

Per layer and stream:

- conv / linear: every non-zero input ``j`` (from the previous layer's list) adds
  ``v * W[j]`` into the targets it reaches (conv: ``C_out`` contiguous floats for
  each of the ``kh*kw`` output positions it touches), so cost follows activity;
- avg / max pooling: the windows touched by a non-zero input are listed once, then
  each is reduced from the dense input in row-major order (torch's order);
- neuron: a dense pass over the layer's neurons (leaky ones decay every step), with
  the float32 operations, in the order, of :func:`~spikestream.runtime.neurons.neuron_step`
  (no fastmath, no contraction into FMA), then the list of non-zero outputs is
  extracted from per-neuron flags 8 at a time.

With weights on a 2^-12 grid and integer inputs every partial sum is exact, so the
results equal the dense torch backend's bit for bit (../shared/BENCHMARKING.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ICOLS = (
    "kind", "in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "kh", "kw", "sh", "sw",
    "ph", "pw", "w_off", "b_off", "acc_off", "out_off", "list_off", "flag_off", "mark_off",
    "src", "n_in", "n_out", "neuron", "relu", "syn", "psp", "fire_once", "spiking",
    "order_last", "reset", "fire_ge", "u_off", "i_off", "a_off", "fired_off", "list_mode",
)
(KIND, IN_C, IN_H, IN_W, OUT_C, OUT_H, OUT_W, KH, KW, SH, SW, PH, PW, W_OFF, B_OFF,
 ACC_OFF, OUT_OFF, LIST_OFF, FLAG_OFF, MARK_OFF, SRC, N_IN, N_OUT, NEURON, RELU, SYN, PSP,
 FIRE_ONCE, SPIKING, ORDER_LAST, RESET, FIRE_GE, U_OFF, I_OFF, A_OFF, FIRED_OFF,
 LIST_MODE) = range(len(ICOLS))
FCOLS = ("decay", "thr", "syn_decay", "psp", "pool_w")
DECAY, THR, SYN_DECAY, PSP_F, POOL_W = range(len(FCOLS))
INCOLS = ("sens_w", "sens_h", "x0", "y0", "rw", "rh", "fx", "fy", "split", "binary",
          "c", "h", "w", "n", "out_off", "list_off")
(SENS_W, SENS_H, X0, Y0, RW, RH, FX, FY, SPLIT, BINARY, IN_CH, IN_HH, IN_WW, IN_N,
 IN_OUT, IN_LIST) = range(len(INCOLS))

CONV, LINEAR, AVGPOOL, MAXPOOL, FLATTEN = 0, 1, 2, 3, 4
RESET_ZERO, RESET_SUBTRACT, RESET_NONE = 0, 1, 2
LIST_FLAGS, LIST_TOUCHED, LIST_NONE = 0, 1, 2


def flag_stride(n: int) -> int:
    """Per-stream stride of a flag region: ``n`` rounded up to 8 (uint64 words)."""
    return -(-n // 8) * 8


@njit(cache=True)
def input_stage(intab, mem, lists, counts, ev, off, outside):  # pragma: no cover (numba)
    """Bin each stream's events into its internal ``(H, W, C)`` input and list the
    touched inputs (clearing the previous step's first).

    Args:
        ev: ``(N,)`` EVENT_DTYPE, stream ``b``'s events are ``ev[off[b]:off[b+1]]``.
        outside: ``(B,)`` int64, set to the events outside the crop per stream.

    Returns:
        -1, or the index in ``ev`` of the first event outside the sensor (the step
        must not go on).
    """
    one = np.float32(1.0)
    sw, sh, x0, y0 = intab[SENS_W], intab[SENS_H], intab[X0], intab[Y0]
    rw, rh, fx, fy = intab[RW], intab[RH], intab[FX], intab[FY]
    split, binary, c = intab[SPLIT], intab[BINARY], intab[IN_CH]
    w, n = intab[IN_WW], intab[IN_N]
    for b in range(off.size - 1):
        base = intab[IN_OUT] + b * n
        lbase = intab[IN_LIST] + b * n
        for k in range(counts[0, b]):
            mem[base + lists[lbase + k]] = 0.0
        m = 0
        out = 0
        for e in range(off[b], off[b + 1]):
            x = np.int64(ev[e].x)
            y = np.int64(ev[e].y)
            if x < 0 or x >= sw or y < 0 or y >= sh:
                counts[0, b] = m
                return e
            x -= x0
            y -= y0
            if x < 0 or x >= rw or y < 0 or y >= rh:
                out += 1
                continue
            q = ((y // fy) * w + x // fx) * c
            if split and ev[e].p != 0:
                q += 1
            if mem[base + q] == 0.0:
                lists[lbase + m] = q
                m += 1
            if binary:
                mem[base + q] = one
            else:
                mem[base + q] += one
        counts[0, b] = m
        outside[b] = out
    return -1


@njit(cache=True)
def conv_scatter(r, w, mem, lists, n_src, src_list, src_out, acc):  # pragma: no cover
    """Add each listed input's kernel into the outputs it reaches (one stream).

    ``r`` is the layer's table row; ``src_list``/``src_out``/``acc`` are this
    stream's offsets of the input list, the dense input and the output sums.
    """
    cin, iw, oc, oh, ow = r[IN_C], r[IN_W], r[OUT_C], r[OUT_H], r[OUT_W]
    kh, kw, sh, sw, ph, pw, w_off = r[KH], r[KW], r[SH], r[SW], r[PH], r[PW], r[W_OFF]
    for k in range(n_src):
        j = lists[src_list + k]
        v = mem[src_out + j]
        if v == 0.0:
            continue
        pos = j // cin
        ch = j - pos * cin
        iy = pos // iw
        ix = pos - iy * iw
        for ky in range(kh):
            ty = iy + ph - ky
            if ty < 0:
                break
            oy = ty // sh
            if oy * sh != ty or oy >= oh:
                continue
            for kx in range(kw):
                tx = ix + pw - kx
                if tx < 0:
                    break
                ox = tx // sw
                if ox * sw != tx or ox >= ow:
                    continue
                a0 = acc + (oy * ow + ox) * oc
                w0 = w_off + ((ch * kh + ky) * kw + kx) * oc
                for o in range(oc):
                    mem[a0 + o] += v * w[w0 + o]


@njit(cache=True)
def linear_scatter(r, w, mem, lists, n_src, src_list, src_out, acc):  # pragma: no cover
    """Add each listed input's weight column into the outputs (one stream)."""
    no, w_off = r[N_OUT], r[W_OFF]
    for k in range(n_src):
        j = lists[src_list + k]
        v = mem[src_out + j]
        if v == 0.0:
            continue
        w0 = w_off + j * no
        for o in range(no):
            mem[acc + o] += v * w[w0 + o]


@njit(cache=True)
def pool(r, f, mem, lists, marks, n_src, src_list, src_out, acc, lst, mark):  # pragma: no cover
    """List the windows the listed inputs touch (marking them), then reduce each
    from the dense input in row-major order, times the pool weight (avg) or max.

    Returns:
        The number of windows listed at ``lists[lst:]``.
    """
    c, iw, oh, ow = r[IN_C], r[IN_W], r[OUT_H], r[OUT_W]
    kh, kw, sh, sw = r[KH], r[KW], r[SH], r[SW]
    n = 0
    for k in range(n_src):
        j = lists[src_list + k]
        pos = j // c
        ch = j - pos * c
        iy = pos // iw
        ix = pos - iy * iw
        oy0 = max(0, (iy - kh + sh) // sh)
        oy1 = min(iy // sh, oh - 1)
        ox0 = max(0, (ix - kw + sw) // sw)
        ox1 = min(ix // sw, ow - 1)
        for oy in range(oy0, oy1 + 1):
            for ox in range(ox0, ox1 + 1):
                q = (oy * ow + ox) * c + ch
                if marks[mark + q] == 0:
                    marks[mark + q] = 1
                    lists[lst + n] = q
                    n += 1
    avg = r[KIND] == AVGPOOL
    pw = f[POOL_W]
    for t in range(n):
        q = lists[lst + t]
        pos = q // c
        ch = q - pos * c
        oy = pos // ow
        ox = pos - oy * ow
        first = src_out + ((oy * sh) * iw + ox * sw) * c + ch
        s = np.float32(0.0) if avg else mem[first]
        for ky in range(kh):
            row = first + ky * iw * c
            for kx in range(kw):
                v = mem[row + kx * c]
                if avg:
                    s += v
                elif v > s:
                    s = v
        if avg and pw != 1.0:
            s *= pw
        mem[acc + q] = s
    return n


@njit(cache=True)
def neuron_pass(r, f, w, mem, flags, b, acc, out):  # pragma: no cover
    """Dense update of one stream's neurons of a layer: the input is ``mem[acc:]``
    (plus the bias), zeroed as it is consumed; the output goes to ``mem[out:]``
    and ``flags`` marks the non-zero outputs (see the module docstring)."""
    n, c = r[N_OUT], r[OUT_C]
    zero, one = np.float32(0.0), np.float32(1.0)
    decay, thr, syn_d, psp_f = f[DECAY], f[THR], f[SYN_DECAY], f[PSP_F]
    if r[B_OFF] >= 0:
        b_off = r[B_OFF]
        for p in range(n // c):
            for ch in range(c):
                mem[acc + p * c + ch] += w[b_off + ch]
    u = r[U_OFF] + b * n
    fo = r[FLAG_OFF] + b * flag_stride(n)
    relu, spiking, last = r[RELU] != 0, r[SPIKING] != 0, r[ORDER_LAST] != 0
    reset, ge = r[RESET], r[FIRE_GE] != 0
    if r[SYN] != 0:
        i = r[I_OFF] + b * n
        for j in range(n):
            x = mem[acc + j]
            mem[acc + j] = zero
            if relu and x < zero:
                x = zero
            mem[i + j] = syn_d * mem[i + j] + x
            mem[acc + j] = mem[i + j]
        relu = False
    if not spiking:
        for j in range(n):
            x = mem[acc + j]
            mem[acc + j] = zero
            if relu and x < zero:
                x = zero
            v = mem[u + j]
            v = v + x if last else decay * v + x
            if last:
                v = decay * v
            mem[u + j] = v
            flags[fo + j] = v != zero
        return
    fired = r[FIRED_OFF] + b * n
    a = r[A_OFF] + b * n
    once, psp = r[FIRE_ONCE] != 0, r[PSP] != 0
    for j in range(n):
        x = mem[acc + j]
        mem[acc + j] = zero
        if relu and x < zero:
            x = zero
        v = mem[u + j]
        v = v + x if last else decay * v + x
        sp = v >= thr if ge else v > thr
        if once and sp and mem[fired + j] != zero:
            sp = False
        if sp:
            if once:
                mem[fired + j] = one
            if reset == RESET_ZERO:
                v = zero
            elif reset == RESET_SUBTRACT:
                v = v - thr
        if last:
            v = decay * v
        mem[u + j] = v
        if psp:
            ap = mem[a + j]
            ap = ap + ((one if sp else zero) - ap) * psp_f
            mem[a + j] = ap
            flags[fo + j] = ap != zero
        else:
            mem[out + j] = one if sp else zero
            flags[fo + j] = sp


@njit(cache=True)
def extract(flags, flags64, fo, n, lists, lst):  # pragma: no cover
    """List the indices ``j < n`` with ``flags[fo + j]`` set into ``lists[lst:]``,
    skipping 8 clear flags at a time (``fo`` is a multiple of 8). Returns the count."""
    m = 0
    w0 = fo // 8
    for wi in range((n + 7) // 8):
        if flags64[w0 + wi] != 0:
            j0 = wi * 8
            for t in range(8):
                if flags[fo + j0 + t] != 0:
                    lists[lst + m] = j0 + t
                    m += 1
    return m


@njit(cache=True)
def network(itab, ftab, intab, w, mem, lists, flags, flags64, counts):  # pragma: no cover
    """Every layer for every stream, after :func:`input_stage` (see the module docstring)."""
    nb = counts.shape[1]
    for l in range(itab.shape[0]):
        r = itab[l]
        f = ftab[l]
        kind = r[KIND]
        if kind == FLATTEN:
            continue
        src = r[SRC]
        if src < 0:
            s_out, s_list = intab[IN_OUT], intab[IN_LIST]
        else:
            s_out, s_list = itab[src, OUT_OFF], itab[src, LIST_OFF]
        n_in, n = r[N_IN], r[N_OUT]
        has_neuron = r[NEURON] != 0
        for b in range(nb):
            n_src = counts[src + 1, b]
            so, sl = s_out + b * n_in, s_list + b * n_in
            acc = r[ACC_OFF] + b * n
            lst = r[LIST_OFF] + b * n
            if kind == CONV or kind == LINEAR:
                if not has_neuron:
                    mem[acc:acc + n] = 0.0
                if kind == CONV:
                    conv_scatter(r, w, mem, lists, n_src, sl, so, acc)
                else:
                    linear_scatter(r, w, mem, lists, n_src, sl, so, acc)
            else:
                mark = r[MARK_OFF] + b * n
                if not has_neuron:
                    for t in range(counts[l + 1, b]):
                        q = lists[lst + t]
                        mem[acc + q] = 0.0
                        flags[mark + q] = 0
                m = pool(r, f, mem, lists, flags, n_src, sl, so, acc, lst, mark)
                counts[l + 1, b] = m
                if has_neuron:
                    for t in range(m):
                        flags[mark + lists[lst + t]] = 0
            fo = r[FLAG_OFF] + b * flag_stride(n)
            if has_neuron:
                neuron_pass(r, f, w, mem, flags, b, acc, r[OUT_OFF] + b * n)
            elif kind == CONV or kind == LINEAR:
                if r[B_OFF] >= 0:
                    for p in range(n // r[OUT_C]):
                        for ch in range(r[OUT_C]):
                            mem[acc + p * r[OUT_C] + ch] += w[r[B_OFF] + ch]
                for j in range(n):
                    flags[fo + j] = mem[acc + j] != 0.0
            if r[LIST_MODE] == LIST_FLAGS:
                counts[l + 1, b] = extract(flags, flags64, fo, n, lists, lst)


@njit(cache=True)
def step(itab, ftab, intab, w, mem, lists, flags, flags64, counts, ev, off,
         outside):  # pragma: no cover
    """:func:`input_stage` then :func:`network`: one whole step in one call.

    Returns:
        -1, or the index of the first event outside the sensor (nothing stepped).
    """
    bad = input_stage(intab, mem, lists, counts, ev, off, outside)
    if bad >= 0:
        return bad
    network(itab, ftab, intab, w, mem, lists, flags, flags64, counts)
    return -1
