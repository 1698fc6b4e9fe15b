"""The training-time forward: a runtime :class:`ModelSpec` run over ``T`` frames.

:class:`SpikingNet` holds a spec's tensors as parameters and runs the network the
way the runtime does, with the same layer arithmetic
(:func:`spikestream.runtime.functional.synapse`) and the same neuron step
(:func:`spikestream.runtime.neurons.neuron_step`, called by the rule's
:meth:`~.rules.Rule.neuron_layer` with its surrogate ``spike_fn``). It goes layer
by layer, each layer's synapse over all ``T * B`` frames at once, then its neurons
step by step: a layer at step ``t`` depends only on the layer below at ``t`` and on
itself at ``t - 1``, so this order computes the very numbers that stepping the
whole network ``T`` times does, with far fewer, larger torch calls.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..runtime.functional import synapse
from ..runtime.model_file import Model
from ..runtime.spec import ModelSpec
from .rules import Rule


def _key(name: str) -> str:
    """Parameter key of a runtime tensor name (``nn`` keys cannot hold dots)."""
    return name.replace(".", "__")


class SpikingNet(nn.Module):
    """Trainable network of a :class:`ModelSpec` under a rule.

    Args:
        spec: the network (from :meth:`Rule.spec` or a loaded model file).
        rule: the learning rule (neuron forward in training, initial weights).
        tensors: initial tensors by runtime name (``conv1.weight`` ...); default:
            the rule's init drawn from ``seed``.
        seed: seed of the initial weights.
    """

    def __init__(self, spec: ModelSpec, rule: Rule, tensors: Mapping[str, torch.Tensor] |
                 None = None, seed: int = 0) -> None:
        super().__init__()
        self.spec = spec
        self.rule = rule
        self.shapes = spec.shapes()
        if tensors is None:
            g = torch.Generator().manual_seed(seed)
            tensors = rule.init_tensors(spec, g)
        want = spec.tensor_shapes()
        missing = sorted(set(want) - set(tensors))
        if missing:
            raise ValueError(f"tensor {missing[0]}: missing (the spec needs it)")
        self.params = nn.ParameterDict({
            _key(n): nn.Parameter(torch.as_tensor(tensors[n], dtype=torch.float32).clone()
                                  .reshape(want[n]))
            for n in want
        })

    @classmethod
    def from_model(cls, model: Model, rule: Rule) -> SpikingNet:
        """A network with a loaded model's spec and weights."""
        return cls(model.spec, rule, {k: torch.from_numpy(v.copy())
                                      for k, v in model.tensors.items()})

    def weights(self) -> dict[str, torch.Tensor]:
        """The parameters by runtime tensor name."""
        return {n: self.params[_key(n)] for n in self.spec.tensor_shapes()}

    def forward_weights(self) -> dict[str, torch.Tensor]:
        """The tensors the training forward uses (default: :meth:`weights`)."""
        return self.weights()

    def after_synapse(self, name: str, y: torch.Tensor) -> torch.Tensor:
        """Training-only stage between layer ``name``'s synapse and its neuron, on
        ``(T*B, *shape)`` (default: none; BPSTA's batch-norm goes here)."""
        return y

    def forward(self, x: torch.Tensor, record: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """Run ``T`` steps from the zero state.

        Args:
            x: ``(T, B, C, H, W)`` input frames (see :mod:`.data`).
            record: if given, filled with each layer's ``(T, B, *shape)`` output by
                layer name.

        Returns:
            ``(T, B, n_out)`` the output layer's output at every step.
        """
        want = self.spec.input.shape
        if x.dim() != 5 or tuple(x.shape[2:]) != want:
            raise ValueError(f"input frames: expected (T, B, {', '.join(map(str, want))}), "
                             f"got {tuple(x.shape)}")
        w = self.forward_weights()
        n_steps, batch = x.shape[:2]
        for layer, shape in zip(self.spec.layers, self.shapes, strict=True):
            y = synapse(layer, x.reshape(n_steps * batch, *x.shape[2:]), w)
            y = self.after_synapse(layer.name, y).reshape(n_steps, batch, *shape)
            if layer.neuron is not None:
                y = self.rule.neuron_layer(y, layer.neuron)
            if record is not None:
                record[layer.name] = y
            x = y
        return x
