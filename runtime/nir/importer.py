"""NIR graph -> spikestream :class:`~..model_file.Model`.

Node mapping (every other node type, and every parameter we cannot express, is
refused with a :class:`.NIRError` naming the node):

=====================  ==================================================================
NIR                    spikestream
=====================  ==================================================================
Input                  the input frame ``(C, H, W)``; a flat ``(N,)`` input needs ``input``
                       (a flatten layer is then added); a leading batch dim of 1 is dropped
Affine / Linear        ``linear`` (with / without bias)
Conv2d                 ``conv2d`` (groups 1, dilation 1, integer or ``same``/``valid`` pad)
SumPool2d / AvgPool2d  ``avgpool2d`` with ``scale = kh*kw`` / 1 (no padding)
Flatten                ``flatten`` (of the whole frame; on a flat input it is dropped)
LIF, IF, Threshold     a spiking neuron on the layer before (see :mod:`.neurons`)
CubaLIF                the same with a synaptic current (``syn_decay``)
LI, CubaLI, I          a non-spiking output neuron (membrane readout)
Output                 the class neurons: the shape must be flat ``(n_classes,)``
=====================  ==================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import nir
import numpy as np

from ..layers import Conv2dSpec, FlattenSpec, LayerSpec, LinearSpec, Pool2dSpec
from ..model_file import Model
from ..neurons import NeuronParams
from ..spec import InputSpec, ModelSpec, ReadoutSpec
from .discretise import Convention
from .errors import NIRError
from .graph import as_array, chain
from .neurons import NEURON_TYPES, map_neuron

META_KEY = "spikestream_spec"
"""Graph metadata key of the spikestream spec JSON (written by our export)."""

CONVENTION_KEY = "spikestream_convention"
"""Graph metadata key of the convention our export wrote the time constants in."""


@dataclass
class _Layer:
    """A layer being built (float64 tensors until the end)."""

    key: str
    kind: str
    spec: LayerSpec
    out_shape: tuple[int, ...]
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    neuron_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _pair(v: Any, fail: Any, name: str) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v))
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.shape != (2,) or not np.issubdtype(a.dtype, np.number) or (a != np.round(a)).any():
        raise fail(f"{name} must be one or two integers, got {v!r}")
    return int(a[0]), int(a[1])


def _safe_name(key: str, used: set[str]) -> str:
    name = key.replace(".", "_") or "layer"
    base, k = name, 1
    while name in used:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    return name


class _Builder:
    def __init__(self, source: str, conv: Convention, dt_us: int, nir_dt_s: float | None):
        self.source, self.conv, self.dt_us, self.nir_dt_s = source, conv, dt_us, nir_dt_s
        self.layers: list[_Layer] = []
        self.used: set[str] = set()

    def fail(self, key: str, node: Any, problem: str) -> NIRError:
        return NIRError(self.source, key, type(node).__name__, problem)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape

    def add(self, key: str, node: Any) -> None:
        def fail(p: str) -> NIRError:
            return self.fail(key, node, p)

        shape = self.shape
        if isinstance(node, nir.Affine | nir.Linear):
            w = as_array(node.weight)
            if w.ndim != 2:
                raise fail(f"weight must be 2-D (out, in), got shape {w.shape}")
            if len(shape) != 1:
                raise fail(f"needs a flat input but the node before it outputs {shape}; "
                           "add a Flatten node")
            if w.shape[1] != shape[0]:
                raise fail(f"weight has {w.shape[1]} inputs but the node before it "
                           f"outputs {shape[0]}")
            b = None
            if isinstance(node, nir.Affine) and node.bias is not None:
                b = as_array(node.bias)
                if b.shape != (w.shape[0],):
                    raise fail(f"bias has shape {b.shape}, the weight needs ({w.shape[0]},)")
            name = _safe_name(key, self.used)
            spec = LinearSpec(name, w.shape[1], w.shape[0], bias=b is not None)
            self.layers.append(_Layer(key, "linear", spec, (w.shape[0],), w, b))
        elif isinstance(node, nir.Conv2d):
            self._conv(key, node, shape, fail)
        elif isinstance(node, nir.SumPool2d | nir.AvgPool2d):
            if len(shape) != 3:
                raise fail(f"needs a (C, H, W) input, the node before it outputs {shape}")
            k = _pair(node.kernel_size, fail, "kernel_size")
            s = _pair(node.stride if node.stride is not None else k, fail, "stride")
            if _pair(node.padding if node.padding is not None else 0, fail, "padding") \
                    != (0, 0):
                raise fail(f"padding {node.padding!r}: spikestream pools without padding")
            scale = float(k[0] * k[1]) if isinstance(node, nir.SumPool2d) else 1.0
            spec = Pool2dSpec(_safe_name(key, self.used), "avg", k, s, scale)
            out = spec.out_shape(shape, key)
            self.layers.append(_Layer(key, "pool", spec, out))
        elif isinstance(node, nir.Flatten):
            if len(shape) == 1:
                return  # already flat
            nd = len(shape)
            start, end = int(node.start_dim), int(node.end_dim)
            if start % nd != 0 or end % nd != nd - 1:
                raise fail(f"flattens dims {start}..{end} of {shape}; spikestream flattens "
                           "the whole (C, H, W) frame (start_dim 0, end_dim -1)")
            n = int(np.prod(shape))
            self.layers.append(_Layer(key, "flatten",
                                      FlattenSpec(_safe_name(key, self.used)), (n,)))
        elif isinstance(node, NEURON_TYPES):
            self._neuron(key, node, shape)
        else:
            raise fail("node type not supported by spikestream (it runs Affine, Linear, "
                       "Conv2d, SumPool2d, AvgPool2d, Flatten, LIF, CubaLIF, IF, LI, "
                       "CubaLI, I and Threshold nodes)")

    def _conv(self, key: str, node: Any, shape: tuple[int, ...], fail: Any) -> None:
        w = as_array(node.weight)
        if w.ndim != 4:
            raise fail(f"weight must be 4-D (out, in, kh, kw), got shape {w.shape}")
        if len(shape) != 3 or shape[0] != w.shape[1]:
            raise fail(f"weight takes {w.shape[1]} channels but the node before it "
                       f"outputs {shape}")
        if int(np.asarray(node.groups if node.groups is not None else 1)) != 1:
            raise fail(f"groups={node.groups}: spikestream convolutions have groups=1")
        if _pair(node.dilation if node.dilation is not None else 1, fail, "dilation") != (1, 1):
            raise fail(f"dilation {node.dilation!r}: spikestream convolutions have "
                       "dilation 1")
        k = (w.shape[2], w.shape[3])
        s = _pair(node.stride if node.stride is not None else 1, fail, "stride")
        pad = node.padding if node.padding is not None else 0
        if isinstance(pad, bytes):
            pad = pad.decode()
        if isinstance(pad, str):
            if pad == "valid":
                p = (0, 0)
            elif pad == "same" and s == (1, 1) and k[0] % 2 and k[1] % 2:
                p = (k[0] // 2, k[1] // 2)
            else:
                raise fail(f"padding {pad!r} with kernel {k} and stride {s} has no "
                           "symmetric integer equivalent")
        else:
            p = _pair(pad, fail, "padding")
        b = None if node.bias is None else as_array(node.bias)
        if b is not None and b.shape not in ((w.shape[0],), ()):
            raise fail(f"bias has shape {b.shape}, the weight needs ({w.shape[0]},)")
        if b is not None:
            b = np.broadcast_to(b, (w.shape[0],)).copy()
            if not b.any():
                b = None  # NIR's Conv2d always has a bias; zeros add nothing
        spec = Conv2dSpec(_safe_name(key, self.used), w.shape[1], w.shape[0], k, s, p,
                          bias=b is not None)
        try:
            out = spec.out_shape(shape, key)
        except Exception:
            raise fail(f"kernel {k} does not fit the input {shape}") from None
        self.layers.append(_Layer(key, "conv2d", spec, out, w, b))

    def _neuron(self, key: str, node: Any, shape: tuple[int, ...]) -> None:
        prev = self.layers[-1]
        if prev.kind not in ("linear", "conv2d", "pool") or prev.neuron_key is not None:
            what = "the Input" if prev.kind == "input" else (
                f"neuron node {prev.neuron_key!r}" if prev.neuron_key else
                f"{prev.key!r} ({prev.kind})")
            raise self.fail(key, node, f"follows {what}; spikestream attaches a neuron to a "
                            "Conv2d, Affine/Linear or pooling node")
        params, gain, offset = map_neuron(key, node, shape, self.conv, self.dt_us,
                                          self.nir_dt_s, self.source)
        if prev.kind == "pool":
            g = np.unique(gain)
            if g.size != 1:
                raise self.fail(key, node, "the input gain differs between neurons after a "
                                "pooling node, which has no weights to fold it into")
            if offset.any():
                raise self.fail(key, node, "v_leak != 0 after a pooling node, which has no "
                                "bias to carry it")
            prev.spec = replace(prev.spec, scale=prev.spec.scale * float(g[0]),
                                neuron=params)
        else:
            if prev.kind == "conv2d":
                c = shape[0]
                g2, o2 = gain.reshape(c, -1), offset.reshape(c, -1)
                if (g2 != g2[:, :1]).any() or (o2 != o2[:, :1]).any():
                    raise self.fail(key, node, "the input gain or v_leak differs within a "
                                    "channel; after a Conv2d it must be one value per channel")
                gain, offset = g2[:, 0], o2[:, 0]
            if (gain != 1.0).any():
                prev.weight = prev.weight * gain.reshape(-1, *([1] * (prev.weight.ndim - 1)))
                if prev.bias is not None:
                    prev.bias = prev.bias * gain
            if offset.any():
                prev.bias = offset.copy() if prev.bias is None else prev.bias + offset
                prev.spec = replace(prev.spec, bias=True)
            prev.spec = replace(prev.spec, neuron=params)
        prev.neuron_key = key

    def tensors(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for layer in self.layers:
            if layer.weight is not None:
                out[f"{layer.spec.name}.weight"] = layer.weight.astype(np.float32)
            if layer.bias is not None:
                out[f"{layer.spec.name}.bias"] = layer.bias.astype(np.float32)
        return out


def _input_shape(key: str, node: Any, source: str) -> tuple[int, ...]:
    t = getattr(node, "input_type", None) or {}
    v = t.get("input") if isinstance(t, dict) else None
    if v is None:
        raise NIRError(source, key, "Input", "has no shape (input_type)")
    shape = tuple(int(x) for x in np.atleast_1d(np.asarray(v)))
    if len(shape) in (2, 4) and shape[0] == 1:
        shape = shape[1:]  # a batch dim of 1 (nirtorch without ignore_dims)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise NIRError(source, key, "Input", f"shape {shape}: spikestream feeds a (C, H, W) "
                       "event frame or a flat (C*H*W,) vector")
    return shape


def metadata_text(graph: nir.NIRGraph, key: str) -> str | None:
    """A string our export stored in ``graph.metadata`` (h5 gives bytes or 0-d arrays)."""
    meta = getattr(graph, "metadata", None) or {}
    raw = meta.get(key) if isinstance(meta, dict) else None
    if isinstance(raw, np.ndarray):
        raw = raw.item()
    if isinstance(raw, bytes):
        raw = raw.decode("utf8")
    return raw if isinstance(raw, str) else None


def spec_metadata(graph: nir.NIRGraph) -> dict[str, Any] | None:
    """The spikestream spec our export stored in ``graph.metadata``, or None."""
    raw = metadata_text(graph, META_KEY)
    if raw is None:
        return None
    try:
        d = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        return None
    return d if isinstance(d, dict) else None


def build_model(graph: nir.NIRGraph, *, source: str, conv: Convention, dt_us: int,
                nir_dt_s: float | None, input: InputSpec | None,
                classes: tuple[str, ...] | None, name: str,
                readout: ReadoutSpec | None, provenance: dict[str, Any]) -> Model:
    """The model of ``graph`` (see :func:`spikestream.runtime.nir.import_nir`)."""
    (in_key, in_node), nodes, out_key = chain(graph, source)
    shape = _input_shape(in_key, in_node, source)
    if input is None:
        if len(shape) == 1 or shape[0] not in (1, 2):
            raise NIRError(source, in_key, "Input", f"shape {shape} is not a (2 or 1, H, W) "
                           "event frame: give input= (CLI: --input sensor=WxH,...) to say how "
                           "events map to it")
        input = InputSpec(sensor_size=(shape[2], shape[1], 2),
                          polarity="split" if shape[0] == 2 else "merge")
    b = _Builder(source, conv, dt_us, nir_dt_s)
    b.layers.append(_Layer(in_key, "input", FlattenSpec("in"), input.shape))
    if shape != input.shape:
        if len(shape) == 1 and shape[0] == int(np.prod(input.shape)):
            b.layers.append(_Layer(in_key, "flatten",
                                   FlattenSpec(_safe_name("input_flat", b.used)), shape))
        else:
            raise NIRError(source, in_key, "Input", f"shape {shape} does not match the input "
                           f"frame {input.shape} of {input.to_dict()}")
    for key, node in nodes:
        b.add(key, node)
    layers = b.layers[1:]
    if not layers:
        raise NIRError(source, out_key, "Output", "the graph has no layers")
    last = layers[-1]
    if last.neuron_key is None:
        raise NIRError(source, last.key, type(graph.nodes[last.key]).__name__,
                       "feeds the Output without a neuron; spikestream's output layer "
                       "needs one (add LIF/IF for spike counts or LI for a membrane readout)")
    if len(last.out_shape) != 1:
        raise NIRError(source, out_key, "Output", f"shape {last.out_shape}: spikestream "
                       "needs a flat output, one neuron per class")
    for layer in layers[:-1]:
        n: NeuronParams | None = layer.spec.neuron
        if n is not None and not n.spiking:
            raise NIRError(source, layer.neuron_key,
                           type(graph.nodes[layer.neuron_key]).__name__,
                           "is non-spiking; spikestream allows that only in the output layer "
                           "(a membrane readout)")
    n_out = last.out_shape[0]
    if classes is None:
        classes = tuple(f"class{k}" for k in range(n_out))
    spiking = last.spec.neuron.spiking
    if readout is None or (readout.kind == "membrane") == spiking:
        readout = ReadoutSpec(kind="count" if spiking else "membrane")
    try:
        spec = ModelSpec(name=name, input=input, dt_us=dt_us,
                         layers=tuple(x.spec for x in layers), classes=tuple(classes),
                         readout=readout, provenance=provenance)
    except ValueError as e:
        raise NIRError(source, None, None, str(e)) from None
    return Model.build(spec, b.tensors(), source)
