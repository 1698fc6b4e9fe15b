"""Compile a :class:`~spikestream.runtime.model_file.Model` into flat arrays for the
numba kernels (:mod:`.numba_kernels`).

The kernels see no Python objects: each layer is one row of an int64 table
(:data:`I` names the columns) and one row of a float32 table (:data:`F`); weights
are one flat float32 array; state, activations and scratch are regions of one flat
float32 array ``mem`` (the neuron state first, so a snapshot is a few views);
index lists and the per-layer lookup tables (which output runs an input position
reaches, which windows hold it) are regions of one int32 array, per-neuron flags
(a spiking layer's spikes themselves) of one uint8 array. Everything is allocated
once here, page-aligned: the compiled step allocates nothing.

Layouts (``internal``): a ``(C, H, W)`` activation is stored channels-last,
``(H, W, C)``, so that the ``C_out`` targets of one input position in a conv are
contiguous; a weight is stored per *source* (what one active input adds where):
conv ``(in, kh, kw, out)`` with ``kw`` flipped (so that with stride 1 a kernel row
is one contiguous run), linear ``(in, out)`` with its input order permuted to
the internal order of the flattened layer before it. A grouped layer's weights are
stored as their dense block-diagonal equivalent; its row holds the outputs and inputs
per group (``out_g``, ``in_g``; a linear layer's table: each internal input's group)
and the kernels add only into the input's group. :attr:`LayerPlan.perm` maps
an internal flat index to the torch (C-order) flat index, for records and
snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec, dense_weight
from ..model_file import Model
from ..neurons import NeuronParams
from ..spec import InputSpec
from . import numba_kernels as K
from .numba_kernels import AVGPOOL, CONV, FLATTEN, LINEAR, MAXPOOL

I = {name: k for k, name in enumerate(K.ICOLS)}
"""Column of each field in the int64 layer table (offsets are into ``mem``,
``weights``, ``lists`` and ``flags``; -1 = absent)."""
F = {name: k for k, name in enumerate(K.FCOLS)}
"""Column of each constant in the float32 layer table."""
IN = {name: k for k, name in enumerate(K.INCOLS)}
"""Column of each field of the input-stage table."""

_ALIGN = 16  # floats (64 bytes)


def aligned_zeros(n: int, dtype: np.dtype | type, align: int = 4096) -> np.ndarray:
    """Zeroed ``(n,)`` array whose data starts on an ``align``-byte boundary (numpy
    only guarantees 16 bytes; the kernels' vector loads and the speed of the same
    plan from one allocation to the next depend on it)."""
    dtype = np.dtype(dtype)
    raw = np.zeros(n * dtype.itemsize + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n * dtype.itemsize].view(dtype)


def f32(v: float) -> float:
    """``v`` rounded to float32, as every backend applies a constant."""
    return float(np.float32(v))


def _hwc_perm(c: int, h: int, w: int) -> np.ndarray:
    """``perm[q]`` = C-order flat index of internal (H, W, C) index ``q``."""
    return np.arange(c * h * w, dtype=np.int64).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


@dataclass
class LayerPlan:
    """Python-side facts of one layer (the kernels use the tables).

    Attributes:
        name: layer name.
        shape: torch output shape without batch, ``(C, H, W)`` or ``(n,)``.
        perm: ``(n,)`` internal flat index -> torch flat index of the output.
        out_off: ``mem`` offset of the ``(B, n)`` internal output, or -1 when the
            output is spikes held in ``flags`` at ``flag_off`` (stride
            :func:`~.numba_kernels.flag_stride` ``(n)`` per stream).
        flag_off: see ``out_off``.
        u_off: ``mem`` offset of the membrane (-1 without a neuron).
        state: snapshot key suffix (``"u"``, ``"i"``, ...) -> ``mem`` offset.
    """

    name: str
    shape: tuple[int, ...]
    perm: np.ndarray
    out_off: int
    flag_off: int = -1
    u_off: int = -1
    state: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything a step needs, allocated once (see the module docstring).

    Attributes:
        batch: streams.
        layers: per-layer tables' Python side.
        itab: ``(L, len(I))`` int64 layer table.
        ftab: ``(L, len(F))`` float32 layer constants.
        intab: ``(len(IN),)`` int64 input-stage table.
        weights: flat float32 weights (source-major layouts).
        mem: flat float32 state (``[0, state_size)``), activations and scratch.
        state_size: floats of ``mem`` that are neuron state.
        lists: flat int32 lookup tables and index lists.
        flags: flat uint8 per-neuron flags and pool marks (flag regions are padded
            with zeros to 8 bytes per stream).
        flags64: ``flags`` viewed as uint64 (to skip 8 silent neurons at once).
        counts: ``(L + 1, B)`` int64 list lengths (row 0: the input stage).
        input_perm: internal -> torch flat index of the input.
        input_off: ``mem`` offset of the ``(B, C*H*W)`` internal input.
    """

    batch: int
    layers: list[LayerPlan]
    itab: np.ndarray
    ftab: np.ndarray
    intab: np.ndarray
    weights: np.ndarray
    mem: np.ndarray
    state_size: int
    lists: np.ndarray
    flags: np.ndarray
    flags64: np.ndarray
    counts: np.ndarray
    input_perm: np.ndarray
    input_off: int


