"""How NIR's continuous-time neuron parameters become one discrete spikestream step.

NIR (Pedersen et al., Nat. Commun. 15, 8122, 2024) writes neurons as ODEs, e.g. LIF
``tau dv/dt = (v_leak - v) + r I`` with ``v > v_threshold -> v = v_reset``. Every
framework that reads or writes NIR integrates them with **forward Euler**; they
differ only in how long one step is in the graph's time unit. With ``h`` that step,
one spikestream step of a LIF is::

    a = h / tau;   u = (1 - a) u + a r I + a v_leak      (decay = 1 - a)

so ``decay = 1 - a`` and the input gain ``a r`` (and ``a v_leak``) are folded into the
weights and bias of the layer before the neuron. A CubaLIF
(``tau_syn dI/dt = -I + w_in S``) updates its current first and the membrane then
integrates the new current (snnTorch ``Synaptic``'s order, which is our neuron's):
``i = (1 - h/tau_syn) i + (h/tau_syn) w_in S``, ``u = (1 - h/tau_mem) u + (h/tau_mem) r i``.
IF (``dv/dt = r I``) and I integrate ``u = u + g r I`` with ``g`` the convention's
integration step.

The conventions (:data:`CONVENTIONS`), each exactly what the exporter's own code does
(checked spike for spike against each framework's own forward in
``tests/runtime/nir``):

- ``"nir"``: the NIR spec in seconds, ``h = dt_us * 1e-6`` (what spikestream's own
  :func:`export_nir` writes by default); IF/I: ``g = h``. Why: it is what the graph
  means to any reader that takes NIR literally (Lava-DL, SpiNNaker2, Norse after
  norse/norse#413).
- ``"snntorch"``: snnTorch's ``export_to_nir``/``import_from_nir`` fix ``dt = 1e-4``
  whatever the frame length (``tau = dt / (1 - beta)``, ``r = tau / dt``), so
  ``h = 1e-4`` and a ``Leaky(beta)`` comes back as ``decay = beta`` with gain 1;
  IF/I: ``g = 1`` per step. Why: a snnTorch network has no time unit, only ``beta``
  per step. snnTorch writes ``v_reset = 0`` whatever ``reset_mechanism`` says and its
  own import reads a hard, immediate reset (``reset_mechanism="zero"``,
  ``reset_delay=False``): a network trained with the default subtractive reset (or a
  ``Synaptic`` with the default ``reset_delay=True``, which also drops the input of
  the step after a spike) runs differently in snnTorch's own import and here.
- ``"norse"``: Norse 1.1's ``to_nir(dt=d)`` (default ``d = 1e-3``) writes
  ``tau = d / tau_mem_inv``, i.e. ``d * tau`` (norse/norse#411), and its cells step
  ``v += d * tau_mem_inv * (...)``; the step that reproduces them is ``h = d**2``
  (``d`` must be the cells' own ``dt``). ``IAFCell`` adds its input unscaled:
  ``g = 1``. A ``LIFCell`` (CubaLIF) integrates the *previous* step's current, a
  one-step delay spikestream cannot express: refused.
- ``"spikingjelly"``: SpikingJelly 2.0's ``export_to_nir(dt=1e-4)`` writes NIR
  literally at its ``dt`` (``tau = tau_sj * dt``, IF ``r = 1/dt``), so ``h = dt``,
  ``g = h``; its neurons fire on ``v >= v_threshold`` (its Heaviside), so imported
  neurons do too (``fire_ge``).

snnTorch and Norse compute ``tau`` in float32 from their own float32 factor (``1 - beta``,
``dt * tau_mem_inv``); :func:`shortest_f32` recovers that factor from the file so that
the decay is the peer's own (``0.9``, not ``0.90000004``).

``nir_dt_s`` overrides ``h``'s source (``"nir"``: the step in seconds; ``"snntorch"``,
``"spikingjelly"``: their dt; ``"norse"``: the ``dt`` given to ``to_nir``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SNAP_RTOL = 1e-6
"""A gain within this relative distance of 1 is 1 (float32 noise of ``tau`` and ``r``
written by an exporter); the weights are then left bit-identical."""


@dataclass(frozen=True)
class Convention:
    """One exporter's discretisation (see the module docstring).

    Attributes:
        name: ``"nir"``, ``"snntorch"`` or ``"norse"``.
        default_dt_s: the exporter's step (None: the model's ``dt_us`` in seconds).
        squared: ``h = dt**2`` (Norse 1.1's ``tau = dt / tau_mem_inv``).
        integrate_per_step: IF/I add ``r I`` per step (``g = 1``) instead of ``h r I``.
        cuba: CubaLIF/CubaLI nodes can be expressed.
        float32_taus: the exporter computes ``tau`` in float32 from its own float32 step
            factor, so ``h / tau`` is recovered with :func:`shortest_f32`.
        fire_ge: the exporter's neurons fire on ``v >= v_threshold`` (SpikingJelly's
            Heaviside), not NIR's ``v > v_threshold``.
        note: why, for messages and ``--help``.
    """

    name: str
    default_dt_s: float | None
    squared: bool
    integrate_per_step: bool
    cuba: bool
    float32_taus: bool
    fire_ge: bool
    note: str

    def leak_step(self, dt_us: int, nir_dt_s: float | None = None) -> float:
        """``h``: one model step in the graph's time unit, for ``a = h / tau``."""
        d = nir_dt_s if nir_dt_s is not None else self.default_dt_s
        if d is None:
            d = dt_us * 1e-6
        return d * d if self.squared else d

    def step_fraction(self, h: float, tau: np.ndarray) -> np.ndarray:
        """``a = h / tau``; for a float32 exporter, its own float32 factor (see
        :func:`shortest_f32`), else exact (our own export writes float64 ``tau``)."""
        a = h / tau
        return shortest_f32(a) if self.float32_taus else a

    def integrate_step(self, dt_us: int, nir_dt_s: float | None = None) -> float:
        """``g`` of IF and I nodes: ``u += g r I`` per step."""
        return 1.0 if self.integrate_per_step else self.leak_step(dt_us, nir_dt_s)


