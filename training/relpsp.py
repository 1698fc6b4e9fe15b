"""ReL-PSP / STDBP: rectified linear postsynaptic potentials (Zhang et al. 2021).

"Rectified linear postsynaptic potential function for backpropagation in deep
spiking neural networks", Zhang, Wang, Wu, Chua, Chen, Zhang, Li & Li, IEEE TNNLS
2021 (public code: STDBP).

Neuron (the runtime's ``rule_neuron("relpsp")``): non-leaky (``decay = 1``) with a
non-decaying synaptic current (``syn_decay = 1``), firing at most once per sample
window (``fire_once``). An input ``y[t']`` (the synapse's output at step ``t'``)
adds ``y[t'] (t - t' + 1)`` to ``u[t]`` for every ``t >= t'``: the discrete form of
the rectified-linear PSP ``K(t - t_i) = max(0, t - t_i)`` with the input's
continuous time ``t_i = t' - 1``. Training runs the runtime's own
:func:`~spikestream.runtime.neurons.neuron_step` (so the exported file, stepped by
the runtime, fires at the very steps the training forward does).

Input: the runtime's input frames as they are (binned event counts, or 0/1 with
``mode="binary"``); every event of a bin is an input spike at that step, so a pixel
with several events is several input spikes with the same weight. (Not the paper's
one first spike per pixel: the runtime cannot know a pixel's first event.)

Spike time (closed form over the causal set ``C``, the inputs up to the firing step
``n``): the membrane is linear in time between steps, ``u_C(tau) = sum_{t' <= n}
y[t'] (tau - t' + 1)``, and crosses the threshold at

    ``tau = (theta + sum_C w_i t_i) / sum_C w_i = n - (u[n] - theta) / i[n]``

with ``sum_C w_i = i[n] > 0`` (the current at the firing step; ``tau`` lies in
``(n - 1, n]``). Its gradients (the paper's): ``dtau/dw_i = (t_i - tau) / sum_C w``
and ``dtau/dt_i = w_i / sum_C w``; in the layer's input ``y``:
``dtau/dy[t'] = -(tau - t' + 1) / i[n]`` for ``t' <= n``, 0 after.

How the times travel through autograd (:class:`RelpspFunction`): a layer outputs
0/1 spikes ``s``; a spike's time is read as ``t = sum_t t s[t] + T (1 - sum_t
s[t])`` (a silent neuron counts as firing at ``T``), so a loss on times sends
``dL/ds[t] = dL/dt (t - T)``, and a layer above sends ``dL/ds[t] = sum_j w_j
dL/dtau_j (t - 1 - tau_j) / i_j`` (through its synapse), linear in ``t`` over the
causal window. Either way the time gradient is the slope of ``dL/ds`` at the spike,
``dL/dtau = g[n] - g[n - 1]`` (``g[1] - g[0]`` when ``n = 0``, exact unless a
neuron above fires at step 0 as well), and the backward returns ``dL/dy[t'] =
dL/dtau * dtau/dy[t']``.

Silent neurons have no spike time, so the paper's gradient leaves them silent for
good (a dead label neuron never learns to fire). Our addition, ``silent_push``
(0 = the paper): where the loss wants a silent neuron earlier (``dL/dtau > 0``), its
inputs get ``dL/dy[t'] = -silent_push * dL/dtau * (T - t') / (T * theta)``, the
direction that raises its last membrane ``u[T-1] = sum_t' y[t'] (T - t')``.

Output layer: the same neuron without the spike (``rule_neuron("relpsp_readout")``):
its membranes ``u`` ``(T, B, n)`` are the network's output, and the time of each
one's first threshold crossing is read from them in closed form,
``tau = n - (u[n] - theta) / (u[n] - u[n-1])`` (:func:`crossing_times`; ``u[n] -
u[n-1] = i[n]``, so it is the spike time above, and its autograd gradient through
the linear integrator is the paper's ``dtau/dy``). The runtime's ``"first_spike"``
readout reads the same crossings from the same membranes, so the decision is the
paper's earliest continuous spike time, not the earliest step (with ``T = 16`` steps
several output neurons often cross in the same step). ``silent_push`` acts on silent
output neurons as on hidden ones.

Loss (the public code's): cross-entropy over the negative output spike times
``-tau / time_scale``; class scores ``-tau`` (the earliest output neuron wins, the
runtime's ``"first_spike"`` readout; with ``window_steps`` set, the readout resets
the network every that many steps, the paper's sample window, which a live stream
needs since a neuron fires once until a reset: pass the training's ``--steps``).
Pooling: average pooling of spikes, no neuron. No biases. Optimizer Adam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..runtime.neurons import NeuronParams, heaviside, neuron_init, neuron_step, rule_neuron
from ..runtime.spec import ReadoutSpec
from .rules import Rule


def _forward(y: torch.Tensor, params: NeuronParams
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the runtime neuron over ``y`` ``(T, B, ...)``; return spikes ``s``,
    ``v = u - theta`` before the reset and the synaptic currents ``i``, all ``(T, B, ...)``."""
    state = neuron_init(tuple(y.shape[2:]), params, y.shape[1], y.device, y.dtype)
    pre: list[torch.Tensor] = []

    def spike_fn(x: torch.Tensor, ge: bool) -> torch.Tensor:
        pre.append(x)
        return heaviside(x, ge)

    spikes, currents = [], []
    for t in range(y.shape[0]):
        out, state = neuron_step(y[t], state, params, spike_fn)
        spikes.append(out)
        currents.append(state.i if state.i is not None else y[t])
    return torch.stack(spikes), torch.stack(pre), torch.stack(currents)


