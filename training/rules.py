"""The registry of learning rules, and what every rule provides.

A rule is a frozen dataclass whose fields are its settings (recorded in the model
file's provenance). It decides the neurons and layer kinds of the network it
trains (:meth:`Rule.spec`), how one layer's neurons run over ``T`` steps in
training (:meth:`Rule.neuron_layer`: the runtime's
:func:`~spikestream.runtime.neurons.neuron_step` with the rule's surrogate
``spike_fn``, or a rule-specific :class:`torch.autograd.Function` whose forward
calls that same step), its loss, and the class scores it decides by.

Rules live in their own modules (one per paper) and are imported by name on
demand, like the runtime's backends: :data:`RULES` maps a name to its module, which
defines ``RULE`` (the rule's class).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from ..runtime.layers import Conv2dSpec, FlattenSpec, LayerSpec, LinearSpec, Pool2dSpec
from ..runtime.neurons import (
    NeuronParams,
    NeuronState,
    SpikeFn,
    heaviside,
    neuron_init,
    neuron_step,
)
from ..runtime.spec import InputSpec, ModelSpec, ReadoutSpec

RULES: dict[str, str] = {
    "stbp": "stbp",
    "tssl": "tssl",
    "bpsta": "bpsta",
    "lee": "lee",
    "relpsp": "relpsp",
}
"""Rule name -> module in ``spikestream.training`` defining ``RULE``."""


@dataclass(frozen=True)
class Arch:
    """A small convolutional network: conv, pool, conv, pool, flatten, fc.

    Attributes:
        channels: output channels of the two conv layers.
        kernel: conv kernel size.
        padding: conv padding.
        pool: pooling window (and stride).
    """

    channels: tuple[int, int] = (12, 64)
    kernel: int = 5
    padding: int = 1
    pool: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "kernel": self.kernel,
                "padding": self.padding, "pool": self.pool}


@dataclass(frozen=True)
class Rule:
    """Base of the rules (see the module docstring); subclasses add their settings.

    Attributes:
        lr: learning rate of the rule's optimizer (Adam unless the rule says).
        init_gain: scale of the initial weights relative to torch's default
            (uniform in ``+-1/sqrt(fan_in)``).
    """

    lr: float = 1e-3
    init_gain: float = 1.0

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""

    # --- the network ------------------------------------------------------
    def hidden_neuron(self) -> NeuronParams:
        """Neuron of the hidden (conv) layers."""
        raise NotImplementedError

    def first_neuron(self) -> NeuronParams:
        """Neuron of the first layer (default: the hidden one)."""
        return self.hidden_neuron()

    def output_neuron(self) -> NeuronParams:
        """Neuron of the output layer (default: the hidden one)."""
        return self.hidden_neuron()

    def pool(self, name: str, k: int) -> Pool2dSpec:
        """A pooling layer of window ``k`` (default: average, no neuron)."""
        return Pool2dSpec(name, "avg", (k, k), (k, k))

    bias: ClassVar[bool] = False

    def readout(self) -> ReadoutSpec:
        return ReadoutSpec(kind="count")

    def network(self, spec: ModelSpec, seed: int = 0) -> Any:
        """The trainable network for ``spec`` (default: a plain
        :class:`~.network.SpikingNet`; a rule with extra training-only layers, such
        as BPSTA's batch-norm, returns its own subclass)."""
        from .network import SpikingNet

        return SpikingNet(spec, self, seed=seed)

    def spec(self, arch: Arch, input: InputSpec, dt_us: int, classes: tuple[str, ...],
             name: str = "model") -> ModelSpec:
        """The network this rule trains (see :class:`Arch`)."""
        c, h, w = input.shape
        c1, c2 = arch.channels
        k, pad, pk = (arch.kernel, arch.kernel), (arch.padding, arch.padding), arch.pool
        layers: list[LayerSpec] = [
            Conv2dSpec("conv1", c, c1, k, (1, 1), pad, self.bias, self.first_neuron()),
            self.pool("pool1", pk),
            Conv2dSpec("conv2", c1, c2, k, (1, 1), pad, self.bias, self.hidden_neuron()),
            self.pool("pool2", pk),
            FlattenSpec("flat"),
        ]
        shape = _shape_after(input, layers)
        layers.append(LinearSpec("fc", shape, len(classes) * self.readout().votes_per_class,
                                 self.bias, self.output_neuron()))
        return ModelSpec(name=name, input=input, dt_us=dt_us, layers=tuple(layers),
                         classes=classes, readout=self.readout())

    def init_tensors(self, spec: ModelSpec, generator: torch.Generator
                     ) -> dict[str, torch.Tensor]:
        """Initial weights: torch's default layer init times :attr:`init_gain`."""
        shapes = spec.tensor_shapes()
        out: dict[str, torch.Tensor] = {}
        for tname, shape in shapes.items():
            wshape = shapes[tname.rsplit(".", 1)[0] + ".weight"]
            fan_in = 1
            for s in wshape[1:]:
                fan_in *= s
            bound = self.init_gain / fan_in**0.5
            out[tname] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        return out

    # --- training ---------------------------------------------------------
    def spike_fn(self) -> SpikeFn:
        """The ``spike_fn`` passed to ``neuron_step`` in training."""
        return heaviside

    def neuron_layer(self, y: torch.Tensor, params: NeuronParams) -> torch.Tensor:
        """A layer's neurons over ``T`` steps.

        Args:
            y: ``(T, B, *shape)`` synaptic input of every step.
            params: the layer's neuron.

        Returns:
            ``(T, B, *shape)`` the layer's output at every step.
        """
        state: NeuronState = neuron_init(tuple(y.shape[2:]), params, y.shape[1], y.device,
                                         y.dtype)
        fn = self.spike_fn()
        outs = []
        for y_t in y.unbind(0):  # one backward node for all steps (not T selects)
            out, state = neuron_step(y_t, state, params, fn)
            outs.append(out)
        return torch.stack(outs)

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar loss of the output layer's ``(T, B, n_out)`` output for ``(B,)`` labels."""
        raise NotImplementedError

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """``(B, n_classes)`` class scores of ``(T, B, n_out)`` outputs (argmax decides)."""
        return out.sum(0)

    def optimizer(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr)

    def after_step(self, params: list[torch.nn.Parameter]) -> None:
        """Called after every optimizer step (e.g. weight clipping)."""

    grad_clip: ClassVar[float | None] = None

    def settings(self) -> dict[str, Any]:
        """The rule's name and settings, JSON-ready."""
        return {"rule": self.name, **dataclasses.asdict(self)}


def _shape_after(input: InputSpec, layers: list[LayerSpec]) -> int:
    shape: tuple[int, ...] = input.shape
    for k, layer in enumerate(layers):
        shape = layer.out_shape(shape, f"layers[{k}]")
    n = 1
    for s in shape:
        n *= s
    return n


def rule_names() -> tuple[str, ...]:
    """Names of the registered rules."""
    return tuple(RULES)


def rule_class(name: str) -> type[Rule]:
    """The class of rule ``name``; unknown names raise ``ValueError`` listing them."""
    try:
        module = RULES[name]
    except KeyError:
        raise ValueError(f"unknown rule {name!r}; valid: {', '.join(RULES)}") from None
    return importlib.import_module(f".{module}", __package__).RULE


def _convert(cls: type[Rule], key: str, value: Any) -> Any:
    types = {f.name: f.type for f in fields(cls)}
    if key not in types:
        raise ValueError(f"rule {cls.name}: unknown setting {key!r}; valid: "
                         f"{', '.join(types)}")
    if not isinstance(value, str):
        return value
    kind = str(types[key])
    try:
        if "bool" in kind:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if "float" in kind:
            return float(value)
        if "int" in kind:
            return int(value)
    except ValueError:
        raise ValueError(f"rule {cls.name}: setting {key}={value!r} is not a {kind}") from None
    return value


def get_rule(name: str, **settings: Any) -> Rule:
    """Rule ``name`` with ``settings`` (values may be strings, as from the command line).

    Raises:
        ValueError: unknown rule or setting (listing the valid ones), or a bad value.
    """
    cls = rule_class(name)
    return cls(**{k: _convert(cls, k, v) for k, v in settings.items()})
