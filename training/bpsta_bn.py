"""BPSTA's network with batch-norm: conv, batch-norm, ReLU, node (Shen et al. 2021).

:class:`BpstaNet` is a :class:`~.network.SpikingNet` whose layers with neurons have a
batch-norm between the synapse and the neuron (``BatchNorm2d`` after a conv,
``BatchNorm1d`` after a fully connected layer; the ReLU is the BPSTA neuron's
``input_relu``). The batch-norm before the voting output matters: BPSTA's spatial
adjustment moves no weight through a neuron that did not fire, so without it the MSE
pulls every output neuron silent and none recovers (20 % on N-MNIST); normalised
inputs keep each output neuron firing for part of every batch. The runtime has no
batch-norm: :meth:`BpstaNet.weights` (what :func:`~.export.export_model` writes)
folds each batch-norm into its synapse with the running statistics,

``w' = w * gamma / sqrt(var + eps)`` (per output channel or feature),
``b' = (b - mean) * gamma / sqrt(var + eps) + beta``,

so the exported model computes what the network computes in eval mode. The forward
uses the raw synapse parameters and the batch-norm (batch statistics in train mode,
running ones in eval mode).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..runtime.layers import Conv2dSpec, LinearSpec
from ..runtime.spec import ModelSpec
from .network import SpikingNet, _key
from .rules import Rule


def fold_batch_norm(weight: torch.Tensor, bias: torch.Tensor | None,
                    bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight, bias)`` of the synapse ``bn(conv(x))`` (or ``bn(fc(x))``) in eval mode.

    Args:
        weight: ``(C_out, C_in, kh, kw)`` conv weight or ``(out, in)`` fc weight.
        bias: ``(C_out,)`` bias or None.
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
    return weight * scale.reshape(-1, *([1] * (weight.dim() - 1))), b


class BpstaNet(SpikingNet):
    """A :class:`SpikingNet` with batch-norm after each spiking conv and fc layer (see
    the module docstring); those layers must have biases (the folded bias)."""

    def __init__(self, spec: ModelSpec, rule: Rule, tensors: Mapping[str, torch.Tensor] |
                 None = None, seed: int = 0) -> None:
        super().__init__(spec, rule, tensors, seed)
        bns: dict[str, nn.Module] = {}
        for layer in spec.layers:
            if isinstance(layer, Conv2dSpec | LinearSpec) and layer.neuron is not None:
                if not layer.bias:
                    raise ValueError(f"layer {layer.name}: batch-norm folding needs a "
                                     f"bias")
                bns[_key(layer.name)] = (nn.BatchNorm2d(layer.out_channels)
                                         if isinstance(layer, Conv2dSpec)
                                         else nn.BatchNorm1d(layer.out_features))
        self.bns = nn.ModuleDict(bns)

    def raw_weights(self) -> dict[str, torch.Tensor]:
        """The conv and fc parameters before folding, by runtime tensor name."""
        return super().weights()

    def weights(self) -> dict[str, torch.Tensor]:
        """The tensors the runtime runs: each batch-norm folded into its synapse."""
        w = dict(self.raw_weights())
        for key, bn in self.bns.items():
            name = key.replace("__", ".")
            assert isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d)
            w[f"{name}.weight"], w[f"{name}.bias"] = fold_batch_norm(
                w[f"{name}.weight"], w.get(f"{name}.bias"), bn)
        return w

    def forward_weights(self) -> dict[str, torch.Tensor]:
        """The forward uses the raw synapse parameters and the batch-norms."""
        return self.raw_weights()

    def after_synapse(self, name: str, y: torch.Tensor) -> torch.Tensor:
        bn = self.bns[_key(name)] if _key(name) in self.bns else None
        return y if bn is None else bn(y)
