"""TSSL-BP: temporal spike sequence learning backpropagation (Zhang & Li 2020).

"Temporal spike sequence learning via backpropagation for deep spiking neural
networks", NeurIPS 2020; public code stonezwr/TSSL-BP (``functions/tsslbp.py``,
``functions/loss_f.py``, ``Networks/NMNIST_CNN.yaml``).

Neuron (the code's ``TSSLBP.forward``): ``u[t] = (1 - 1/tau_m) u[t-1] + I[t]``,
``s[t] = 1[u[t] > V_th]``, ``u[t] = u[t] (1 - s[t])``, and the layer's output is the
PSP trace ``a[t] = a[t-1] + (s[t] - a[t-1]) / tau_s``: the runtime's decay-first
neuron with ``psp_tau = tau_s``. The network's input is itself filtered by the same
PSP kernel (the code's ``psp(spike_input)``); since a convolution commutes with that
linear filter, the first layer carries it as a synaptic current
(``syn_decay = 1 - 1/tau_s``, its ``1/tau_s`` folded into the weights), which the
runtime steps like any other current. Pooling is sum pooling of PSP traces with
weight ``theta = 1.1`` and no neuron (``layers/pooling.py``). No biases.

Backward (:class:`TsslFunction`, per layer, given ``g[t] = dL/da[t]``), with
``e[t] = sum_k kappa[k] g[t+k]`` where ``kappa[k] = (1 - 1/tau_s)^k / tau_s`` is the
PSP of one spike ``k`` steps later:

- inter-neuron, through the firing time: ``dL/du[t] = -du_t * e[t]`` with
  ``du_t = dt/du = clamp(-1 / (u[t] - u[t-1]), -8, 0)`` (``u[t-1]`` after reset);
- intra-neuron, across a neuron's successive spikes: a carried term ``theta``
  adds ``theta[t+1] * (-du_t * u[t] / tau_m + (1 - 1/tau_m) (1 - s[t]))``; it is set
  to ``dL/du[t]`` at a spike and decays by ``1 - 1/tau_m`` between spikes;
- below the PSP threshold ``a[t] < 1 / (4 tau_s)`` (a neuron that barely fired),
  the sigmoid fallback ``dL/du[t] = e[t] * sigma'((u[t] - V_th) / 0.2) / 0.2``.

Loss (``"count"``, the code's ``loss_count``): per output neuron ``delta =
(sum_t a[t] - target) / T`` with ``target`` the desired count for the label's
neuron and the undesired count for the others; ``delta`` is zeroed where the
neuron is on the right side of its target (the label fires at least the desired
count, the others at most the undesired); ``L = T/2 * sum delta^2`` (its gradient
``dL/da[t] = delta`` is the code's). Or ``"kernel"`` (the code's ``loss_kernel``):
``L = 1/2 sum_t (a[t] - target[t])^2`` where the label neuron's target is the PSP of a
desired spike train (a spike every second step from step 1 when ``T >= 10``, else
four of every five steps, as ``main.py``'s ``desired_spikes``) and the others' is 0.

Optimizer AdamW (lr 5e-4 in the public code), gradient norm clipped to 1, weights
clamped to ``[-4, 4]`` after each step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch

from ..runtime.layers import Pool2dSpec
from ..runtime.neurons import NeuronParams, heaviside, neuron_init, neuron_step
from .rules import Rule

LOSSES = ("count", "kernel")

DU_CLAMP = 8.0
"""``dt/du`` is clamped to ``[-8, 0]`` (the code's ``torch.clamp(-1/delta_u, -8, 0)``)."""
SIGMOID_WIDTH = 0.2
"""Width of the sigmoid fallback (the code's ``a = 0.2``)."""


def _forward(y: torch.Tensor, params: NeuronParams
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the runtime neuron over ``y`` ``(T, B, ...)``; return its outputs ``a``,
    spikes ``s``, membranes before reset ``u`` and their changes ``u[t] - u[t-1]``."""
    state = neuron_init(tuple(y.shape[2:]), params, y.shape[1], y.device, y.dtype)
    pre: list[torch.Tensor] = []

    def spike_fn(x: torch.Tensor, ge: bool) -> torch.Tensor:
        pre.append(x)  # u[t] - V_th, before the reset
        return heaviside(x, ge)

    outs, spikes, us, dus = [], [], [], []
    for t in range(y.shape[0]):
        u_prev = state.u
        out, state = neuron_step(y[t], state, params, spike_fn)
        u = pre[-1] + params.threshold
        outs.append(out)
        spikes.append(heaviside(pre[-1], params.fire_ge))
        us.append(u)
        dus.append(u - u_prev)
    return torch.stack(outs), torch.stack(spikes), torch.stack(us), torch.stack(dus)


def tssl_grad(g: torch.Tensor, s: torch.Tensor, u: torch.Tensor, du: torch.Tensor,
              a: torch.Tensor, params: NeuronParams) -> torch.Tensor:
    """TSSL-BP's ``dL/dI[t]`` from ``g[t] = dL/da[t]`` (see the module docstring).

    All tensors are ``(T, B, ...)``: ``s`` spikes, ``u`` membranes before reset,
    ``du`` their change over the step, ``a`` the PSP outputs. ``I`` is the current
    integrated into ``u`` (after the synaptic filter, if any).
    """
    assert params.psp_tau is not None
    n_steps = g.shape[0]
    tau_s = params.psp_tau
    theta_m = 1.0 - params.decay
    # e[t] = sum_{k >= 0} kappa[k] g[t + k]; kappa is geometric, so backwards:
    # e[t] = g[t] / tau_s + (1 - 1/tau_s) e[t + 1]
    ratio = 1.0 - 1.0 / tau_s
    out = torch.empty_like(g)
    theta = torch.zeros_like(g[0])
    e = torch.zeros_like(g[0])
    a_min = 1.0 / (4.0 * tau_s)
    for t in range(n_steps - 1, -1, -1):
        e = g[t] / tau_s + ratio * e
        pu = torch.clamp(-1.0 / du[t], -DU_CLAMP, 0.0)
        grad = -pu * e
        if t != n_steps - 1:
            grad = grad + theta * (-theta_m * pu * u[t] + (1.0 - theta_m) * (1.0 - s[t]))
        theta = grad * s[t] + theta * (1.0 - s[t]) * (1.0 - theta_m)
        z = torch.exp(torch.clamp((params.threshold - u[t]) / SIGMOID_WIDTH, -8.0, 8.0))
        fallback = e * z / ((1.0 + z) * (1.0 + z) * SIGMOID_WIDTH)
        out[t] = torch.where(a[t] < a_min, fallback, grad)
    return out


def reverse_filter(g: torch.Tensor, factor: float) -> torch.Tensor:
    """Gradient through ``i[t] = factor * i[t-1] + y[t]``: ``dL/dy[t] = sum_k factor^k
    dL/di[t+k]`` for ``g = dL/di`` ``(T, ...)``."""
    out = torch.empty_like(g)
    acc = torch.zeros_like(g[0])
    for t in range(g.shape[0] - 1, -1, -1):
        acc = g[t] + factor * acc
        out[t] = acc
    return out


class TsslFunction(torch.autograd.Function):
    """One TSSL-BP layer: the runtime neuron forward, TSSL-BP's backward.

    ``apply(y, params)`` returns ``(a, s, u, du)`` (see :func:`tssl_grad`); only the
    PSP output ``a`` carries a gradient. Use :func:`tssl_layer`.
    """

    @staticmethod
    def forward(y: torch.Tensor, params: NeuronParams
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return _forward(y, params)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        _, params = inputs
        a, s, u, du = output
        ctx.mark_non_differentiable(s, u, du)
        ctx.set_materialize_grads(False)  # no zero gradients for s, u, du
        ctx.save_for_backward(a, s, u, du)
        ctx.params = params

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any
                 ) -> tuple[torch.Tensor | None, None]:
        if g is None:
            return None, None
        a, s, u, du = ctx.saved_tensors
        p: NeuronParams = ctx.params
        grad = tssl_grad(g, s, u, du, a, p)
        if p.syn_decay is not None:
            grad = reverse_filter(grad, p.syn_decay)
        return grad, None


def tssl_layer(y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
    """``(T, B, ...)`` PSP outputs of a TSSL-BP layer for its input currents ``y``."""
    return TsslFunction.apply(y, params)[0]


@dataclass(frozen=True)
class Tssl(Rule):
    """TSSL-BP settings (see the module docstring).

    Attributes:
        tau_m: membrane time constant, steps (decay ``1 - 1/tau_m``).
        tau_s: synaptic (PSP) time constant, steps.
        threshold: firing threshold.
        pool_theta: weight of the sum pooling.
        desired: desired output count of the label's neuron, as a fraction of ``T``
            (the N-MNIST config: 15 of 30).
        undesired: the other neurons' count, as a fraction of ``T`` (3 of 30).
        loss_name: ``"count"`` or ``"kernel"`` (see the module docstring).
        weight_clip: weights are clamped to ``[-weight_clip, weight_clip]``.
    """

    tau_m: float = 8.0
    tau_s: float = 4.0
    threshold: float = 1.0
    pool_theta: float = 1.1
    desired: float = 0.5
    undesired: float = 0.1
    loss_name: str = "count"
    weight_clip: float = 4.0
    lr: float = 5e-4
    init_gain: float = 4.0

    name: ClassVar[str] = "tssl"
    paper: ClassVar[str] = ("Zhang & Li 2020, Temporal spike sequence learning via "
                            "backpropagation for deep spiking neural networks, NeurIPS 2020")
    grad_clip: ClassVar[float | None] = 1.0

    def __post_init__(self) -> None:
        if self.loss_name not in LOSSES:
            raise ValueError(f"tssl: unknown loss {self.loss_name!r}; valid: "
                             f"{', '.join(LOSSES)}")

    def hidden_neuron(self) -> NeuronParams:
        return NeuronParams(decay=1.0 - 1.0 / self.tau_m, threshold=self.threshold,
                            reset="zero", order="decay_first", psp_tau=self.tau_s)

    def first_neuron(self) -> NeuronParams:
        return replace(self.hidden_neuron(), syn_decay=1.0 - 1.0 / self.tau_s)

    def pool(self, name: str, k: int) -> Pool2dSpec:
        return Pool2dSpec(name, "avg", (k, k), (k, k), scale=k * k * self.pool_theta)

    def neuron_layer(self, y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        return tssl_layer(y, params)

    def targets(self, labels: torch.Tensor, n_out: int, n_steps: int,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(B, n_out)`` desired PSP counts: ``desired * T`` for the label, else
        ``undesired * T``."""
        t = torch.full((len(labels), n_out), self.undesired * n_steps, dtype=dtype)
        t[torch.arange(len(labels)), labels] = self.desired * n_steps
        return t

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n_steps = out.shape[0]
        if self.loss_name == "kernel":
            return kernel_loss(out, self.kernel_targets(labels, out.shape[-1], n_steps,
                                                        out.dtype).to(out.device)) / len(labels)
        target = self.targets(labels, out.shape[-1], n_steps, out.dtype).to(out.device)
        return count_loss(out, target, labels) / len(labels)

    def kernel_targets(self, labels: torch.Tensor, n_out: int, n_steps: int,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(T, B, n_out)`` target PSP traces of the kernel loss (0 but the label's)."""
        t = torch.arange(n_steps)
        spikes = (t % 2 == 1) if n_steps >= 10 else (t % 5 != 0)
        psp = torch.zeros(n_steps, dtype=torch.float64)
        a = 0.0
        for k in range(n_steps):
            a = a + (float(spikes[k]) - a) / self.tau_s
            psp[k] = a
        out = torch.zeros(n_steps, len(labels), n_out, dtype=dtype)
        out[:, torch.arange(len(labels)), labels] = psp.to(dtype)[:, None]
        return out

    def optimizer(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=self.lr, betas=(0.9, 0.999))

    def after_step(self, params: list[torch.nn.Parameter]) -> None:
        with torch.no_grad():
            for p in params:
                p.clamp_(-self.weight_clip, self.weight_clip)


def count_loss(out: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """TSSL-BP's count loss, summed over the batch.

    Args:
        out: ``(T, B, n_out)`` PSP outputs.
        target: ``(B, n_out)`` desired counts.
        labels: ``(B,)`` the label of each sample (its neuron must reach the target,
            the others must stay below theirs).
    """
    n_steps = out.shape[0]
    delta = (out.sum(0) - target) / n_steps
    is_label = torch.zeros_like(delta, dtype=torch.bool)
    is_label[torch.arange(len(labels)), labels] = True
    delta = torch.where(is_label, delta.clamp(max=0.0), delta.clamp(min=0.0))
    return 0.5 * n_steps * (delta * delta).sum()


def kernel_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """TSSL-BP's kernel loss ``1/2 sum (a - target)^2`` over ``(T, B, n_out)``, summed
    over the batch."""
    d = out - target
    return 0.5 * (d * d).sum()


RULE = Tssl