class _Alloc:
    """Bump allocator of aligned regions (sizes in elements)."""

    def __init__(self, align: int = _ALIGN) -> None:
        self.size, self.align = 0, align

    def take(self, n: int) -> int:
        off = self.size
        self.size += -(-n // self.align) * self.align
        return off


def _conv_table(r: np.ndarray, padding: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Per input position: the count of runs, then ``(output offset, weight offset,
    length)`` per run: the contiguous stretches of ``mem`` and of the (kx-flipped)
    weights one input adds into. With stride 1 a kernel row is one run of
    ``kw * C_out`` floats (output positions ``ox`` rise as ``kx`` falls)."""
    ih, iw, oc, oh, ow = (int(r[I[k]]) for k in ("in_h", "in_w", "out_c", "out_h", "out_w"))
    kh, kw, sh, sw = (int(r[I[k]]) for k in ("kh", "kw", "sh", "sw"))
    ph, pw = padding
    slots = 1 + 3 * kh * kw
    tab = np.zeros((ih * iw, slots), np.int32)
    for iy in range(ih):
        for ix in range(iw):
            row, n = tab[iy * iw + ix], 0
            for ky in range(kh):
                ty = iy + ph - ky
                if ty < 0 or ty % sh or ty // sh >= oh:
                    continue
                oy = ty // sh
                taps = [kx for kx in range(kw) if ix + pw - kx >= 0
                        and (ix + pw - kx) % sw == 0 and (ix + pw - kx) // sw < ow]
                runs = [taps] if sw == 1 and taps else [[kx] for kx in taps]
                for run in runs:  # kx ascending: ox descending, flipped tap ascending
                    ox = (ix + pw - run[-1]) // sw
                    row[1 + 3 * n] = (oy * ow + ox) * oc
                    row[2 + 3 * n] = (ky * kw + kw - 1 - run[-1]) * oc
                    row[3 + 3 * n] = len(run) * oc
                    n += 1
            row[0] = n
    return tab.reshape(-1), slots


def _pool_tables(r: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Per input position: the count of windows holding it, then their positions;
    per window: its ``kh * kw`` input positions in row-major order."""
    ih, iw, oh, ow = (int(r[I[k]]) for k in ("in_h", "in_w", "out_h", "out_w"))
    kh, kw, sh, sw = (int(r[I[k]]) for k in ("kh", "kw", "sh", "sw"))
    slots = 1 + (-(-kh // sh)) * (-(-kw // sw))
    touch = np.zeros((ih * iw, slots), np.int32)
    gather = np.zeros((oh * ow, kh * kw), np.int32)
    for oy in range(oh):
        for ox in range(ow):
            for ky in range(kh):
                for kx in range(kw):
                    pos = (oy * sh + ky) * iw + ox * sw + kx
                    gather[oy * ow + ox, ky * kw + kx] = pos
                    row = touch[pos]
                    row[0] += 1
                    row[row[0]] = oy * ow + ox
    return touch.reshape(-1), slots, gather.reshape(-1)


def _input_table(inp: InputSpec, out_off: int, list_off: int) -> np.ndarray:
    """The input stage's row (see :data:`IN`)."""
    c, h, w = inp.shape
    x0, y0, rw, rh = inp.region
    fx, fy = inp.downsample
    return np.array([inp.sensor_size[0], inp.sensor_size[1], x0, y0, rw, rh, fx, fy,
                     int(inp.polarity == "split"), int(inp.mode == "binary"), c, h, w,
                     c * h * w, out_off, list_off, K.shift_of(fx), K.shift_of(fy)], np.int64)


def _neuron_row(p: NeuronParams, state: dict[str, int], r: np.ndarray,
                f: np.ndarray) -> None:
    """Fill the neuron fields of a layer's int row ``r`` and float row ``f``
    (constants rounded to float32, as the torch backend applies them)."""
    r[I["relu"]], r[I["syn"]] = int(p.input_relu), int(p.syn_decay is not None)
    r[I["psp"]], r[I["fire_once"]] = int(p.psp_tau is not None), int(p.fire_once)
    r[I["spiking"]], r[I["order_last"]] = int(p.spiking), int(p.order == "decay_last")
    r[I["reset"]] = {"zero": K.RESET_ZERO, "subtract": K.RESET_SUBTRACT,
                     "none": K.RESET_NONE}[p.reset]
    r[I["fire_ge"]] = int(p.fire_ge)
    for key in ("u", "i", "a", "fired"):
        r[I[f"{key}_off"]] = state.get(key, -1)
    f[F["decay"]] = f32(p.decay)
    f[F["thr"]] = f32(p.threshold)
    f[F["syn_decay"]] = 0.0 if p.syn_decay is None else f32(p.syn_decay)
    f[F["psp"]] = 0.0 if p.psp_tau is None else f32(1.0 / p.psp_tau)
    r[I["list_mode"]] = K.LIST_FLAGS


def _conv_weight(w: np.ndarray) -> np.ndarray:
    """``(out, in, kh, kw)`` -> source-major ``(in, kh, kw, out)`` with ``kw`` flipped
    (see :func:`_conv_table`)."""
    return np.ascontiguousarray(w[:, :, :, ::-1].transpose(1, 2, 3, 0))


def build_plan(model: Model, batch: int) -> Plan:
    """Lay out ``model`` for ``batch`` streams (see the module docstring)."""
    spec = model.spec
    B = batch
    mem, lists, flags = _Alloc(), _Alloc(), _Alloc()
    tables: list[tuple[int, np.ndarray]] = []  # (offset in lists, int32 table)

    def add_table(t: np.ndarray) -> int:
        off = lists.take(t.size)
        tables.append((off, t))
        return off

    wparts: list[np.ndarray] = []
    wsize = 0

    def add_weight(a: np.ndarray) -> int:
        nonlocal wsize
        off = wsize
        a = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
        pad = -(-a.size // _ALIGN) * _ALIGN
        wparts.append(np.concatenate([a, np.zeros(pad - a.size, np.float32)]))
        wsize += pad
        return off

    layers = spec.layers
    shapes = spec.shapes()
    rows = np.zeros((len(layers), len(I)), np.int64)
    for col in ("w_off", "b_off", "acc_off", "out_off", "list_off", "flag_off", "mark_off",
                "tab_off", "tab2_off", "u_off", "i_off", "a_off", "fired_off"):
        rows[:, I[col]] = -1
    frows = np.zeros((len(layers), len(F)), np.float32)
    # neuron state first, so that it is one contiguous region of mem
    plans: list[LayerPlan] = []
    for layer, shape in zip(layers, shapes, strict=True):
        n = int(np.prod(shape))
        lp = LayerPlan(layer.name, tuple(shape), np.arange(n), -1)
        p = layer.neuron
        if p is not None:
            lp.state["u"] = mem.take(B * n)
            if p.syn_decay is not None:
                lp.state["i"] = mem.take(B * n)
            if p.psp_tau is not None:
                lp.state["a"] = mem.take(B * n)
            if p.fire_once:
                lp.state["fired"] = mem.take(B * n)
            lp.u_off = lp.state["u"]
        plans.append(lp)
    state_size = mem.size

    c, h, w = spec.input.shape
    n_in = c * h * w
    input_off = mem.take(B * n_in)
    input_list = lists.take(B * n_in)
    input_perm = _hwc_perm(c, h, w)
    intab = _input_table(spec.input, input_off, input_list)

    in_shape: tuple[int, ...] = (c, h, w)
    in_perm = input_perm
    src = -1  # layer whose output (buffer and list) this layer reads; -1: input
    for k, (layer, shape, lp) in enumerate(zip(layers, shapes, plans, strict=True)):
        r = rows[k]
        n = int(np.prod(shape))
        r[I["src"]], r[I["n_in"]], r[I["n_out"]] = src, int(np.prod(in_shape)), n
        ic, ih, iw = (*in_shape, 1, 1)[:3] if len(in_shape) == 3 else (in_shape[0], 1, 1)
        oc, oh, ow = (*shape, 1, 1)[:3] if len(shape) == 3 else (shape[0], 1, 1)
        r[I["in_c"]], r[I["in_h"]], r[I["in_w"]] = ic, ih, iw
        r[I["out_c"]], r[I["out_h"]], r[I["out_w"]] = oc, oh, ow
        r[I["c_shift"]] = K.shift_of(ic)
        if isinstance(layer, FlattenSpec):
            r[I["kind"]] = FLATTEN
            lp.perm = in_perm
            lp.out_off = plans[src].out_off if src >= 0 else input_off
            lp.flag_off = plans[src].flag_off if src >= 0 else -1
            in_shape = shape
            continue  # aliases its source: src stays
        lp.perm = _hwc_perm(oc, oh, ow) if len(shape) == 3 else np.arange(n)
        if isinstance(layer, Conv2dSpec):
            r[I["kind"]] = CONV
            r[I["kh"]], r[I["kw"]] = layer.kernel_size
            r[I["sh"]], r[I["sw"]] = layer.stride
            wc = dense_weight(layer, model.weight(layer.name))
            r[I["w_off"]] = add_weight(_conv_weight(wc))
            tab, r[I["tab_k"]] = _conv_table(r, layer.padding)
            r[I["tab_off"]] = add_table(tab)
            r[I["out_g"]], r[I["in_g"]] = oc // layer.groups, ic // layer.groups
        elif isinstance(layer, LinearSpec):
            r[I["kind"]] = LINEAR
            wt = dense_weight(layer, model.weight(layer.name))[:, in_perm]  # (out, in_internal)
            r[I["w_off"]] = add_weight(wt.T)
            r[I["out_g"]], r[I["in_g"]] = n // layer.groups, r[I["n_in"]] // layer.groups
            if layer.groups > 1:  # each internal input's group
                r[I["tab_off"]] = add_table((in_perm // r[I["in_g"]]).astype(np.int32))
        else:
            assert isinstance(layer, Pool2dSpec)
            r[I["kind"]] = AVGPOOL if layer.op == "avg" else MAXPOOL
            r[I["kh"]], r[I["kw"]] = layer.kernel_size
            r[I["sh"]], r[I["sw"]] = layer.stride
            frows[k, F["pool_w"]] = f32(layer.weight)
            r[I["mark_off"]] = flags.take(B * n)
            touch, r[I["tab_k"]], gather = _pool_tables(r)
            r[I["tab_off"]], r[I["tab2_off"]] = add_table(touch), add_table(gather)
        bias = model.bias(layer.name)
        if bias is not None:
            r[I["b_off"]] = add_weight(bias)
        r[I["acc_off"]] = mem.take(B * n)
        r[I["list_off"]] = lists.take(B * n)
        r[I["flag_off"]] = flags.take(B * K.flag_stride(n))
        p = layer.neuron
        r[I["neuron"]] = int(p is not None)
        if p is None:
            lp.out_off = int(r[I["acc_off"]])
            touched = r[I["kind"]] in (AVGPOOL, MAXPOOL)
            r[I["list_mode"]] = K.LIST_TOUCHED if touched else K.LIST_FLAGS
        else:
            _neuron_row(p, lp.state, r, frows[k])
            if not p.spiking:
                lp.out_off = lp.state["u"]
            elif p.psp_tau is not None:
                lp.out_off = lp.state["a"]
            else:  # the spikes: 0/1 in the flags
                lp.out_off = -1
                r[I["out_bits"]] = 1
                lp.flag_off = int(r[I["flag_off"]])
        r[I["out_off"]] = lp.out_off if lp.out_off >= 0 else r[I["flag_off"]]
        in_shape, in_perm, src = shape, lp.perm, k
    last = len(layers) - 1
    while last >= 0 and rows[last, I["kind"]] == FLATTEN:
        last -= 1
    rows[last, I["list_mode"]] = K.LIST_NONE  # nothing reads the output layer's list

    weights = aligned_zeros(max(wsize, _ALIGN), np.float32)
    if wparts:
        weights[:] = np.concatenate(wparts)
    list_arr = aligned_zeros(max(lists.size, 1), np.int32)
    for off, t in tables:
        list_arr[off:off + t.size] = t
    flag_arr = aligned_zeros(max(flags.size, 8), np.uint8)
    return Plan(
        batch=B, layers=plans, itab=rows, ftab=frows, intab=intab, weights=weights,
        mem=aligned_zeros(mem.size, np.float32), state_size=state_size,
        lists=list_arr, flags=flag_arr,
        flags64=flag_arr.view(np.uint64), counts=np.zeros((len(layers) + 1, B), np.int64),
        input_perm=input_perm, input_off=input_off,
    )
