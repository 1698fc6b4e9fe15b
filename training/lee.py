"""Spike-based backpropagation with leak-aware derivatives (Lee et al. 2020).

Lee, Sarwar, Panda, Srinivasan & Roy, "Enabling spike-based backpropagation for
training deep neural network architectures", Front. Neurosci. 14:119; public code
chan8972/Enabling_Spikebased_Backpropagation.

Neurons (the runtime's :func:`~spikestream.runtime.neurons.rule_neuron`): hidden
layers ``"lee"`` (leaky IF: ``u += Wx``, ``s = u > V_th``, hard reset, ``u *= 0.99``);
pooling layers are average pooling followed by ``"lee_pool"`` IF neurons
(threshold 0.75, no leak); the output layer is the non-spiking leaky integrator
``"lee_readout"`` (``u = 0.99 (u + Wx)``) whose potential is the output
(:class:`ReadoutSpec` kind ``"membrane"``). No biases.

Backward (:class:`LeeFunction`), as the public code computes it (``LIF_sNeuron``,
``grad_cal`` and its gradient hooks): a spike's derivative with respect to the
membrane is ``1 / V_th`` at the steps where the neuron fires (0 elsewhere), scaled
by the leak correction ``NG = 1 + ln(leak) LF / Total``: ``Total = sum_t s[t]`` is
the neuron's spike count over the window and ``LF`` its leak-filtered count
(``LF = leak LF + s`` each step; ``LF / Total`` is in ``(0, 1]``, so the correction
shrinks the derivative of leaky neurons). Neurons that never fired get 0. Through
time the membrane's gradient passes unchanged (the leak is not differentiated: the
correction stands for it) and stops at a spike (the hard reset ``u - u`` has
derivative 0). So, backwards from ``dL/du[T] = 0``::

    dL/dy[t] = dL/du[t] = s[t] g[t] NG / V_th + (1 - s[t]) dL/du[t+1]

for ``g[t] = dL/ds[t]``: every input current gets the gradient of the neuron's
next spike. The IF pooling neurons (``leak = 1``) run the same recursion with a
spike derivative of 1 (the code's ``Pooling_sNeuron`` does not divide by its 0.75
threshold). The readout and the loss are true gradients (autograd through the
runtime's step; the public code also skips the readout's leak in its gradient).

Loss (the public code's ``MSELoss(size_average=False)``): squared error between
the output membrane at the end of the window divided by ``V_th T`` (``V_th`` = 1)
and the one-hot label, ``L = sum (u[T]/T - onehot)^2``, here averaged over the
batch (so that the step does not scale with the batch size). Optimizer: Adam (the
code's SGD with lr 0.0085 did not suit the few-step event frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..runtime.layers import Pool2dSpec
from ..runtime.neurons import NeuronParams, neuron_init, neuron_step, rule_neuron
from ..runtime.spec import ReadoutSpec
from .rules import Rule


def _forward(y: torch.Tensor, params: NeuronParams
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the runtime neuron over ``y`` ``(T, B, ...)``; return its spikes ``s``,
    the spike counts ``Total`` and the leak-filtered counts ``LF`` (``(B, ...)``)."""
    state = neuron_init(tuple(y.shape[2:]), params, y.shape[1], y.device, y.dtype)
    outs = []
    lf = torch.zeros_like(y[0])
    for t in range(y.shape[0]):
        s, state = neuron_step(y[t], state, params)
        lf = params.decay * lf + s
        outs.append(s)
    s_all = torch.stack(outs)
    return s_all, s_all.sum(0), lf


def leak_correction(total: torch.Tensor, lf: torch.Tensor, leak: float) -> torch.Tensor:
    """The code's ``grad_cal``: ``NG = 1 + ln(leak) LF / Total``, 0 where ``Total == 0``.

    Args:
        total: ``(B, ...)`` spike counts over the window.
        lf: ``(B, ...)`` leak-filtered spike counts (``LF = leak LF + s`` each step).
        leak: the neurons' membrane factor per step.
    """
    ng = 1.0 + math.log(leak) * lf / total.clamp(min=1.0)
    return torch.where(total > 0, ng, torch.zeros_like(ng))


