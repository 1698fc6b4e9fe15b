"""Layer specs: conv2d, linear, avg/max pooling, flatten (frozen dataclasses).

A weighted or pooling layer may be followed by a neuron (``neuron`` not None): its
output is then the neuron's output (spikes, PSP trace or membrane); without one it
passes its synaptic result on unchanged (e.g. TSSL-BP's sum pooling of PSP traces).
Lee et al.'s IF average-pooling neurons are an ``avgpool2d`` with a neuron.

Tensors of a layer named ``conv1`` are ``conv1.weight`` (conv2d ``(out, in / groups,
kh, kw)``, linear ``(out, in / groups)``) and ``conv1.bias`` (``(out,)``) when ``bias``
is set. A layer with ``groups = G`` splits its inputs and its outputs into ``G``
consecutive blocks (channels for conv2d, features for linear), block ``g`` of the
outputs reading only block ``g`` of the inputs (torch's ``groups`` for conv2d; the
same block-diagonal structure for linear): :func:`dense_weight` gives the equivalent
ungrouped weight. Padding is zeros. Pooling windows that do not fit are dropped
(torch's floor mode); average pooling sums each window and multiplies the sum by
:attr:`Pool2dSpec.weight`
(``scale / (kh * kw)`` as float32; ``scale = kh * kw * theta`` is TSSL-BP's sum pooling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from . import _parse as P
from .neurons import NeuronParams

LAYER_TYPES = ("conv2d", "linear", "avgpool2d", "maxpool2d", "flatten")


def _neuron(d: dict, where: str) -> NeuronParams | None:
    n = d.get("neuron")
    if n is None:
        return None
    if not isinstance(n, dict):
        raise P.fail(f"{where}.neuron", f"expected an object or null, got {n!r}")
    try:
        return NeuronParams.from_dict(n)
    except (TypeError, ValueError) as e:
        msg = str(e).removeprefix("NeuronParams.")
        raise P.fail(f"{where}.neuron.{msg.split(':')[0]}",
                     msg.split(":", 1)[1].strip() if ":" in msg else msg) from None


def _name(d: dict, where: str) -> str:
    v = d.get("name")
    if not isinstance(v, str) or not v or "." in v:
        raise P.fail(f"{where}.name", f"expected a non-empty name without '.', got {v!r}")
    return v


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


@dataclass(frozen=True)
class Conv2dSpec:
    """2-D convolution ``(C_in, H, W) -> (C_out, H', W')``."""

    name: str
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    bias: bool = False
    neuron: NeuronParams | None = None
    groups: int = 1
    type: Literal["conv2d"] = "conv2d"

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        s = {f"{self.name}.weight": (self.out_channels, self.in_channels // self.groups,
                                     *self.kernel_size)}
        if self.bias:
            s[f"{self.name}.bias"] = (self.out_channels,)
        return s

    def out_shape(self, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
        if len(shape) != 3:
            raise P.fail(where, f"conv2d needs a (C, H, W) input, got {shape}")
        if shape[0] != self.in_channels:
            raise P.fail(f"{where}.in_channels", f"expected {shape[0]} (the input has shape "
                                                 f"{shape}), got {self.in_channels}")
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise P.fail(f"{where}.groups", f"{self.groups} does not divide the channels "
                                            f"({self.in_channels} in, {self.out_channels} out)")
        h, w = (_conv_out(n, k, s, p) for n, k, s, p in
                zip(shape[1:], self.kernel_size, self.stride, self.padding, strict=True))
        if h < 1 or w < 1:
            raise P.fail(f"{where}.kernel_size", f"{list(self.kernel_size)} does not fit "
                                                 f"the input {shape}")
        return (self.out_channels, h, w)


@dataclass(frozen=True)
class LinearSpec:
    """Fully connected ``(in_features,) -> (out_features,)``."""

    name: str
    in_features: int
    out_features: int
    bias: bool = False
    neuron: NeuronParams | None = None
    groups: int = 1
    type: Literal["linear"] = "linear"

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        s = {f"{self.name}.weight": (self.out_features, self.in_features // self.groups)}
        if self.bias:
            s[f"{self.name}.bias"] = (self.out_features,)
        return s

    def out_shape(self, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
        if len(shape) != 1:
            raise P.fail(where, f"linear needs a flat input, got {shape}; add a flatten layer")
        if shape[0] != self.in_features:
            raise P.fail(f"{where}.in_features", f"expected {shape[0]}, got {self.in_features}")
        if self.groups < 1 or self.in_features % self.groups or self.out_features % self.groups:
            raise P.fail(f"{where}.groups", f"{self.groups} does not divide the features "
                                            f"({self.in_features} in, {self.out_features} out)")
        return (self.out_features,)


@dataclass(frozen=True)
class Pool2dSpec:
    """Average (``op="avg"``, JSON type ``avgpool2d``) or max (``maxpool2d``) pooling."""

    name: str
    op: Literal["avg", "max"]
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    scale: float = 1.0
    neuron: NeuronParams | None = None

    @property
    def type(self) -> str:
        return f"{self.op}pool2d"

    @property
    def weight(self) -> float:
        """Factor applied to each input of an average pool: ``scale / (kh * kw)``."""
        return self.scale / (self.kernel_size[0] * self.kernel_size[1])

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def out_shape(self, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
        if len(shape) != 3:
            raise P.fail(where, f"{self.type} needs a (C, H, W) input, got {shape}")
        h, w = (_conv_out(n, k, s, 0) for n, k, s in
                zip(shape[1:], self.kernel_size, self.stride, strict=True))
        if h < 1 or w < 1:
            raise P.fail(f"{where}.kernel_size", f"{list(self.kernel_size)} does not fit "
                                                 f"the input {shape}")
        return (shape[0], h, w)


@dataclass(frozen=True)
class FlattenSpec:
    """``(C, H, W) -> (C * H * W,)`` in C order."""

    name: str
    type: Literal["flatten"] = "flatten"
    neuron: None = None

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def out_shape(self, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
        n = 1
        for s in shape:
            n *= s
        return (n,)


LayerSpec = Conv2dSpec | LinearSpec | Pool2dSpec | FlattenSpec


def dense_weight(layer: Conv2dSpec | LinearSpec, weight: np.ndarray) -> np.ndarray:
    """The ungrouped weight equivalent to ``layer``'s (grouped) ``weight``:
    ``(out, in, ...)``, block ``g`` of the outputs reading block ``g`` of the inputs,
    zeros elsewhere; ``weight`` itself when ``groups`` is 1."""
    g = layer.groups
    if g == 1:
        return weight
    n_out, n_in_g = weight.shape[:2]
    dense = np.zeros((n_out, n_in_g * g, *weight.shape[2:]), weight.dtype)
    o = n_out // g
    for k in range(g):
        dense[k * o:(k + 1) * o, k * n_in_g:(k + 1) * n_in_g] = weight[k * o:(k + 1) * o]
    return dense


def grouped_weight(layer: Conv2dSpec | LinearSpec, dense: np.ndarray) -> np.ndarray | None:
    """Inverse of :func:`dense_weight`: ``layer``'s grouped weight from its dense
    ``(out, in, ...)`` equivalent, or None when ``dense`` has a non-zero weight
    outside the diagonal blocks (it is then not this grouped layer)."""
    g = layer.groups
    if g == 1:
        return dense
    n_out, n_in = dense.shape[:2]
    if n_in % g or n_out % g:
        return None
    o, i = n_out // g, n_in // g
    blocks = [dense[k * o:(k + 1) * o, k * i:(k + 1) * i] for k in range(g)]
    w = np.concatenate(blocks)
    return w if np.array_equal(dense_weight(layer, w), dense) else None


def layer_from_dict(d: Any, where: str) -> LayerSpec:
    """Build a layer from its JSON object; errors name ``where`` and the field."""
    if not isinstance(d, dict):
        raise P.fail(where, f"expected a JSON object, got {d!r}")
    t = P.choice(d, "type", LAYER_TYPES, where)
    name = _name(d, where)
    if t == "conv2d":
        P.check_keys(d, Conv2dSpec, where)
        return Conv2dSpec(
            name=name,
            in_channels=P.integer(d, "in_channels", where, minimum=1),
            out_channels=P.integer(d, "out_channels", where, minimum=1),
            groups=P.integer(d, "groups", where, minimum=1, default=1),  # checked by out_shape
            kernel_size=P.ints(d, "kernel_size", 2, where, minimum=1),  # type: ignore[arg-type]
            stride=P.ints(d, "stride", 2, where, minimum=1, default=(1, 1)),  # type: ignore[arg-type]
            padding=P.ints(d, "padding", 2, where, minimum=0, default=(0, 0)),  # type: ignore[arg-type]
            bias=P.boolean(d, "bias", where, default=False),
            neuron=_neuron(d, where),
        )
    if t == "linear":
        P.check_keys(d, LinearSpec, where)
        return LinearSpec(
            name=name,
            in_features=P.integer(d, "in_features", where, minimum=1),
            out_features=P.integer(d, "out_features", where, minimum=1),
            groups=P.integer(d, "groups", where, minimum=1, default=1),  # checked by out_shape
            bias=P.boolean(d, "bias", where, default=False),
            neuron=_neuron(d, where),
        )
    if t == "flatten":
        P.check_keys(d, FlattenSpec, where)
        if d.get("neuron") is not None:
            raise P.fail(f"{where}.neuron", "a flatten layer has no neuron")
        return FlattenSpec(name=name)
    P.check_keys(d, Pool2dSpec, where, extra=("type",))
    if "op" in d:
        raise P.fail(f"{where}.op", "unknown field; the type says avg or max")
    k = P.ints(d, "kernel_size", 2, where, minimum=1)
    scale = P.number(d, "scale", where, default=1.0)
    if t == "maxpool2d" and scale != 1.0:
        raise P.fail(f"{where}.scale", f"only average pooling has a scale, got {scale}")
    return Pool2dSpec(
        name=name, op="avg" if t == "avgpool2d" else "max", kernel_size=k,  # type: ignore[arg-type]
        stride=P.ints(d, "stride", 2, where, minimum=1, default=k),  # type: ignore[arg-type]
        scale=scale, neuron=_neuron(d, where),
    )


def layer_to_dict(layer: LayerSpec) -> dict[str, Any]:
    """JSON object of a layer (inverse of :func:`layer_from_dict`)."""
    d: dict[str, Any] = {"type": layer.type, "name": layer.name}
    if isinstance(layer, Conv2dSpec):
        d.update(in_channels=layer.in_channels, out_channels=layer.out_channels,
                 kernel_size=list(layer.kernel_size), stride=list(layer.stride),
                 padding=list(layer.padding), bias=layer.bias)
    elif isinstance(layer, LinearSpec):
        d.update(in_features=layer.in_features, out_features=layer.out_features,
                 bias=layer.bias)
    elif isinstance(layer, Pool2dSpec):
        d.update(kernel_size=list(layer.kernel_size), stride=list(layer.stride),
                 scale=layer.scale)
    if isinstance(layer, Conv2dSpec | LinearSpec) and layer.groups != 1:
        d["groups"] = layer.groups  # absent when 1: ungrouped files read as before
    if not isinstance(layer, FlattenSpec):
        d["neuron"] = None if layer.neuron is None else layer.neuron.to_dict()
    return d
