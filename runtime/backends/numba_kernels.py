"""The numba kernels of the event-driven backend: one compiled call per step.

:func:`step` runs the input stage and every layer of the network for ``B``
streams from the flat tables of :mod:`.numba_plan` (whose column indices are the
constants below: they live in this file so that numba's on-disk cache, which tracks
only this file, never keeps kernels compiled for another layout).

Per layer and stream:

- conv / linear: every non-zero input ``j`` (from the previous layer's list) adds
  ``v * W[j]`` into the targets it reaches (conv: contiguous runs of the
  channels-last sums, one per kernel row with stride 1), so cost follows activity;
  a spike (``v = 1``) is not even read; a grouped layer (``out_g < out_c``) adds
  only into its input's group of outputs (its weights are stored block-diagonal);
- avg / max pooling: the windows touched by a non-zero input are listed once;
  spikes are counted into them (integers: exact in any order), other values are
  reduced from the dense input in row-major order (torch's order);
- neuron: a dense pass over the layer's neurons (leaky ones decay every step), with
  the float32 operations, in the order, of :func:`~spikestream.runtime.neurons.neuron_step`
  (no fastmath, no contraction into FMA), then the list of non-zero outputs is
  extracted from per-neuron flags 8 at a time.

With weights on a 2^-12 grid and integer inputs every partial sum is exact, so the
results equal the dense torch backend's bit for bit (../shared/BENCHMARKING.md).
The entry points release the GIL (a GUI thread keeps running during a step).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ICOLS = (
    "kind", "in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "kh", "kw", "sh", "sw",
    "w_off", "b_off", "acc_off", "out_off", "list_off", "flag_off", "mark_off", "tab_off",
    "tab_k", "tab2_off", "src", "n_in", "n_out", "neuron", "relu", "syn", "psp",
    "fire_once", "spiking", "order_last", "reset", "fire_ge", "u_off", "i_off", "a_off",
    "fired_off", "list_mode", "c_shift", "out_bits", "out_g", "in_g",
)
(KIND, IN_C, IN_H, IN_W, OUT_C, OUT_H, OUT_W, KH, KW, SH, SW, W_OFF, B_OFF, ACC_OFF,
 OUT_OFF, LIST_OFF, FLAG_OFF, MARK_OFF, TAB_OFF, TAB_K, TAB2_OFF, SRC, N_IN, N_OUT, NEURON,
 RELU, SYN, PSP, FIRE_ONCE, SPIKING, ORDER_LAST, RESET, FIRE_GE, U_OFF, I_OFF, A_OFF,
 FIRED_OFF, LIST_MODE, C_SHIFT, OUT_BITS, OUT_G, IN_G) = range(len(ICOLS))
FCOLS = ("decay", "thr", "syn_decay", "psp", "pool_w")
DECAY, THR, SYN_DECAY, PSP_F, POOL_W = range(len(FCOLS))
INCOLS = ("sens_w", "sens_h", "x0", "y0", "rw", "rh", "fx", "fy", "split", "binary",
          "c", "h", "w", "n", "out_off", "list_off", "fx_shift", "fy_shift")
(SENS_W, SENS_H, X0, Y0, RW, RH, FX, FY, SPLIT, BINARY, IN_CH, IN_HH, IN_WW, IN_N,
 IN_OUT, IN_LIST, FX_SHIFT, FY_SHIFT) = range(len(INCOLS))

CONV, LINEAR, AVGPOOL, MAXPOOL, FLATTEN = 0, 1, 2, 3, 4
RESET_ZERO, RESET_SUBTRACT, RESET_NONE = 0, 1, 2
LIST_FLAGS, LIST_TOUCHED, LIST_NONE = 0, 1, 2

# Indices in the hot loops are uint64: numba then emits no negative-index wraparound,
# and LLVM vectorizes the loops (about 9x faster scatter). Never mix them with int64
# in arithmetic (numba would promote to float64).
U = np.uint64


def shift_of(d: int) -> int:
    """``log2(d)`` when ``d`` is a power of two (divide by shifting), else -1."""
    return d.bit_length() - 1 if d > 0 and d & (d - 1) == 0 else -1


@njit(cache=True)
def udiv(a, d, shift):  # pragma: no cover
    """``a // d`` for uint64 ``a`` and ``d``; ``shift`` = :func:`shift_of` ``(d)``."""
    return a >> U(shift) if shift >= 0 else a // d


