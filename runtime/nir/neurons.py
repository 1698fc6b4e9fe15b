"""NIR neuron nodes -> one :class:`~..neurons.NeuronParams` plus an input gain and offset.

Each mapping returns ``(params, gain, offset)``: the neuron steps
``u = decay * u + x`` on ``x = gain * I + offset`` where ``I`` is the output of the
layer before it, so ``gain`` (per neuron) scales that layer's weights and bias and
``offset`` (``a * v_leak``) is added to its bias (see :mod:`.discretise`). Constants
spikestream keeps per layer (decay, threshold, synaptic decay) must be equal across
the node's neurons; anything else is refused naming the node.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

from ..neurons import NeuronParams
from .discretise import Convention, snap
from .errors import NIRError
from .graph import as_array

NEURON_TYPES = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I, nir.Threshold)


class _Node:
    """Parameter access for one node, with errors naming it."""

    def __init__(self, key: str, node: Any, shape: tuple[int, ...], source: str) -> None:
        self.key, self.node, self.shape, self.source = key, node, shape, source
        self.kind = type(node).__name__

    def fail(self, problem: str) -> NIRError:
        return NIRError(self.source, self.key, self.kind, problem)

    def param(self, name: str, default: float | None = None) -> np.ndarray:
        v = getattr(self.node, name, None)
        if v is None:
            if default is None:
                raise self.fail(f"missing parameter {name}")
            v = default
        a = as_array(v)
        if not np.isfinite(a).all():
            raise self.fail(f"{name} contains NaN or infinity")
        try:
            return np.broadcast_to(a, self.shape).astype(np.float64)
        except ValueError:
            raise self.fail(f"{name} has shape {a.shape}; the layer before it outputs "
                            f"{self.shape}") from None

    def positive(self, name: str) -> np.ndarray:
        a = self.param(name)
        if (a <= 0).any():
            raise self.fail(f"{name} must be > 0, got {a.min():g}")
        return a

    def uniform(self, name: str, a: np.ndarray) -> float:
        lo, hi = float(a.min()), float(a.max())
        if lo != hi:
            raise self.fail(f"{name} differs between neurons ({lo:g} .. {hi:g}); "
                            "spikestream keeps one value per layer")
        return lo

    def no_reset_offset(self) -> None:
        v = self.param("v_reset", 0.0)
        if (v != 0).any():
            raise self.fail(f"v_reset is {v.min():g}..{v.max():g}; spikestream neurons "
                            "reset to 0 (v_reset = 0)")

    def decay(self, name: str, a: np.ndarray) -> float:
        """``1 - a`` as one per-layer constant; refuses an unstable step."""
        if (a > 1.0 + 1e-9).any():
            raise self.fail(
                f"one step is {a.max():g} x {name}: forward Euler with a step longer than "
                "the time constant is unstable, so the graph's time constants are "
                "probably in another convention (snnTorch: convention 'snntorch'; Norse "
                "1.1: convention 'norse'), or dt_us is too long")
        return self.uniform(f"decay 1 - dt/{name}", snap(1.0 - a, one=False))


def map_neuron(key: str, node: Any, shape: tuple[int, ...], conv: Convention, dt_us: int,
               nir_dt_s: float | None, source: str
               ) -> tuple[NeuronParams, np.ndarray, np.ndarray]:
    """``(params, gain, offset)`` of one neuron node over ``shape`` neurons."""
    n = _Node(key, node, shape, source)
    h = conv.leak_step(dt_us, nir_dt_s)
    zero = np.zeros(shape)
    fire: dict[str, Any] = {"reset": "zero", "fire_ge": conv.fire_ge}
    if isinstance(node, nir.Threshold):
        thr = n.uniform("threshold", n.param("threshold"))
        return NeuronParams(decay=0.0, threshold=thr, **fire), np.ones(shape), zero
    if isinstance(node, nir.IF | nir.I):
        gain = snap(conv.integrate_step(dt_us, nir_dt_s) * n.param("r"))
        if isinstance(node, nir.I):
            return NeuronParams(decay=1.0, reset="none", spiking=False), gain, zero
        n.no_reset_offset()
        thr = n.uniform("v_threshold", n.param("v_threshold"))
        return NeuronParams(decay=1.0, threshold=thr, **fire), gain, zero
    if isinstance(node, nir.LIF | nir.LI):
        a = conv.step_fraction(h, n.positive("tau"))
        decay = n.decay("tau", a)
        gain = snap(a * n.param("r"))
        offset = snap(a * n.param("v_leak", 0.0), one=False)
        if isinstance(node, nir.LI):
            return NeuronParams(decay=decay, reset="none", spiking=False), gain, offset
        n.no_reset_offset()
        thr = n.uniform("v_threshold", n.param("v_threshold"))
        return NeuronParams(decay=decay, threshold=thr, **fire), gain, offset
    if isinstance(node, nir.CubaLIF | nir.CubaLI):
        if not conv.cuba:
            raise n.fail(f"convention {conv.name!r}: {conv.note}; its current-based cell "
                         "integrates the previous step's current, a one-step delay "
                         "spikestream cannot express")
        a_s = conv.step_fraction(h, n.positive("tau_syn"))
        a_m = conv.step_fraction(h, n.positive("tau_mem"))
        syn_decay = n.decay("tau_syn", a_s)
        decay = n.decay("tau_mem", a_m)
        if (n.param("v_leak", 0.0) != 0).any():
            raise n.fail("v_leak != 0 in a current-based neuron: the leak would enter "
                         "through the synaptic current, which spikestream cannot express")
        gain = snap(a_m * n.param("r") * a_s * n.param("w_in", 1.0))
        if isinstance(node, nir.CubaLI):
            return (NeuronParams(decay=decay, reset="none", spiking=False,
                                 syn_decay=syn_decay), gain, zero)
        n.no_reset_offset()
        thr = n.uniform("v_threshold", n.param("v_threshold"))
        return (NeuronParams(decay=decay, threshold=thr, syn_decay=syn_decay, **fire),
                gain, zero)
    raise n.fail("not a neuron node")  # pragma: no cover (callers check NEURON_TYPES)
