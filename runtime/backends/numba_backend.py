"""Event-driven numba backend: cost follows activity, not frame size.

Input events and hidden spikes propagate by scattering their outgoing weights (a
conv input adds its kernel into the output positions it reaches; a linear input adds
its weight column), pooling reduces only the windows an active input touched, and
each layer's neurons are updated in one dense pass (leaky neurons decay every step,
with the float32 operation order of :func:`~spikestream.runtime.neurons.neuron_step`,
so the results equal the torch backend's exactly on grid-rounded weights).

The whole step, input binning from the window's raw events included, is ONE compiled
call (:func:`.numba_kernels.step`) over the flat arrays of :mod:`.numba_plan`; no
Python runs per layer and nothing is allocated per step. ``timed=True`` calls the
input stage and each layer separately to time them (adding a call's overhead,
about a microsecond, to each).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ...streams.events import EVENT_DTYPE, as_events
from ..model_file import Model
from . import numba_kernels as K
from .base import StepOutput, check_snapshot, state_shapes
from .numba_plan import LayerPlan, Plan, build_plan

Prepared = tuple[np.ndarray, np.ndarray]
"""``(events, offsets)``: every stream's events back to back (EVENT_DTYPE) and
``(B + 1,)`` int64 offsets: stream ``b`` is ``events[offsets[b]:offsets[b + 1]]``."""

_VOID = np.dtype((np.void, EVENT_DTYPE.itemsize))


def _as_event_array(ev: np.ndarray) -> np.ndarray:
    if ev.dtype != EVENT_DTYPE:
        ev = as_events(ev)
    return ev if ev.flags.c_contiguous else np.ascontiguousarray(ev)


_OFFSETS: dict[int, np.ndarray] = {}


def _offsets(n: int) -> np.ndarray:
    """``[0, n]`` as int64 (cached, read-only: the kernels never write it)."""
    off = _OFFSETS.get(n)
    if off is None:
        off = np.array([0, n], np.int64)
        off.setflags(write=False)
        if n < 65536:
            _OFFSETS[n] = off
    return off


class NumbaBackend:
    """Event-driven numba backend (see the module docstring and :mod:`.base`).

    Args:
        model: the model.
        batch: independent streams stepped together.
        device: ``None`` or ``"cpu"`` (numba runs on the CPU, single-threaded).

    Attributes:
        plan: the flat arrays the kernels run on (:mod:`.numba_plan`).
    """

    name = "numba"

    def __init__(self, model: Model, batch: int = 1, device: str | None = None) -> None:
        if device not in (None, "cpu"):
            raise ValueError(f"device {device!r}: the numba backend runs on the CPU only")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model, self.batch = model, batch
        self.plan: Plan = build_plan(model, batch)
        self._outside = np.zeros(batch, np.int64)  # added to by the kernel
        p = self.plan
        self._args = (p.itab, p.ftab, p.intab, p.weights, p.mem, p.lists, p.flags, p.flags64,
                      p.counts)
        last = p.layers[-1]
        self._out_view = self._output_of(last)
        n = len(last.perm)
        self._out_perm = None if np.array_equal(last.perm, np.arange(n)) else last.perm

    @property
    def counters(self) -> Counter[str]:
        """``outside_crop``: events outside the input crop, left out of the network's
        input (the input stage's ``n_outside``), over all streams since creation."""
        return Counter({"outside_crop": int(self._outside.sum())})

    # stepping ---------------------------------------------------------------
    def prepare(self, events: Sequence[np.ndarray]) -> Prepared:
        """``B`` windows' events (one array per stream) as one array and offsets."""
        if len(events) != self.batch:
            raise ValueError(f"expected events of {self.batch} streams, got {len(events)}")
        if self.batch == 1:
            ev = _as_event_array(events[0])
            return ev, _offsets(len(ev))
        parts = [_as_event_array(e) for e in events]
        off = np.zeros(self.batch + 1, np.int64)
        np.cumsum([len(e) for e in parts], out=off[1:])
        off.setflags(write=False)  # one numba specialization for every batch size
        ev = np.concatenate([e.view(_VOID) for e in parts]).view(EVENT_DTYPE)
        return ev, off

    def step(self, prepared: Prepared, record: bool = False,
             timed: bool = False) -> StepOutput:
        """Advance every stream by one step (one compiled call unless ``timed``)."""
        ev, off = prepared
        times: dict[str, float] | None = None
        if timed:
            times = self._timed_step(ev, off)
        else:
            bad = K.step(*self._args, ev, off, self._outside)
            if bad >= 0:
                self._raise_outside(ev, off, bad)
        out = self._out_view
        out = (out.astype(np.float32) if self._out_perm is None
               else self._to_torch(out.astype(np.float32), self._out_perm))
        rec = self._record() if record else None
        return StepOutput(out, rec, times)

    def _timed_step(self, ev: np.ndarray, off: np.ndarray) -> dict[str, float]:
        p = self.plan
        perf = time.perf_counter
        t0 = perf()
        bad = K.input_stage(p.intab, p.mem, p.lists, p.counts, ev, off, self._outside)
        t1 = perf()
        if bad >= 0:
            self._raise_outside(ev, off, bad)
        times = {"scatter": (t1 - t0) * 1e6}  # events -> first layer (part of "network")
        for k, lp in enumerate(p.layers):
            t0 = perf()
            K.network(p.itab, p.ftab, p.intab, p.weights, p.mem, p.lists, p.flags,
                      p.flags64, p.counts, k, k + 1)
            times[lp.name] = (perf() - t0) * 1e6
        return times

    def _raise_outside(self, ev: np.ndarray, off: np.ndarray, i: int) -> None:
        b = int(np.searchsorted(off, i, side="right")) - 1
        w, h = self.model.spec.input.sensor_size[:2]
        e = ev[i]
        raise ValueError(f"stream {b}: event {i - off[b]} at x={e['x']}, y={e['y']} lies "
                         f"outside the {w}x{h} sensor of model {self.model.spec.name!r} "
                         "(nothing was stepped)")

    # records and state --------------------------------------------------------
    def _to_torch(self, internal: np.ndarray, perm: np.ndarray) -> np.ndarray:
        """``(B, n)`` internal order -> ``(B, n)`` torch C order."""
        out = np.empty_like(internal)
        out[:, perm] = internal
        return out

    def _view(self, off: int, n: int) -> np.ndarray:
        return self.plan.mem[off:off + self.batch * n].reshape(self.batch, n)

    def _output_of(self, lp: LayerPlan) -> np.ndarray:
        """``(B, n)`` internal-order view of a layer's output: float32 in ``mem``, or
        uint8 spikes in ``flags``."""
        n = len(lp.perm)
        if lp.out_off >= 0:
            return self._view(lp.out_off, n)
        stride = int(K.flag_stride(n))
        return self.plan.flags[lp.flag_off:lp.flag_off + self.batch * stride].reshape(
            self.batch, stride)[:, :n]

    def _record(self) -> dict[str, np.ndarray]:
        p, B = self.plan, self.batch
        shape = self.model.spec.input.shape
        rec = {"input": self._to_torch(self._view(p.input_off, len(p.input_perm)),
                                       p.input_perm).reshape(B, *shape)}
        for lp in p.layers:
            n = len(lp.perm)
            out = self._output_of(lp).astype(np.float32)
            rec[lp.name] = self._to_torch(out, lp.perm).reshape(B, *lp.shape)
            if lp.u_off >= 0:
                rec[f"{lp.name}.u"] = self._to_torch(self._view(lp.u_off, n), lp.perm).reshape(
                    B, *lp.shape)
        return rec

    def reset(self) -> None:
        """Zero every neuron's state and every buffer (as at creation)."""
        p = self.plan
        p.mem[:] = 0.0
        p.flags[:] = 0
        p.counts[:] = 0

    def snapshot(self) -> dict[str, np.ndarray]:
        B = self.batch
        return {f"{lp.name}.{k}": self._to_torch(self._view(off, len(lp.perm)),
                                                 lp.perm).reshape(B, *lp.shape)
                for lp in self.plan.layers for k, off in lp.state.items()}

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        check_snapshot(snap, self.model, self.batch)
        for lp in self.plan.layers:
            n = len(lp.perm)
            for k, off in lp.state.items():
                flat = np.asarray(snap[f"{lp.name}.{k}"], np.float32).reshape(self.batch, n)
                self._view(off, n)[:] = flat[:, lp.perm]

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return state_shapes(self.model, self.batch)


def create(model: Model, batch: int = 1, device: str | None = None) -> NumbaBackend:
    """Backend factory looked up by :func:`.base.create_backend`."""
    return NumbaBackend(model, batch=batch, device=device)