CONVENTIONS: dict[str, Convention] = {
    "nir": Convention("nir", None, False, False, True, False, False,
                      "NIR's ODEs in seconds, forward Euler with h = dt_us * 1e-6"),
    "snntorch": Convention("snntorch", 1e-4, False, True, True, True, False,
                           "snnTorch export_nir/import_nir: forward Euler with dt = 1e-4 "
                           "(Leaky beta = 1 - dt/tau)"),
    "norse": Convention("norse", 1e-3, True, True, False, True, False,
                        "Norse 1.1 to_nir(dt=1e-3): tau written as dt / tau_mem_inv "
                        "(norse#411), so h = dt**2"),
    "spikingjelly": Convention("spikingjelly", 1e-4, False, False, True, False, True,
                               "SpikingJelly 2.0 export_to_nir(dt=1e-4): NIR's ODEs with "
                               "h = dt (IF r = 1/dt), firing on v >= v_threshold"),
}


def convention(name: str) -> Convention:
    """The convention called ``name``; ``ValueError`` lists the known ones."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown NIR convention {name!r}; known: "
                         f"{', '.join(CONVENTIONS)}") from None


def shortest_f32(x: np.ndarray | float, ulps: int = 2) -> np.ndarray:
    """Each value as the float32 within ``ulps`` float32 steps of it whose decimal is
    shortest (the nearest among equals), as a float64.

    Exporters compute ``tau`` in float32 from a float32 factor (Norse 1.1:
    ``tau = dt / tau_mem_inv``, then steps with ``dt * tau_mem_inv``), and inverting
    that loses an ulp or two: ``1e-6 / float32(1e-5)`` is float32 ``0.099999994``, one
    step below Norse's own ``0.1``. Parameters are human decimals or trained float32
    values; moving by at most ``ulps`` steps to the shortest decimal recovers the
    former and changes the latter by less than the exporter's own rounding."""
    a = np.asarray(x, dtype=np.float64)
    return _per_value(a, lambda v: _shortest_near(v, ulps))


def _shortest_near(v: float, ulps: int) -> float:
    f = np.float32(v)
    cands = [f]
    lo = hi = f
    for _ in range(ulps):
        lo, hi = np.nextafter(lo, np.float32(-np.inf)), np.nextafter(hi, np.float32(np.inf))
        cands += [lo, hi]
    return float(min(cands, key=lambda c: (len(str(c)), abs(float(c) - v))))


def _per_value(a: np.ndarray, f: Callable[[float], float]) -> np.ndarray:
    """``f`` of each distinct value of ``a`` (parameters repeat per neuron: a layer of a
    million neurons has a handful of distinct time constants)."""
    values, inverse = np.unique(a.ravel(), return_inverse=True)
    return np.array([f(float(v)) for v in values], np.float64)[inverse].reshape(a.shape)


def snap(x: np.ndarray | float, one: bool = True) -> np.ndarray:
    """Round float64 noise away.

    With ``one`` (gains), values keep 12 significant digits and those within
    :data:`SNAP_RTOL` of 1 become exactly 1. Without (decays, which every backend
    applies in float32), each value becomes the shortest decimal of its float32, so
    snnTorch's ``beta = 0.9`` written as ``tau = 1e-4 / (1 - beta)`` comes back as 0.9.
    """
    a = np.asarray(x, dtype=np.float64)
    if not one:
        return _per_value(a, lambda v: float(str(np.float32(v))))
    out = _per_value(a, lambda v: float(f"{v:.12g}"))
    out[np.abs(a - 1.0) <= SNAP_RTOL] = 1.0
    return out