@njit(cache=True)
def flag_stride(n: int) -> int:
    """Per-stream stride of a flag region: ``n`` rounded up to 8 (uint64 words)."""
    return (n + 7) // 8 * 8


@njit(cache=True, nogil=True)
def input_stage(intab, mem, lists, counts, ev, off, outside):  # pragma: no cover (numba)
    """Bin each stream's events into its internal ``(H, W, C)`` input and list the
    touched inputs (clearing the previous step's first).

    Args:
        ev: ``(N,)`` EVENT_DTYPE, stream ``b``'s events are ``ev[off[b]:off[b+1]]``.
        outside: ``(B,)`` int64, events outside the crop per stream, added to.

    Returns:
        -1, or the index in ``ev`` of the first event outside the sensor (the step
        must not go on).
    """
    one = np.float32(1.0)
    sw, sh, x0, y0 = intab[SENS_W], intab[SENS_H], intab[X0], intab[Y0]
    rw, rh, fx, fy = intab[RW], intab[RH], U(intab[FX]), U(intab[FY])
    xs, ys = intab[FX_SHIFT], intab[FY_SHIFT]
    split, binary, c = intab[SPLIT], intab[BINARY], U(intab[IN_CH])
    w, n = U(intab[IN_WW]), intab[IN_N]
    for b in range(off.size - 1):
        base = U(intab[IN_OUT] + b * n)
        lbase = U(intab[IN_LIST] + b * n)
        for k in range(U(counts[0, b])):
            mem[base + U(lists[lbase + k])] = 0.0
        m = U(0)
        out = 0
        for e in range(off[b], off[b + 1]):
            x = np.int64(ev[e].x)
            y = np.int64(ev[e].y)
            if x < 0 or x >= sw or y < 0 or y >= sh:
                counts[0, b] = np.int64(m)
                return e
            x -= x0
            y -= y0
            if x < 0 or x >= rw or y < 0 or y >= rh:
                out += 1
                continue
            q = (udiv(U(y), fy, ys) * w + udiv(U(x), fx, xs)) * c
            if split and ev[e].p != 0:
                q += U(1)
            if mem[base + q] == 0.0:
                lists[lbase + m] = q
                m += U(1)
            if binary:
                mem[base + q] = one
            else:
                mem[base + q] += one
        counts[0, b] = np.int64(m)
        outside[b] += out
    return -1


@njit(cache=True)
def conv_scatter(r, w, mem, lists, n_src, src_list, src_out, acc, bits):  # pragma: no cover
    """Add each listed input's kernel into the outputs it reaches (one stream).

    ``r`` is the layer's table row; ``src_list``/``src_out``/``acc`` are this
    stream's offsets of the input list, the dense input and the output sums;
    ``bits``: the input is spikes (every listed value is 1, not read). The
    layer's table in ``lists`` gives, per input position, the count of output
    runs it adds into, then (output offset, weight offset, length) per run.
    """
    one, two, three = U(1), U(2), U(3)
    cin, slots, tab, csh = U(r[IN_C]), U(r[TAB_K]), U(r[TAB_OFF]), r[C_SHIFT]
    wstride = U(r[KH] * r[KW] * r[OUT_C])
    w_off, src_list, src_out, acc = U(r[W_OFF]), U(src_list), U(src_out), U(acc)
    for k in range(U(n_src)):
        j = U(lists[src_list + k])
        pos = udiv(j, cin, csh)
        t = tab + pos * slots
        wb = w_off + (j - pos * cin) * wstride
        if bits:
            for e in range(U(lists[t])):
                k3 = t + e * three
                a0 = acc + U(lists[k3 + one])
                w0 = wb + U(lists[k3 + two])
                for o in range(U(lists[k3 + three])):
                    mem[a0 + o] += w[w0 + o]
            continue
        v = mem[src_out + j]
        if v == 0.0:
            continue
        for e in range(U(lists[t])):
            k3 = t + e * three
            a0 = acc + U(lists[k3 + one])
            w0 = wb + U(lists[k3 + two])
            for o in range(U(lists[k3 + three])):
                mem[a0 + o] += v * w[w0 + o]


