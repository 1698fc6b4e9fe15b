"""The versioned model spec: everything but the weights, as frozen dataclasses.

A :class:`ModelSpec` travels as JSON in a model file's metadata (see
:mod:`.model_file`). :meth:`ModelSpec.from_dict` validates every field and raises
:class:`~.errors.ModelError` naming it (``layers[2].kernel_size: expected 2 ints,
got [3]``). Layer geometry is checked end to end: each layer's input shape is the
previous layer's output shape, starting from :attr:`InputSpec.shape`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _parse as P
from .errors import ModelError
from .layers import LayerSpec, layer_from_dict, layer_to_dict

SPEC_VERSION = 1
"""Version of the spec this code writes and reads."""

READOUT_KINDS = ("count", "membrane", "first_spike", "voting")
STATE_POLICIES = ("continuous", "reset_on_silence", "reset_every")
VOTE_ORDERS = ("class", "vote")


@dataclass(frozen=True)
class InputSpec:
    """How an event window becomes the first layer's input.

    Attributes:
        sensor_size: ``(width, height, polarities)`` of the source, tonic's order.
        crop: ``(x0, y0, width, height)`` region kept, or None for the whole sensor.
        downsample: ``(fx, fy)``: pixel ``x`` of the region goes to column ``x // fx``.
        polarity: ``"split"`` (channel = polarity, 2 channels) or ``"merge"`` (1).
        mode: ``"count"`` (events per pixel) or ``"binary"`` (1 where any event).
    """

    sensor_size: tuple[int, int, int]
    crop: tuple[int, int, int, int] | None = None
    downsample: tuple[int, int] = (1, 1)
    polarity: Literal["split", "merge"] = "split"
    mode: Literal["count", "binary"] = "count"

    @property
    def region(self) -> tuple[int, int, int, int]:
        """``(x0, y0, width, height)`` of the sensor region used."""
        if self.crop is None:
            return (0, 0, self.sensor_size[0], self.sensor_size[1])
        return self.crop

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the first layer's input."""
        _, _, w, h = self.region
        fx, fy = self.downsample
        return (2 if self.polarity == "split" else 1, -(-h // fy), -(-w // fx))

    @classmethod
    def from_dict(cls, d: Any, where: str = "input") -> InputSpec:
        P.check_keys(d, cls, where)
        sensor = P.ints(d, "sensor_size", 3, where, minimum=1)
        crop = None if d.get("crop") is None else P.ints(d, "crop", 4, where, minimum=0)
        if crop is not None:
            x0, y0, w, h = crop
            if w < 1 or h < 1 or x0 + w > sensor[0] or y0 + h > sensor[1]:
                raise ModelError("<spec>", f"{where}.crop: {list(crop)} does not fit in the "
                                           f"{sensor[0]}x{sensor[1]} sensor")
        return cls(
            sensor_size=sensor,  # type: ignore[arg-type]
            crop=crop,  # type: ignore[arg-type]
            downsample=P.ints(d, "downsample", 2, where, minimum=1, default=(1, 1)),  # type: ignore[arg-type]
            polarity=P.choice(d, "polarity", ("split", "merge"), where, default="split"),  # type: ignore[arg-type]
            mode=P.choice(d, "mode", ("count", "binary"), where, default="count"),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        return {"sensor_size": list(self.sensor_size),
                "crop": None if self.crop is None else list(self.crop),
                "downsample": list(self.downsample), "polarity": self.polarity,
                "mode": self.mode}


@dataclass(frozen=True)
class ReadoutSpec:
    """How output activity becomes a prediction (see :mod:`.readout`).

    Attributes:
        kind: ``"count"`` (output spikes per class), ``"membrane"`` (non-spiking
            readout's potential, Lee), ``"first_spike"`` (earliest output neuron wins,
            ReL-PSP: its spikes, or, from a non-spiking output layer, the first
            crossing of its neuron's threshold timed inside the step), ``"voting"``
            (``votes_per_class`` output neurons per class averaged, BPSTA).
        votes_per_class: output neurons per class (``"voting"`` only; else 1).
        vote_order: where class ``c``'s vote ``v`` is among the ``C * V`` output
            neurons: ``"class"``: ``c * V + v`` (each class's votes together, BPSTA's
            voting layer); ``"vote"``: ``v * C + c`` (one block of every class per
            vote: the grouped output layer of an ensemble, one group per member).
        tau_ms: time constant of the exponential smoothing of the scores.
        min_confidence: below it the decision is "no gesture".
        min_event_rate_hz: input event rate below which the decision is "no gesture".
        switch_margin: hysteresis: a decided class gives way to another only when the
            other's probability exceeds its own by this much (0: to any class that
            leads; "no gesture" gates are not held back).
        state_policy: ``"continuous"``, ``"reset_on_silence"`` (network state reset
            after ``silence_ms`` below ``min_event_rate_hz``) or ``"reset_every"``
            (every ``reset_every_steps`` steps: ReL-PSP's sample window).
        silence_ms: silence length that resets the state (``"reset_on_silence"``).
        reset_every_steps: steps between resets (``"reset_every"``).
    """

    kind: Literal["count", "membrane", "first_spike", "voting"] = "count"
    votes_per_class: int = 1
    vote_order: Literal["class", "vote"] = "class"
    tau_ms: float = 50.0
    min_confidence: float = 0.0
    min_event_rate_hz: float = 0.0
    switch_margin: float = 0.0
    state_policy: Literal["continuous", "reset_on_silence", "reset_every"] = "continuous"
    silence_ms: float = 200.0
    reset_every_steps: int = 0

    @classmethod
    def from_dict(cls, d: Any, where: str = "readout") -> ReadoutSpec:
        P.check_keys(d, cls, where)
        kw: dict[str, Any] = {
            "kind": P.choice(d, "kind", READOUT_KINDS, where),
            "votes_per_class": P.integer(d, "votes_per_class", where, minimum=1, default=1),
            "vote_order": P.choice(d, "vote_order", VOTE_ORDERS, where, default="class"),
            "state_policy": P.choice(d, "state_policy", STATE_POLICIES, where,
                                     default="continuous"),
            "reset_every_steps": P.integer(d, "reset_every_steps", where, minimum=0, default=0),
        }
        for k, default in (("tau_ms", 50.0), ("min_confidence", 0.0),
                           ("min_event_rate_hz", 0.0), ("silence_ms", 200.0),
                           ("switch_margin", 0.0)):
            kw[k] = P.number(d, k, where, minimum=0.0, default=default)
        if kw["kind"] != "voting" and kw["votes_per_class"] != 1:
            raise ModelError("<spec>", f"{where}.votes_per_class: must be 1 for a "
                                       f"{kw['kind']!r} readout, got {kw['votes_per_class']}")
        if kw["kind"] != "voting" and kw["vote_order"] != "class":
            raise ModelError("<spec>", f"{where}.vote_order: only a 'voting' readout has "
                                       f"votes to order, got {kw['vote_order']!r}")
        if kw["state_policy"] == "reset_every" and kw["reset_every_steps"] < 1:
            raise ModelError("<spec>", f"{where}.reset_every_steps: must be >= 1 with "
                                       "state_policy 'reset_every'")
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if self.vote_order == "class":
            del d["vote_order"]  # absent when the default: older files read as before
        return d


@dataclass(frozen=True)
class ModelSpec:
    """A network without its weights.

    Attributes:
        version: :data:`SPEC_VERSION`.
        name: model name.
        input: the input stage.
        dt_us: step length in µs (the window length the network was trained with).
        layers: the layers, in order; weighted and pooling layers may carry a neuron.
        classes: class names; the output layer has ``len(classes) * votes_per_class``
            neurons.
        readout: readout settings.
        provenance: JSON-able facts: rule, training data, accuracy, date...
    """

    name: str
    input: InputSpec
    dt_us: int
    layers: tuple[LayerSpec, ...]
    classes: tuple[str, ...]
    readout: ReadoutSpec = field(default_factory=ReadoutSpec)
    provenance: dict[str, Any] = field(default_factory=dict)
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        self.shapes()  # validates the geometry

    @property
    def n_outputs(self) -> int:
        """Neurons in the output layer."""
        return len(self.classes) * self.readout.votes_per_class

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every tensor the model file must hold, by name."""
        out: dict[str, tuple[int, ...]] = {}
        for layer in self.layers:
            out.update(layer.tensor_shapes())
        return out

    def shapes(self) -> list[tuple[int, ...]]:
        """Output shape (without batch) of each layer; raises :class:`ModelError`."""
        shape: tuple[int, ...] = self.input.shape
        out = []
        names: set[str] = set()
        for k, layer in enumerate(self.layers):
            where = f"layers[{k}]"
            if layer.name in names:
                raise ModelError("<spec>", f"{where}.name: {layer.name!r} is used twice")
            names.add(layer.name)
            shape = layer.out_shape(shape, where)
            out.append(shape)
        self._check_output(out)
        return out

    def _check_output(self, shapes: list[tuple[int, ...]]) -> None:
        if not self.layers:
            raise ModelError("<spec>", "layers: a model needs at least one layer")
        where = f"layers[{len(self.layers) - 1}]"
        last = self.layers[-1]
        neuron = getattr(last, "neuron", None)
        if shapes[-1] != (self.n_outputs,):
            raise ModelError("<spec>", f"{where}: output shape {shapes[-1]} does not match "
                                       f"{len(self.classes)} classes x "
                                       f"{self.readout.votes_per_class} votes")
        if neuron is None:
            raise ModelError("<spec>", f"{where}.neuron: the output layer needs a neuron")
        kind = self.readout.kind
        if kind != "first_spike" and (kind == "membrane") == neuron.spiking:
            want = "non-spiking" if kind == "membrane" else "spiking"
            raise ModelError("<spec>", f"{where}.neuron.spiking: a {kind!r} "
                                       f"readout needs a {want} output neuron")
        for k, layer in enumerate(self.layers[:-1]):
            n = getattr(layer, "neuron", None)
            if n is not None and not n.spiking:
                raise ModelError("<spec>", f"layers[{k}].neuron.spiking: only the output "
                                           "layer may be non-spiking")

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "input": self.input.to_dict(),
                "dt_us": self.dt_us, "layers": [layer_to_dict(x) for x in self.layers],
                "classes": list(self.classes), "readout": self.readout.to_dict(),
                "provenance": self.provenance}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: Any) -> ModelSpec:
        """Validate and build; every error is a :class:`ModelError` naming the field."""
        if not isinstance(d, dict):
            raise ModelError("<spec>", f"spec: expected a JSON object, got {type(d).__name__}")
        if "version" not in d:
            raise ModelError("<spec>", "version: missing (not a spikestream model spec?)")
        v = d["version"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ModelError("<spec>", f"version: expected a positive int, got {v!r}")
        if v > SPEC_VERSION:
            raise ModelError("<spec>", f"version: spec version {v} is newer than this "
                                       f"spikestream reads ({SPEC_VERSION}); upgrade spikestream")
        P.check_keys(d, cls, "spec")
        layers = d.get("layers")
        if not isinstance(layers, list) or not layers:
            raise ModelError("<spec>", f"layers: expected a non-empty list, got {layers!r}")
        classes = d.get("classes")
        if (not isinstance(classes, list) or not classes
                or not all(isinstance(c, str) for c in classes)):
            raise ModelError("<spec>", f"classes: expected a non-empty list of names, "
                                       f"got {classes!r}")
        prov = d.get("provenance", {})
        if not isinstance(prov, dict):
            raise ModelError("<spec>", f"provenance: expected an object, got {prov!r}")
        name = d.get("name")
        if not isinstance(name, str):
            raise ModelError("<spec>", f"name: expected a string, got {name!r}")
        if "input" not in d:
            raise ModelError("<spec>", "input: missing")
        if "readout" not in d:
            raise ModelError("<spec>", "readout: missing")
        return cls(
            version=v, name=name, input=InputSpec.from_dict(d["input"]),
            dt_us=P.integer(d, "dt_us", "spec", minimum=1),
            layers=tuple(layer_from_dict(x, f"layers[{k}]") for k, x in enumerate(layers)),
            classes=tuple(classes), readout=ReadoutSpec.from_dict(d["readout"]),
            provenance=prov,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelError("<spec>", f"spec: not valid JSON ({e})") from None
        return cls.from_dict(d)
