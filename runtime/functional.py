"""The plain functional forward of a model: one step of every layer with torch ops.

This is the reference every backend is tested against, and the forward training
steps (with its surrogate ``spike_fn`` and weights that require grad): the same
:func:`~.neurons.neuron_step` and the same layer arithmetic, so what a network
learned is what the runtime runs (contract 4).

Layer arithmetic: ``conv2d``/``linear`` as torch's (bias added by the op), average
pooling sums each window (``divisor_override=1``) and multiplies by
:attr:`~.layers.Pool2dSpec.weight`, max pooling as torch's, flatten in C order.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .layers import Conv2dSpec, FlattenSpec, LayerSpec, LinearSpec, Pool2dSpec
from .neurons import NeuronState, SpikeFn, heaviside, neuron_init, neuron_step
from .spec import ModelSpec


def f32(v: float) -> float:
    """``v`` rounded to float32 (as every backend applies a constant)."""
    return float(torch.tensor(v, dtype=torch.float32))


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, groups: int = 1
           ) -> torch.Tensor:
    """A (grouped) linear layer: ``x`` ``(B, in)``, ``w`` ``(out, in / groups)`` ->
    ``(B, out)``; output block ``g`` reads input block ``g`` only (see
    :mod:`.layers`)."""
    if groups == 1:
        return F.linear(x, w, b)
    n_out, n_in = w.shape
    xg = x.reshape(x.shape[0], groups, n_in).transpose(0, 1)  # (G, B, in/G)
    wg = w.reshape(groups, n_out // groups, n_in).transpose(1, 2)  # (G, in/G, out/G)
    y = torch.bmm(xg, wg).transpose(0, 1).reshape(x.shape[0], n_out)
    return y if b is None else y + b


def synapse(layer: LayerSpec, x: torch.Tensor, weights: Mapping[str, torch.Tensor]
            ) -> torch.Tensor:
    """The synaptic part of ``layer`` on ``x`` ``(B, *in_shape)`` -> ``(B, *out_shape)``."""
    if isinstance(layer, Conv2dSpec):
        return F.conv2d(x, weights[f"{layer.name}.weight"], weights.get(f"{layer.name}.bias"),
                        stride=layer.stride, padding=layer.padding, groups=layer.groups)
    if isinstance(layer, LinearSpec):
        return linear(x, weights[f"{layer.name}.weight"], weights.get(f"{layer.name}.bias"),
                      layer.groups)
    if isinstance(layer, Pool2dSpec):
        if layer.op == "max":
            return F.max_pool2d(x, layer.kernel_size, layer.stride)
        y = F.avg_pool2d(x, layer.kernel_size, layer.stride, divisor_override=1)
        w = f32(layer.weight)
        return y if w == 1.0 else y * w
    if isinstance(layer, FlattenSpec):
        return x.reshape(x.shape[0], -1)
    raise TypeError(f"unknown layer {layer!r}")


def init_states(spec: ModelSpec, batch: int = 1, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> list[NeuronState | None]:
    """Zero state of every layer (None for layers without a neuron)."""
    return [
        None if layer.neuron is None else neuron_init(shape, layer.neuron, batch, device, dtype)
        for layer, shape in zip(spec.layers, spec.shapes(), strict=True)
    ]


def network_step(
    spec: ModelSpec,
    weights: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    states: list[NeuronState | None],
    spike_fn: SpikeFn = heaviside,
    record: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, list[NeuronState | None]]:
    """One step of the whole network.

    Args:
        spec: the network.
        weights: tensors by name (``conv1.weight`` ...), on ``x``'s device and dtype.
        x: ``(B, C, H, W)`` input of this step (see :mod:`.input_stage`).
        states: per-layer states from :func:`init_states` or the previous step.
        spike_fn: Heaviside, or training's surrogate.
        record: if given, filled with ``"<layer>"`` outputs and ``"<layer>.u"``
            membranes (the keys of :mod:`.backends.base`).

    Returns:
        ``(out, new_states)``: ``out`` ``(B, n_out)`` is the output layer's output.
    """
    new: list[NeuronState | None] = []
    for layer, state in zip(spec.layers, states, strict=True):
        x = synapse(layer, x, weights)
        if layer.neuron is not None:
            assert state is not None
            x, state = neuron_step(x, state, layer.neuron, spike_fn)
            if record is not None:
                record[f"{layer.name}.u"] = state.u
        new.append(state)
        if record is not None:
            record[layer.name] = x
    return x, new