@njit(cache=True)
def conv_scatter_grouped(r, w, mem, lists, n_src, src_list, src_out, acc,
                         bits):  # pragma: no cover
    """:func:`conv_scatter` of a grouped conv: each input adds only into the
    ``out_g`` channels of its group at every output position of a run."""
    one, two, three = U(1), U(2), U(3)
    cin, slots, tab, csh = U(r[IN_C]), U(r[TAB_K]), U(r[TAB_OFF]), r[C_SHIFT]
    oc, cog, cig = U(r[OUT_C]), U(r[OUT_G]), U(r[IN_G])
    wstride = U(r[KH] * r[KW] * r[OUT_C])
    w_off, src_list, src_out, acc = U(r[W_OFF]), U(src_list), U(src_out), U(acc)
    for k in range(U(n_src)):
        j = U(lists[src_list + k])
        pos = udiv(j, cin, csh)
        ch = j - pos * cin
        v = np.float32(1.0) if bits else mem[src_out + j]
        if v == 0.0:
            continue
        t = tab + pos * slots
        wb = w_off + ch * wstride
        goff = (ch // cig) * cog
        for e in range(U(lists[t])):
            k3 = t + e * three
            a0 = acc + U(lists[k3 + one]) + goff
            w0 = wb + U(lists[k3 + two]) + goff
            for p in range(U(lists[k3 + three]) // oc):
                base = p * oc
                for o in range(cog):
                    mem[a0 + base + o] += v * w[w0 + base + o]


@njit(cache=True)
def linear_scatter(r, w, mem, lists, n_src, src_list, src_out, acc, bits):  # pragma: no cover
    """Add each listed input's weight column into the outputs (one stream; ``bits``
    as in :func:`conv_scatter`); in a grouped layer only into the ``out_g`` outputs
    of the input's group (the layer's table: each input's group)."""
    no, nog, w_off, tab = U(r[N_OUT]), U(r[OUT_G]), U(r[W_OFF]), U(r[TAB_OFF])
    grouped = nog != no
    src_list, src_out, acc = U(src_list), U(src_out), U(acc)
    for k in range(U(n_src)):
        j = U(lists[src_list + k])
        v = np.float32(1.0) if bits else mem[src_out + j]
        if v == 0.0:
            continue
        goff = U(lists[tab + j]) * nog if grouped else U(0)
        w0 = w_off + j * no + goff
        a0 = acc + goff
        for o in range(nog):
            mem[a0 + o] += v * w[w0 + o]


@njit(cache=True)
def pool(r, f, mem, lists, marks, n_src, src_list, src_out, acc, lst, mark,
         bits):  # pragma: no cover
    """List the windows the listed inputs touch (marking them), then reduce each
    from the dense input in row-major order (torch's), times the pool weight (avg)
    or max. The layer's tables in ``lists``: per input position, the count of
    windows holding it then their positions; per window, its ``kh*kw`` input
    positions in row-major order. ``bits``: the input is spikes: each listed one
    adds 1 to its windows' sums (integers: exact in any order) or sets their max to 1;
    ``mem[acc:]`` is all zeros on entry.

    Returns:
        The number of windows listed at ``lists[lst:]``.
    """
    one = U(1)
    c, slots, tab, gtab = U(r[IN_C]), U(r[TAB_K]), U(r[TAB_OFF]), U(r[TAB2_OFF])
    csh = r[C_SHIFT]
    kk = U(r[KH] * r[KW])
    src_list, src_out, acc, lst, mark = U(src_list), U(src_out), U(acc), U(lst), U(mark)
    n = U(0)
    avg = r[KIND] == AVGPOOL
    pw = f[POOL_W]
    if bits:
        one_f = np.float32(1.0)
        for k in range(U(n_src)):
            j = U(lists[src_list + k])
            pos = udiv(j, c, csh)
            ch = j - pos * c
            t = tab + pos * slots
            for e in range(U(lists[t])):
                q = U(lists[t + one + e]) * c + ch
                if mem[acc + q] == 0.0:
                    mem[acc + q] = one_f
                    lists[lst + n] = q
                    n += one
                elif avg:
                    mem[acc + q] += one_f
        if avg and pw != 1.0:
            for t in range(n):
                mem[acc + U(lists[lst + t])] *= pw
        return n
    for k in range(U(n_src)):
        j = U(lists[src_list + k])
        pos = udiv(j, c, csh)
        ch = j - pos * c
        t = tab + pos * slots
        for e in range(U(lists[t])):
            q = U(lists[t + one + e]) * c + ch
            if marks[mark + q] == 0:
                marks[mark + q] = 1
                lists[lst + n] = q
                n += one
    for t in range(n):
        q = U(lists[lst + t])
        pos = udiv(q, c, csh)
        ch = q - pos * c
        g = gtab + pos * kk
        s = mem[src_out + U(lists[g]) * c + ch]
        if avg:
            s = np.float32(0.0) + s
        for e in range(one, kk):
            v = mem[src_out + U(lists[g + e]) * c + ch]
            if avg:
                s += v
            elif v > s:
                s = v
        if avg and pw != 1.0:
            s *= pw
        mem[acc + q] = s
    return n


@njit(cache=True)
def neuron_pass(r, f, w, mem, flags, b, acc):  # pragma: no cover
    """Dense update of one stream's neurons of a layer: the input is ``mem[acc:]``
    (plus the bias), zeroed as it is consumed; ``flags`` marks the non-zero outputs:
    the spikes themselves (0/1), or where the PSP trace or membrane (in the state) is
    not zero (see the module docstring)."""
    n, c = U(r[N_OUT]), U(r[OUT_C])
    zero, one = np.float32(0.0), np.float32(1.0)
    decay, thr, syn_d, psp_f = f[DECAY], f[THR], f[SYN_DECAY], f[PSP_F]
    acc = U(acc)
    if r[B_OFF] >= 0:
        b_off = U(r[B_OFF])
        for p in range(n // c):
            for ch in range(c):
                mem[acc + p * c + ch] += w[b_off + ch]
    u = U(r[U_OFF] + b * r[N_OUT])
    fo = U(r[FLAG_OFF] + b * flag_stride(r[N_OUT]))
    relu, spiking, last = r[RELU] != 0, r[SPIKING] != 0, r[ORDER_LAST] != 0
    reset, ge = r[RESET], r[FIRE_GE] != 0
    once, psp = r[FIRE_ONCE] != 0, r[PSP] != 0
    if r[SYN] != 0:
        i = U(r[I_OFF] + b * r[N_OUT])
        for j in range(n):
            x = mem[acc + j]
            if relu and x < zero:
                x = zero
            x = syn_d * mem[i + j] + x
            mem[i + j] = x
            mem[acc + j] = x
        relu = False
    if spiking and not (relu or once or psp):  # the plain LIF: its own, vectorized loop
        for j in range(n):
            x = mem[acc + j]
            mem[acc + j] = zero
            v = mem[u + j]
            v = v + x if last else decay * v + x
            sp = v >= thr if ge else v > thr
            if sp and reset == RESET_ZERO:
                v = zero
            elif sp and reset == RESET_SUBTRACT:
                v = v - thr
            if last:
                v = decay * v
            mem[u + j] = v
            flags[fo + j] = sp
        return
    fired = U(max(r[FIRED_OFF], 0) + b * r[N_OUT])
    a = U(max(r[A_OFF], 0) + b * r[N_OUT])
    for j in range(n):
        x = mem[acc + j]
        mem[acc + j] = zero
        if relu and x < zero:
            x = zero
        v = mem[u + j]
        v = v + x if last else decay * v + x
        if not spiking:
            if last:
                v = decay * v
            mem[u + j] = v
            flags[fo + j] = v != zero
            continue
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
            flags[fo + j] = sp


@njit(cache=True)
def extract(flags, flags64, fo, n, lists, lst):  # pragma: no cover
    """List the indices ``j < n`` with ``flags[fo + j]`` set into ``lists[lst:]``,
    skipping 8 clear flags at a time (``fo`` is a multiple of 8). Returns the count."""
    m = U(0)
    one, eight = U(1), U(8)
    fo, lst = U(fo), U(lst)
    w0 = fo // eight
    for wi in range((U(n) + U(7)) // eight):
        if flags64[w0 + wi] != 0:
            j0 = wi * eight
            for t in range(eight):
                if flags[fo + j0 + t] != 0:
                    lists[lst + m] = j0 + t
                    m += one
    return m


@njit(cache=True)
def synapse_out(r, w, mem, flags, acc, fo):  # pragma: no cover
    """A conv/linear layer without a neuron: its output is its sums plus the bias;
    flag the non-zero ones (one stream)."""
    n, c, acc, fo = U(r[N_OUT]), U(r[OUT_C]), U(acc), U(fo)
    if r[B_OFF] >= 0:
        b_off = U(r[B_OFF])
        for p in range(n // c):
            for ch in range(c):
                mem[acc + p * c + ch] += w[b_off + ch]
    for j in range(n):
        flags[fo + j] = mem[acc + j] != 0.0


@njit(cache=True, nogil=True)
def network(itab, ftab, intab, w, mem, lists, flags, flags64, counts, lo,
            hi):  # pragma: no cover
    """Layers ``lo .. hi - 1`` for every stream, after :func:`input_stage` (see the
    module docstring)."""
    nb = counts.shape[1]
    for l in range(lo, hi):
        r = itab[l]
        f = ftab[l]
        kind = r[KIND]
        if kind == FLATTEN:
            continue
        src = r[SRC]
        n_in, n = r[N_IN], r[N_OUT]
        bits = src >= 0 and itab[src, OUT_BITS] != 0
        s_stride = flag_stride(n_in) if bits else n_in
        if src < 0:
            s_out, s_list = intab[IN_OUT], intab[IN_LIST]
        else:
            s_out, s_list = itab[src, OUT_OFF], itab[src, LIST_OFF]
        has_neuron = r[NEURON] != 0
        for b in range(nb):
            n_src = counts[src + 1, b]
            so, sl = s_out + b * s_stride, s_list + b * n_in
            acc = r[ACC_OFF] + b * n
            lst = r[LIST_OFF] + b * n
            if kind == CONV or kind == LINEAR:
                if not has_neuron:
                    mem[acc:acc + n] = 0.0
                if kind == LINEAR:
                    linear_scatter(r, w, mem, lists, n_src, sl, so, acc, bits)
                elif r[OUT_G] != r[OUT_C]:
                    conv_scatter_grouped(r, w, mem, lists, n_src, sl, so, acc, bits)
                else:
                    conv_scatter(r, w, mem, lists, n_src, sl, so, acc, bits)
            else:
                mark = r[MARK_OFF] + b * n
                if not has_neuron:
                    for t in range(counts[l + 1, b]):
                        q = lists[lst + t]
                        mem[acc + q] = 0.0
                        flags[mark + q] = 0
                m = np.int64(pool(r, f, mem, lists, flags, n_src, sl, so, acc, lst, mark,
                                  bits))
                counts[l + 1, b] = m
                if has_neuron:
                    for t in range(m):
                        flags[mark + lists[lst + t]] = 0
            fo = r[FLAG_OFF] + b * flag_stride(n)
            if has_neuron:
                neuron_pass(r, f, w, mem, flags, b, acc)
            elif kind == CONV or kind == LINEAR:
                synapse_out(r, w, mem, flags, acc, fo)
            if r[LIST_MODE] == LIST_FLAGS:
                counts[l + 1, b] = np.int64(extract(flags, flags64, fo, n, lists, lst))


@njit(cache=True, nogil=True)
def step(itab, ftab, intab, w, mem, lists, flags, flags64, counts, ev, off,
         outside):  # pragma: no cover
    """:func:`input_stage` then :func:`network`: one whole step in one call.

    Returns:
        -1, or the index of the first event outside the sensor (nothing stepped).
    """
    bad = input_stage(intab, mem, lists, counts, ev, off, outside)
    if bad >= 0:
        return bad
    network(itab, ftab, intab, w, mem, lists, flags, flags64, counts, 0, itab.shape[0])
    return -1
