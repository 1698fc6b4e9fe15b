"""BPSTA: backpropagation with biologically plausible spatio-temporal adjustment
(Shen, Zhao & Zeng 2021).

"Backpropagation with biologically plausible spatio-temporal adjustment for training
deep spiking neural networks"; public code Brain-Cog-Lab/BP-STA.

Neuron (the code's ``HTGLIFNode``, the runtime's ``rule_neuron("bpsta")``):
``v[t] = u[t-1] + relu(I[t])``, ``s[t] = 1[v[t] >= 0.5]``, ``u[t] = 0.9 v[t] (1 - s[t])``
(integrate, fire, hard reset, then decay). Layers have biases; the network is
conv, batch-norm, ReLU, node (the ReLU is the neuron's ``input_relu``; batch-norm
lives in :mod:`.bpsta_bn`, folded into the conv at export).

Backward (:class:`BpstaFunction`, per layer, given ``g[t] = dL/ds[t]``), with
``d[t] = dL/dv[t]`` and the reset treated as a constant:

- spatial adjustment: ``ds/dv = s[t] / v[t]`` (``1/v`` where the neuron fired, 0
  where it did not), so neurons that never fire move no weights;
- temporal adjustment: an extra backward path from ``v[t+1]`` to ``s[t]`` of weight
  ``beta = 0.2``, absent from the forward pass;
- the membrane's own leak ``dv[t+1]/dv[t] = 0.9 (1 - s[t])``.

``d[t] = (g[t] + beta d[t+1]) s[t] / v[t] + 0.9 (1 - s[t]) d[t+1]``, and
``dL/dI[t] = d[t] 1[I[t] > 0]``.

Output: ``votes_per_class`` output neurons per class (``ReadoutSpec("voting")``);
a class's score is the mean of its neurons' firing rates over ``T`` steps; loss:
mean squared error of those scores against the one-hot label. Optimizer Adam.
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
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the runtime neuron over ``y`` ``(T, B, ...)``; return spikes ``s`` and the
    membranes before reset ``v`` (both ``(T, B, ...)``)."""
    state = neuron_init(tuple(y.shape[2:]), params, y.shape[1], y.device, y.dtype)
    pre: list[torch.Tensor] = []

    def spike_fn(x: torch.Tensor, ge: bool) -> torch.Tensor:
        pre.append(x)  # v[t] - V_th, before the reset
        return heaviside(x, ge)

    spikes = []
    for t in range(y.shape[0]):
        out, state = neuron_step(y[t], state, params, spike_fn)
        spikes.append(out)
    return torch.stack(spikes), torch.stack(pre) + params.threshold


def bpsta_grad(g: torch.Tensor, s: torch.Tensor, v: torch.Tensor, y: torch.Tensor,
               params: NeuronParams, beta: float) -> torch.Tensor:
    """BPSTA's ``dL/dI`` ``(T, B, ...)`` from ``g = dL/ds``, spikes ``s``, membranes
    before reset ``v`` and inputs ``y`` (see the module docstring)."""
    spatial = torch.where(s > 0, 1.0 / torch.where(s > 0, v, torch.ones_like(v)),
                          torch.zeros_like(v))
    leak = params.decay * (1.0 - s)
    out = torch.empty_like(g)
    d_next = torch.zeros_like(g[0])
    for t in range(g.shape[0] - 1, -1, -1):
        d = (g[t] + beta * d_next) * spatial[t] + leak[t] * d_next
        out[t] = d
        d_next = d
    if params.input_relu:
        out = out * (y > 0).to(out.dtype)
    return out


class BpstaFunction(torch.autograd.Function):
    """A BPSTA layer: forward is the runtime's neuron step, backward
    :func:`bpsta_grad`. ``apply(y, params, beta)`` returns the spikes ``(T, B, ...)``."""

    @staticmethod
    def forward(y: torch.Tensor, params: NeuronParams, beta: float) -> torch.Tensor:
        s, _ = _forward(y, params)
        return s

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        y, params, beta = inputs
        ctx.params, ctx.beta = params, beta
        ctx.save_for_backward(y)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (y,) = ctx.saved_tensors
        with torch.no_grad():
            s, v = _forward(y, ctx.params)  # recomputed: saves T*B*n of memory
        return bpsta_grad(g, s, v, y, ctx.params, ctx.beta), None, None


@dataclass(frozen=True)
class Bpsta(Rule):
    """BPSTA settings (see the module docstring).

    Attributes:
        decay: membrane decay per step (after the reset).
        threshold: firing threshold (fires at ``v >= threshold``).
        beta: weight of the temporal adjustment.
        votes_per_class: output neurons per class.
    """

    decay: float = 0.9
    threshold: float = 0.5
    beta: float = 0.2
    votes_per_class: int = 10
    init_gain: float = 2.0

    name: ClassVar[str] = "bpsta"
    paper: ClassVar[str] = ("Shen, Zhao & Zeng 2021, Backpropagation with biologically "
                            "plausible spatio-temporal adjustment for training deep "
                            "spiking neural networks")
    bias: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.votes_per_class < 1:
            raise ValueError(f"bpsta: votes_per_class must be >= 1, got "
                             f"{self.votes_per_class}")

    def hidden_neuron(self) -> NeuronParams:
        return rule_neuron("bpsta", decay=self.decay, threshold=self.threshold)

    def network(self, spec: Any, seed: int = 0) -> Any:
        """Conv, batch-norm, ReLU, node (batch-norm folded into the conv at export)."""
        from .bpsta_bn import BpstaNet

        return BpstaNet(spec, self, seed=seed)

    def readout(self) -> ReadoutSpec:
        return ReadoutSpec(kind="voting", votes_per_class=self.votes_per_class)

    def neuron_layer(self, y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        return BpstaFunction.apply(y, params, self.beta)

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        t, b, n = out.shape
        return out.mean(0).reshape(b, n // self.votes_per_class, self.votes_per_class
                                   ).mean(-1)

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scores = self.scores(out)
        target = F.one_hot(labels, scores.shape[-1]).to(scores.dtype)
        return F.mse_loss(scores, target)


RULE = Bpsta