def spike_times(s: torch.Tensor, v: torch.Tensor, i: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per neuron: firing step ``n``, fired mask, continuous time ``tau`` and ``i[n]``.

    ``s, v, i`` are ``(T, B, ...)`` (see :func:`_forward`); ``tau = n - v[n] / i[n]``
    where fired, ``T`` elsewhere. Returns ``(n, fired, tau, i_n)``, each ``(B, ...)``.
    """
    n_steps = s.shape[0]
    steps = torch.arange(n_steps, dtype=s.dtype, device=s.device).reshape(-1, *[1] * (s.dim() - 1))
    fired = s.sum(0) > 0
    n = (s * steps).sum(0)
    v_n, i_n = (s * v).sum(0), (s * i).sum(0)
    safe = torch.where(fired, i_n, torch.ones_like(i_n))
    tau = torch.where(fired, n - v_n / safe, torch.full_like(n, float(n_steps)))
    return n, fired, tau, i_n


def time_grad_to_input(d_tau: torch.Tensor, n: torch.Tensor, fired: torch.Tensor,
                       tau: torch.Tensor, i_n: torch.Tensor, n_steps: int) -> torch.Tensor:
    """``dL/dy[t'] = dL/dtau * -(tau - t' + 1) / i[n]`` for ``t' <= n`` (fired neurons).

    All but ``n_steps`` are ``(B, ...)``; returns ``(T, B, ...)``.
    """
    steps = torch.arange(n_steps, dtype=tau.dtype, device=tau.device).reshape(
        -1, *[1] * tau.dim())
    safe = torch.where(fired, i_n, torch.ones_like(i_n))
    causal = (steps <= n) & fired
    return torch.where(causal, -d_tau * (tau - steps + 1.0) / safe, torch.zeros_like(steps * tau))


def silent_grad(d_tau: torch.Tensor, fired: torch.Tensor, n_steps: int, threshold: float,
                push: float) -> torch.Tensor:
    """``(T, B, ...)`` pseudo gradient of silent neurons (``silent_push``, module docstring)."""
    steps = torch.arange(n_steps, dtype=d_tau.dtype, device=d_tau.device).reshape(
        -1, *[1] * d_tau.dim())
    want = torch.where(fired, torch.zeros_like(d_tau), d_tau.clamp(min=0.0))
    return -push * want * (n_steps - steps) / (n_steps * threshold)


def slope_at_spike(g: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``g[n] - g[n - 1]`` per neuron (``g[1] - g[0]`` where ``n = 0``): the time gradient
    carried by ``g = dL/ds`` ``(T, B, ...)`` (see the module docstring)."""
    if g.shape[0] < 2:
        return torch.zeros_like(g[0])
    hi = torch.clamp(n.long(), min=1).unsqueeze(0)
    return (g.gather(0, hi) - g.gather(0, hi - 1)).squeeze(0)


class RelpspFunction(torch.autograd.Function):
    """One ReL-PSP layer: the runtime neuron forward, the spike-timing backward.

    ``apply(y, params, silent_push)`` returns the ``(T, B, ...)`` spikes (and, without
    gradient, ``v`` and ``i``; see :func:`_forward`).
    """

    @staticmethod
    def forward(y: torch.Tensor, params: NeuronParams, silent_push: float = 0.0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _forward(y, params)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        s, v, i = output
        ctx.mark_non_differentiable(v, i)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(s, v, i)
        ctx.threshold, ctx.push = inputs[1].threshold, inputs[2]

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any
                 ) -> tuple[torch.Tensor | None, None, None]:
        if g is None:
            return None, None, None
        s, v, i = ctx.saved_tensors
        n, fired, tau, i_n = spike_times(s, v, i)
        d_tau = slope_at_spike(g, n)
        grad = time_grad_to_input(d_tau, n, fired, tau, i_n, s.shape[0])
        if ctx.push:
            grad = grad + silent_grad(d_tau, fired, s.shape[0], ctx.threshold, ctx.push)
        return grad, None, None


class SpikeTimeFunction(torch.autograd.Function):
    """The continuous spike time ``tau`` ``(B, ...)`` of a layer's input ``y``
    ``(T, B, ...)`` with the ReL-PSP gradient (for checks; ``T`` where silent)."""

    @staticmethod
    def forward(y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        s, v, i = _forward(y, params)
        return spike_times(s, v, i)[2]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        y, params = inputs
        ctx.save_for_backward(*_forward(y.detach(), params))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        s, v, i = ctx.saved_tensors
        n, fired, tau, i_n = spike_times(s, v, i)
        return time_grad_to_input(g, n, fired, tau, i_n, s.shape[0]), None


def relpsp_layer(y: torch.Tensor, params: NeuronParams, silent_push: float = 0.0
                 ) -> torch.Tensor:
    """``(T, B, ...)`` spikes of a ReL-PSP layer for its input currents ``y``."""
    return RelpspFunction.apply(y, params, silent_push)[0]


class _PositiveGradient(torch.autograd.Function):
    """0 in the forward; the backward passes only the positive part of the gradient."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g.clamp(min=0.0)


def crossing_times(u: torch.Tensor, threshold: float, silent_push: float = 0.0
                   ) -> torch.Tensor:
    """Continuous time of each output neuron's first threshold crossing.

    Args:
        u: ``(T, B, n)`` membranes of the non-spiking output layer (the state before
            step 0 is 0).
        threshold: ``theta``; a neuron crosses at the first step ``n`` with
            ``u[n] > theta``.
        silent_push: gradient of silent neurons (module docstring): their time is
            ``T``, whose gradient, where the loss wants it earlier, is that of
            ``T + silent_push * (theta - u[T-1]) / (T * theta)``.

    Returns:
        ``(B, n)`` ``tau = n - (u[n] - theta) / (u[n] - u[n-1])`` in steps (in
        ``(n - 1, n]``), ``T`` where the membrane never crossed; differentiable in ``u``.
    """
    n_steps = u.shape[0]
    crossed = u > threshold
    fired = crossed.any(0)
    first = crossed.to(u.dtype).argmax(0, keepdim=True)  # the first crossing step
    u_n = u.gather(0, first).squeeze(0)
    before = torch.cat([torch.zeros_like(u[:1]), u[:-1]]).gather(0, first).squeeze(0)
    rise = torch.where(fired, u_n - before, torch.ones_like(u_n))
    tau = torch.where(fired, first.squeeze(0).to(u.dtype) - (u_n - threshold) / rise,
                      torch.full_like(u_n, float(n_steps)))
    if silent_push:
        lift = (threshold - u[-1]) / (n_steps * threshold)
        tau = tau + torch.where(fired, torch.zeros_like(tau),
                                silent_push * _PositiveGradient.apply(lift))
    return tau


@dataclass(frozen=True)
class Relpsp(Rule):
    """ReL-PSP settings (see the module docstring).

    Attributes:
        threshold: firing threshold ``theta``.
        time_scale: the loss's logits are ``-t / time_scale`` (``t`` in steps).
        silent_push: pseudo gradient of silent neurons (0 = the paper's none; see the
            module docstring).
        window_steps: if > 0, the exported readout resets the network state every
            ``window_steps`` steps (``state_policy="reset_every"``); 0: never.
    """

    threshold: float = 1.0
    time_scale: float = 1.0
    silent_push: float = 1.0
    window_steps: int = 0
    lr: float = 1e-3
    init_gain: float = 4.0

    name: ClassVar[str] = "relpsp"
    paper: ClassVar[str] = ("Zhang et al. 2021, Rectified linear postsynaptic potential "
                            "function for backpropagation in deep spiking neural networks, "
                            "IEEE TNNLS")
    grad_clip: ClassVar[float | None] = 1.0

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"relpsp: threshold must be > 0, got {self.threshold}")
        if not self.time_scale > 0:
            raise ValueError(f"relpsp: time_scale must be > 0, got {self.time_scale}")
        if not self.silent_push >= 0:
            raise ValueError(f"relpsp: silent_push must be >= 0, got {self.silent_push}")
        if self.window_steps < 0:
            raise ValueError(f"relpsp: window_steps must be >= 0, got {self.window_steps}")

    def hidden_neuron(self) -> NeuronParams:
        return rule_neuron("relpsp", threshold=self.threshold)

    def output_neuron(self) -> NeuronParams:
        return rule_neuron("relpsp_readout", threshold=self.threshold)

    def readout(self) -> ReadoutSpec:
        if self.window_steps > 0:
            return ReadoutSpec(kind="first_spike", state_policy="reset_every",
                               reset_every_steps=self.window_steps)
        return ReadoutSpec(kind="first_spike")

    def neuron_layer(self, y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        if not params.spiking:  # the output integrators: a true gradient, through autograd
            return super().neuron_layer(y, params)
        return relpsp_layer(y, params, self.silent_push)

    def times(self, out: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` output spike times (steps) of the ``(T, B, n)`` output membranes."""
        return crossing_times(out, self.threshold, self.silent_push)

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(-self.times(out) / self.time_scale, labels)

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        return -self.times(out.detach())


RULE = Relpsp
