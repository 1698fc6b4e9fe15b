"""STBP: spatio-temporal backpropagation (Wu, Deng, Li, Zhu & Shi 2018).

"Spatio-temporal backpropagation for training high-performance spiking neural
networks", Front. Neurosci. 12:331; public code yjwu17/STBP-for-training-SpikingNN.

Neuron (the paper's iterative LIF, the code's ``mem_update``): ``u[t] = decay *
u[t-1] * (1 - o[t-1]) + W x[t]``, ``o[t] = 1[u[t] > V_th]`` with ``decay = 0.2``,
``V_th = 0.5``: the runtime's decay-first neuron with a zero reset. The gradient
flows through space (layers) and time (``u[t-1]``) and through the reset term
``(1 - o[t-1])``, because training runs the runtime's own
:func:`~spikestream.runtime.neurons.neuron_step` under autograd with a surrogate
``spike_fn`` (:mod:`.surrogates`: rectangular, polynomial, sigmoid or gaussian, the
paper's four approximate derivatives). Pooling is average pooling of spikes without
a neuron, layers have biases, as in the public code.

Loss: ``"mse"`` (the paper): mean squared error between the output firing rate
``sum_t o[t] / T`` and the one-hot label; or ``"ce"``: cross-entropy of the spike
counts ``sum_t o[t]`` used as logits. Optimizer: Adam, lr 1e-3 (the public code's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..runtime.neurons import NeuronParams, SpikeFn
from .rules import Rule
from .surrogates import SURROGATES, get_surrogate

LOSSES = ("mse", "ce")


@dataclass(frozen=True)
class Stbp(Rule):
    """STBP settings (see the module docstring).

    Attributes:
        decay: membrane decay per step.
        threshold: firing threshold ``V_th``.
        surrogate: name of the approximate derivative (:data:`.surrogates.SURROGATES`).
        surrogate_a: its width parameter ``a``.
        loss: ``"mse"`` on rates (the paper) or ``"ce"`` on counts.
    """

    decay: float = 0.2
    threshold: float = 0.5
    surrogate: str = "rectangular"
    surrogate_a: float = 1.0
    loss_name: str = "mse"
    init_gain: float = 2.0

    name: ClassVar[str] = "stbp"
    paper: ClassVar[str] = ("Wu et al. 2018, Spatio-temporal backpropagation for training "
                            "high-performance spiking neural networks, Front. Neurosci. 12:331")
    bias: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {self.surrogate!r}; valid: "
                             f"{', '.join(SURROGATES)}")
        if self.loss_name not in LOSSES:
            raise ValueError(f"stbp: unknown loss {self.loss_name!r}; valid: "
                             f"{', '.join(LOSSES)}")

    def hidden_neuron(self) -> NeuronParams:
        return NeuronParams(decay=self.decay, threshold=self.threshold, reset="zero",
                            order="decay_first")

    def spike_fn(self) -> SpikeFn:
        return get_surrogate(self.surrogate, a=self.surrogate_a)

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "ce":
            return F.cross_entropy(out.sum(0), labels)
        target = F.one_hot(labels, out.shape[-1]).to(out.dtype)
        return F.mse_loss(out.mean(0), target)


RULE = Stbp