def lee_grad(g: torch.Tensor, s: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """``dL/dy`` ``(T, B, ...)`` of a layer for ``g = dL/ds`` and its spikes ``s``.

    ``scale`` (``(B, ...)`` or a number) is the spike derivative at a firing step:
    ``NG / V_th`` for the leaky neurons, 1 for the pooling ones. Backwards:
    ``dL/dy[t] = s[t] g[t] scale + (1 - s[t]) dL/dy[t+1]``.
    """
    out = torch.empty_like(g)
    acc = torch.zeros_like(g[0])
    for t in range(g.shape[0] - 1, -1, -1):
        acc = torch.where(s[t] > 0, g[t] * scale, acc)
        out[t] = acc
    return out


class LeeFunction(torch.autograd.Function):
    """One spiking layer: the runtime neuron forward, the paper's backward.

    ``apply(y, params, pool)`` returns ``(s, total, lf)`` for the ``(T, B, ...)``
    input currents ``y``: the spikes, their counts and leak-filtered counts; only
    ``s`` carries a gradient (:func:`lee_grad`). ``pool``: an IF pooling layer
    (spike derivative 1, no leak correction).
    """

    @staticmethod
    def forward(y: torch.Tensor, params: NeuronParams, pool: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _forward(y, params)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        _, params, pool = inputs
        s, total, lf = output
        ctx.mark_non_differentiable(total, lf)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(s, total, lf)
        ctx.params, ctx.pool = params, pool

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None, *_: Any
                 ) -> tuple[torch.Tensor | None, None, None]:
        if g is None:
            return None, None, None
        s, total, lf = ctx.saved_tensors
        p: NeuronParams = ctx.params
        scale = 1.0 if ctx.pool else leak_correction(total, lf, p.decay) / p.threshold
        return lee_grad(g, s, scale), None, None


def lee_layer(y: torch.Tensor, params: NeuronParams, pool: bool = False) -> torch.Tensor:
    """``(T, B, ...)`` spikes of a spiking layer under Lee et al.'s backward."""
    return LeeFunction.apply(y, params, pool)[0]


@dataclass(frozen=True)
class Lee(Rule):
    """Lee et al. 2020 settings (see the module docstring).

    Attributes:
        leak: membrane factor per step of the hidden and readout neurons.
        threshold: firing threshold of the hidden neurons.
        pool_threshold: threshold of the IF pooling neurons.
        init_gain: 5 (the default init leaves the deeper layers silent on sparse
            event frames, and silent neurons get no gradient).
    """

    leak: float = 0.99
    threshold: float = 1.0
    pool_threshold: float = 0.75
    init_gain: float = 5.0

    name: ClassVar[str] = "lee"
    paper: ClassVar[str] = ("Lee et al. 2020, Enabling spike-based backpropagation for "
                            "training deep neural network architectures, Front. Neurosci. "
                            "14:119")

    def __post_init__(self) -> None:
        if not 0.0 < self.leak <= 1.0:
            raise ValueError(f"lee: leak must be in (0, 1], got {self.leak}")

    def hidden_neuron(self) -> NeuronParams:
        return rule_neuron("lee", decay=self.leak, threshold=self.threshold)

    def output_neuron(self) -> NeuronParams:
        return rule_neuron("lee_readout", decay=self.leak)

    def pool_neuron(self) -> NeuronParams:
        """The IF neuron after each average pooling."""
        return rule_neuron("lee_pool", threshold=self.pool_threshold)

    def pool(self, name: str, k: int) -> Pool2dSpec:
        return Pool2dSpec(name, "avg", (k, k), (k, k), neuron=self.pool_neuron())

    def readout(self) -> ReadoutSpec:
        return ReadoutSpec(kind="membrane")

    def neuron_layer(self, y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        if not params.spiking:  # the readout: a true gradient, through autograd
            return super().neuron_layer(y, params)
        return lee_layer(y, params, pool=params == self.pool_neuron())

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return readout_loss(out, F.one_hot(labels, out.shape[-1]).to(out.dtype))


def readout_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum (u[T] / T - target)^2`` over the outputs, mean over the batch.

    Args:
        out: ``(T, B, n_out)`` readout membranes.
        target: ``(B, n_out)`` one-hot labels.
    """
    d = out[-1] / out.shape[0] - target
    return (d * d).sum() / out.shape[1]


RULE = Lee
