"""The one neuron family of spikestream: a discrete current-based LIF, functional form.

Every rule's neuron is a :class:`NeuronParams` (frozen constants), a
:class:`NeuronState` (tensors), :func:`neuron_init` and :func:`neuron_step`, which
never mutates its inputs (norse style). Training calls the same :func:`neuron_step`
with a surrogate ``spike_fn``; the runtime calls it with the plain :func:`heaviside`.

One step, in float32, for an input current ``I`` (``x`` below):

1. ``x = relu(I)`` if ``input_relu`` (BPSTA) else ``I``
2. synaptic current, if ``syn_decay`` is set: ``i = syn_decay * i + x``; ``x = i``
3. ``order == "decay_first"``: ``u = decay * u + x``; ``"decay_last"``: ``u = u + x``
4. if ``spiking``: ``s = spike_fn(u - threshold, fire_ge)`` (1 where ``u > threshold``,
   or ``u >= threshold`` when ``fire_ge``); with ``fire_once``: ``s = s * (1 - fired)``,
   ``fired = max(fired, s)``; reset ``"zero"``: ``u = u * (1 - s)``,
   ``"subtract"``: ``u = u - s * threshold``, ``"none"``: nothing
5. ``order == "decay_last"``: ``u = decay * u``
6. output: ``u`` if not ``spiking``; else the PSP trace
   ``a = a + (s - a) * psp_factor`` (``psp_factor = float32(1 / psp_tau)``) when
   ``psp_tau`` is set (TSSL-BP), else ``s``.

The two orders fire identically (the membrane that is compared with the threshold is
``decay * u_prev_after_reset + x`` in both); they differ in the stored ``u`` and so in
the output of a non-spiking readout (Lee et al. output the decayed membrane).

Rule constants, as the authors' public code has them (see :data:`RULE_NEURONS`):

- STBP (Wu et al. 2018, yjwu17/STBP-for-training-SpikingNN ``mem_update``):
  ``u = decay*u*(1-o) + Wx``, ``o = u > 0.5``, decay 0.2: decay_first, zero reset, ``>``.
- TSSL-BP (Zhang & Li 2020, stonezwr/TSSL-BP ``TSSLBP.forward``): ``u = (1-1/tau_m) u + I``,
  ``s = u > theta``, ``u = u (1-s)``, ``a = a + (s-a)/tau_s`` is the layer output.
- BPSTA (Shen et al. 2021, Brain-Cog-Lab ``HTGLIFNode``): ``u += relu(I)``,
  ``s = u >= 0.5``, ``u = 0`` where fired, ``u *= 0.9``: decay_last, ``>=``.
- Lee et al. 2020 (chan8972 ``LIF_sNeuron``): ``u += Wx``, ``s = u > th``, hard reset,
  ``u *= 0.99`` (decay_last); IF pooling neurons (threshold 0.75, decay 1); the output
  layer is a non-spiking leaky integrator ``u = 0.99 (u + Wx)``.
- ReL-PSP (Zhang et al. 2021): non-leaky (decay 1), non-decaying current
  (syn_decay 1: ``u`` grows linearly after each input spike, the rectified-linear PSP),
  fires at most once until the state is reset; the output layer is the same neuron
  without the spike (its membrane goes to the readout, which finds the first crossing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, NamedTuple

import torch

Reset = Literal["zero", "subtract", "none"]
Order = Literal["decay_first", "decay_last"]
SpikeFn = Callable[[torch.Tensor, bool], torch.Tensor]

RESETS = ("zero", "subtract", "none")
ORDERS = ("decay_first", "decay_last")


@dataclass(frozen=True)
class NeuronParams:
    """Constants of one layer's neurons (see the module docstring for the step).

    Attributes:
        decay: membrane factor per step (1.0 = no leak).
        threshold: firing threshold.
        reset: ``"zero"`` (hard), ``"subtract"`` (soft) or ``"none"``.
        order: ``"decay_first"`` (STBP, TSSL-BP) or ``"decay_last"`` (BPSTA, Lee).
        fire_ge: fire on ``u >= threshold`` instead of ``u > threshold``.
        syn_decay: synaptic current factor per step; None = no current state.
        psp_tau: TSSL-BP output trace time constant in steps; None = output spikes.
        fire_once: at most one spike per neuron until the state is reset (ReL-PSP).
        spiking: False = non-spiking leaky integrator whose output is ``u``.
        input_relu: rectify the synaptic input before integrating it (BPSTA).
    """

    decay: float = 1.0
    threshold: float = 1.0
    reset: Reset = "zero"
    order: Order = "decay_first"
    fire_ge: bool = False
    syn_decay: float | None = None
    psp_tau: float | None = None
    fire_once: bool = False
    spiking: bool = True
    input_relu: bool = False

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(f"NeuronParams.{problem}")

    @property
    def psp_factor(self) -> float | None:
        """``1 / psp_tau`` (applied in float32), or None."""
        return None if self.psp_tau is None else 1.0 / self.psp_tau

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeuronParams:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown neuron field; known: "
                             f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**d)


def _problem(p: NeuronParams) -> str | None:
    for name in ("decay", "threshold"):
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"{name}: expected a number, got {v!r}"
    if p.reset not in RESETS:
        return f"reset: expected one of {RESETS}, got {p.reset!r}"
    if p.order not in ORDERS:
        return f"order: expected one of {ORDERS}, got {p.order!r}"
    for name in ("fire_ge", "fire_once", "spiking", "input_relu"):
        if not isinstance(getattr(p, name), bool):
            return f"{name}: expected true or false, got {getattr(p, name)!r}"
    if p.syn_decay is not None and (
        isinstance(p.syn_decay, bool) or not isinstance(p.syn_decay, int | float)
    ):
        return f"syn_decay: expected a number or null, got {p.syn_decay!r}"
    if p.psp_tau is not None and (
        isinstance(p.psp_tau, bool) or not isinstance(p.psp_tau, int | float) or p.psp_tau < 1
    ):
        return f"psp_tau: expected a number >= 1 or null, got {p.psp_tau!r}"
    if not p.spiking and (p.fire_once or p.psp_tau is not None):
        return "spiking: a non-spiking neuron cannot have fire_once or psp_tau"
    return None


class NeuronState(NamedTuple):
    """State of one layer's neurons, each ``(B, *shape)`` float32 or None when unused.

    Attributes:
        u: membrane potential.
        i: synaptic current (``syn_decay`` set).
        a: PSP output trace (``psp_tau`` set).
        fired: 1 where the neuron has fired since the last reset (``fire_once``).
    """

    u: torch.Tensor
    i: torch.Tensor | None = None
    a: torch.Tensor | None = None
    fired: torch.Tensor | None = None


def heaviside(x: torch.Tensor, ge: bool = False) -> torch.Tensor:
    """Plain step: 1.0 where ``x > 0`` (``x >= 0`` when ``ge``), else 0.0, in ``x``'s dtype.

    ``u - threshold > 0`` is exactly ``u > threshold`` in IEEE arithmetic.
    """
    return (x >= 0 if ge else x > 0).to(x.dtype)


def neuron_init(
    shape: tuple[int, ...],
    params: NeuronParams,
    batch: int = 1,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> NeuronState:
    """Zero state for ``batch`` streams of neurons of ``shape`` (e.g. ``(C, H, W)``)."""
    def z() -> torch.Tensor:
        return torch.zeros((batch, *shape), device=device, dtype=dtype)

    return NeuronState(
        u=z(),
        i=z() if params.syn_decay is not None else None,
        a=z() if params.psp_tau is not None else None,
        fired=z() if params.fire_once else None,
    )


def neuron_step(
    x: torch.Tensor,
    state: NeuronState,
    params: NeuronParams,
    spike_fn: SpikeFn = heaviside,
) -> tuple[torch.Tensor, NeuronState]:
    """One time step of a layer's neurons.

    Args:
        x: ``(B, *shape)`` synaptic input current of this step.
        state: the layer's state before the step (not modified).
        params: the layer's constants.
        spike_fn: ``spike_fn(u - threshold, fire_ge)``, 0/1 forward; training passes a
            surrogate here.

    Returns:
        ``(out, new_state)``: ``out`` is ``(B, *shape)``: spikes, the PSP trace
        (``psp_tau``) or the membrane (not ``spiking``).
    """
    p = params
    if p.input_relu:
        x = torch.relu(x)
    i = state.i
    if i is not None:
        i = p.syn_decay * i + x
        x = i
    u = p.decay * state.u + x if p.order == "decay_first" else state.u + x
    a, fired = state.a, state.fired
    if not p.spiking:
        if p.order == "decay_last":
            u = p.decay * u
        return u, NeuronState(u, i, a, fired)
    s = spike_fn(u - p.threshold, p.fire_ge)
    if fired is not None:
        s = s * (1.0 - fired)
        fired = torch.maximum(fired, s)
    if p.reset == "zero":
        u = u * (1.0 - s)
    elif p.reset == "subtract":
        u = u - s * p.threshold
    if p.order == "decay_last":
        u = p.decay * u
    out = s
    if a is not None:
        a = a + (s - a) * p.psp_factor
        out = a
    return out, NeuronState(u, i, a, fired)


RULE_NEURONS: dict[str, NeuronParams] = {
    "stbp": NeuronParams(decay=0.2, threshold=0.5, reset="zero", order="decay_first"),
    "tssl": NeuronParams(decay=1.0 - 1.0 / 8.0, threshold=1.0, reset="zero",
                         order="decay_first", psp_tau=4.0),
    "bpsta": NeuronParams(decay=0.9, threshold=0.5, reset="zero", order="decay_last",
                          fire_ge=True, input_relu=True),
    "lee": NeuronParams(decay=0.99, threshold=1.0, reset="zero", order="decay_last"),
    "lee_pool": NeuronParams(decay=1.0, threshold=0.75, reset="zero", order="decay_last"),
    "lee_readout": NeuronParams(decay=0.99, order="decay_last", reset="none", spiking=False),
    "relpsp": NeuronParams(decay=1.0, threshold=1.0, reset="zero", syn_decay=1.0,
                           fire_once=True),
    "relpsp_readout": NeuronParams(decay=1.0, threshold=1.0, reset="none", syn_decay=1.0,
                                   spiking=False),
    "lif": NeuronParams(decay=0.9, threshold=1.0, reset="subtract", order="decay_first"),
}
"""Default neuron of each rule (``"lee_pool"``/``"lee_readout"``: Lee's pooling and
readout neurons; ``"relpsp_readout"``: ReL-PSP's output neurons as integrators whose
membrane the ``"first_spike"`` readout compares with ``threshold``, to time the first
crossing inside its step; ``"lif"``: the benchmark's reference LIF with subtractive reset).
TSSL-BP's tau_m 8 and tau_s 4 are its N-MNIST config's values
(Networks/NMNIST_CNN.yaml)."""


def rule_neuron(rule: str, **overrides: Any) -> NeuronParams:
    """The default neuron of ``rule`` with ``overrides`` applied.

    Raises:
        ValueError: unknown rule (the message lists the known ones).
    """
    try:
        base = RULE_NEURONS[rule]
    except KeyError:
        raise ValueError(
            f"unknown rule neuron {rule!r}; known: {', '.join(RULE_NEURONS)}"
        ) from None
    return replace(base, **overrides)
