"""BPSTA's network with batch-norm: conv, batch-norm, ReLU, node (Shen et al. 2021).

:class:`BpstaNet` is a :class:`~.network.SpikingNet` whose conv layers with neurons
have a ``BatchNorm2d`` between the synapse and the neuron (the ReLU is the BPSTA
neuron's ``input_relu``). The runtime has no batch-norm: :meth:`BpstaNet.weights`
(what :func:`~.export.export_model` writes) folds each batch-norm into its conv with
the running statistics,

``w' = w * gamma / sqrt(var + eps)`` (per output channel),
``b' = (b - mean) * gamma / sqrt(var + eps) + beta``,

so the exported model computes what the network computes in eval mode. The forward
uses the raw conv parameters and the batch-norm (batch statistics in train mode,
running ones in eval mode).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..runtime.layers import Conv2dSpec
from ..runtime.spec import ModelSpec
from .network import SpikingNet, _key
from .rules import Rule


def fold_batch_norm(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight, bias)`` of the conv ``bn(conv(x))`` in eval mode.

    Args:
        weight: ``(C_out, C_in, kh, kw)`` conv weight.
        bias: ``(C_out,)`` conv bias or None.
        bn: the batch-norm over the ``C_out`` channels (its running statistics).
    """
    mean = bn.running_mean
    var = bn.running_var
    assert mean is not None and var is not None, "batch-norm without running statistics"
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    b = torch.zeros_like(mean) if bias is None else bias
    b = (b - mean) * scale
    if bn.bias is not None:
        b = b + bn.bias
    return weight * scale.reshape(-1, 1, 1, 1), b


class BpstaNet(SpikingNet):
    """A :class:`SpikingNet` with batch-norm after each spiking conv (see the module
    docstring); the spec's conv layers must have biases (the folded bias)."""

    def __init__(self, spec: ModelSpec, rule: Rule, tensors: Mapping[str, torch.Tensor] |
                 None = None, seed: int = 0) -> None:
        super().__init__(spec, rule, tensors, seed)
        bns: dict[str, nn.BatchNorm2d] = {}
        for layer in spec.layers:
            if isinstance(layer, Conv2dSpec) and layer.neuron is not None:
                if not layer.bias:
                    raise ValueError(f"layer {layer.name}: batch-norm folding needs a "
                                     f"conv bias")
                bns[_key(layer.name)] = nn.BatchNorm2d(layer.out_channels)
        self.bns = nn.ModuleDict(bns)

    def raw_weights(self) -> dict[str, torch.Tensor]:
        """The conv and fc parameters before folding, by runtime tensor name."""
        return super().weights()

    def weights(self) -> dict[str, torch.Tensor]:
        """The tensors the runtime runs: each batch-norm folded into its conv."""
        w = dict(self.raw_weights())
        for key, bn in self.bns.items():
            name = key.replace("__", ".")
            assert isinstance(bn, nn.BatchNorm2d)
            w[f"{name}.weight"], w[f"{name}.bias"] = fold_batch_norm(
                w[f"{name}.weight"], w.get(f"{name}.bias"), bn)
        return w

    def forward_weights(self) -> dict[str, torch.Tensor]:
        """The forward uses the raw conv parameters and the batch-norms."""
        return self.raw_weights()

    def after_synapse(self, name: str, y: torch.Tensor) -> torch.Tensor:
        bn = self.bns[_key(name)] if _key(name) in self.bns else None
        return y if bn is None else bn(y)
