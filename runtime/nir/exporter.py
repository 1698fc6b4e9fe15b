"""spikestream :class:`~..model_file.Model` -> NIR graph.

Each layer becomes its NIR node (``conv2d`` -> Conv2d, ``linear`` -> Affine or Linear,
``avgpool2d`` -> AvgPool2d (scale 1) or SumPool2d (scale ``kh*kw``), ``flatten`` ->
Flatten) and its neuron a node after it, written like snnTorch writes its own
(``r = tau / h`` so the input gain is 1 and the weights go out unchanged), with ``h``
the convention's step (:data:`EXPORT_CONVENTIONS`: ``"nir"``, ``h = dt_us * 1e-6`` s,
NIR's literal meaning; ``"snntorch"``, ``h = 1e-4``, what snnTorch's
``import_from_nir`` assumes):

- spiking, no synaptic current: LIF ``tau = h / (1 - decay)``, or IF (``r = 1/g``,
  ``g = h`` for ``"nir"``, 1 for ``"snntorch"``)
  when ``decay == 1``; ``v_leak = v_reset = 0``. ``decay_last`` fires identically.
- with ``syn_decay``: CubaLIF ``tau_syn = h / (1 - syn_decay)``, ``w_in = tau_syn / h``.
- non-spiking: LI / CubaLI (I when ``decay == 1``); a ``decay_last`` readout
  (``u = d (u + x)``, Lee et al.) is the LI with decay ``d`` and input gain ``d``.

What NIR cannot express is refused, naming the layer, instead of writing a different
network: subtractive reset, no reset, the TSSL-BP output trace (``psp_tau``),
fire-once, input rectification, ``>=`` firing, max pooling, a non-decaying
(``decay`` or ``syn_decay`` of 1 with a current) or growing (> 1) state.
The spikestream spec (input stage, classes, readout) rides along in the graph's
metadata so that importing the file gives back the same model.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

from ..layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec, dense_weight
from ..model_file import Model
from ..neurons import NeuronParams
from .discretise import convention as get_convention
from .errors import NIRError
from .importer import CONVENTION_KEY, META_KEY

EXPORT_CONVENTIONS = ("nir", "snntorch")
"""What :func:`build_graph` writes: NIR's own seconds (``h = dt_us * 1e-6``), or
snnTorch's fixed ``h = 1e-4`` (IF: ``r`` per step) so that snnTorch's ``import_from_nir``
reads every ``Leaky`` back with ``beta = decay`` and weights unchanged."""


def _neuron_node(model: Model, layer: Any, shape: tuple[int, ...], gain: float,
                 h: float, g: float) -> Any:
    """The NIR node of ``layer.neuron`` over ``shape`` neurons."""
    p: NeuronParams = layer.neuron

    def fail(problem: str) -> NIRError:
        return NIRError(model.source, layer.name, f"{layer.type} neuron", problem, "layer")

    if p.reset == "subtract":
        raise fail("subtractive reset (u -= threshold) has no NIR equivalent: NIR neurons "
                   "reset to v_reset; export would write a different network")
    if p.spiking and p.reset == "none":
        raise fail("a spiking neuron without reset has no NIR equivalent")
    if p.psp_tau is not None:
        raise fail("the TSSL-BP output trace (psp_tau) has no NIR equivalent")
    if p.fire_once:
        raise fail("fire-once neurons (ReL-PSP) have no NIR equivalent")
    if p.input_relu:
        raise fail("input rectification (BPSTA's relu before integrating) has no NIR "
                   "equivalent")
    if p.fire_ge:
        raise fail("firing on u >= threshold has no NIR equivalent (NIR fires on v > "
                   "v_threshold)")
    decay = p.decay
    if not p.spiking and p.order == "decay_last":
        gain *= decay  # u = d (u + x) is u = d u + d x
    if not 0.0 <= decay <= 1.0:
        raise fail(f"decay {decay} is outside [0, 1]: no positive NIR time constant")

    def full(v: float) -> np.ndarray:
        return np.full(shape, v, np.float64)

    if p.syn_decay is not None:
        if decay == 1.0 or not 0.0 <= p.syn_decay < 1.0:
            raise fail(f"decay {decay}, syn_decay {p.syn_decay}: a current-based neuron "
                       "needs both in [0, 1) for finite NIR time constants")
        tau_syn, tau_mem = h / (1.0 - p.syn_decay), h / (1.0 - decay)
        kw = dict(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(gain * tau_mem / h),
                  v_leak=full(0.0), w_in=full(tau_syn / h))
        if not p.spiking:
            return nir.CubaLI(**kw)
        return nir.CubaLIF(**kw, v_threshold=full(p.threshold), v_reset=full(0.0))
    if decay == 1.0:
        if not p.spiking:
            return nir.I(r=full(gain / g))
        return nir.IF(r=full(gain / g), v_threshold=full(p.threshold), v_reset=full(0.0))
    tau = h / (1.0 - decay)
    if not p.spiking:
        return nir.LI(tau=full(tau), r=full(gain * tau / h), v_leak=full(0.0))
    return nir.LIF(tau=full(tau), r=full(gain * tau / h), v_leak=full(0.0),
                   v_threshold=full(p.threshold), v_reset=full(0.0))


def _layer_node(model: Model, layer: Any, in_shape: tuple[int, ...],
                out_shape: tuple[int, ...]) -> tuple[Any, float]:
    """``(node, gain)``: the layer's node and the factor its neuron must apply."""
    if isinstance(layer, Conv2dSpec):
        b = model.bias(layer.name)
        return nir.Conv2d(
            # grouped layers go out block-diagonal: NIR 1.0.8's Conv2d takes its input
            # channels from the weight alone (its groups break the type check), its
            # Affine has no groups
            input_shape=tuple(in_shape[1:]),
            weight=dense_weight(layer, model.weight(layer.name)).copy(),
            stride=layer.stride, padding=layer.padding, dilation=(1, 1), groups=1,
            bias=b.copy() if b is not None else np.zeros(layer.out_channels, np.float32),
        ), 1.0
    if isinstance(layer, LinearSpec):
        w, b = dense_weight(layer, model.weight(layer.name)).copy(), model.bias(layer.name)
        return (nir.Affine(weight=w, bias=b.copy()) if b is not None
                else nir.Linear(weight=w)), 1.0
    if isinstance(layer, Pool2dSpec):
        if layer.op == "max":
            raise NIRError(model.source, layer.name, layer.type, "max pooling has no NIR "
                           "equivalent", "layer")
        k = np.array(layer.kernel_size)
        kw = dict(kernel_size=k, stride=np.array(layer.stride), padding=np.zeros(2, int))
        area = float(k.prod())
        if layer.scale == 1.0:
            return nir.AvgPool2d(**kw), 1.0
        if layer.scale == area:
            return nir.SumPool2d(**kw), 1.0
        if layer.neuron is None:
            raise NIRError(model.source, layer.name, layer.type, f"pooling scale "
                           f"{layer.scale} is neither 1 (AvgPool2d) nor {area:g} (SumPool2d) "
                           "and no neuron follows to carry the factor", "layer")
        return nir.SumPool2d(**kw), float(np.float32(layer.weight))
    if isinstance(layer, FlattenSpec):
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0,
                           end_dim=-1), 1.0
    raise NIRError(model.source, getattr(layer, "name", "?"), type(layer).__name__,
                   "unknown layer type", "layer")  # pragma: no cover


def build_graph(model: Model, convention: str = "nir") -> nir.NIRGraph:
    """The NIR graph of ``model`` (see the module docstring) in ``convention``
    (:data:`EXPORT_CONVENTIONS`)."""
    if convention not in EXPORT_CONVENTIONS:
        raise ValueError(f"export writes the conventions {', '.join(EXPORT_CONVENTIONS)}, "
                         f"not {convention!r}")
    conv = get_convention(convention)
    spec = model.spec
    h, g = conv.leak_step(spec.dt_us), conv.integrate_step(spec.dt_us)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(spec.input.shape)})}
    order = ["input"]
    shape: tuple[int, ...] = spec.input.shape
    for layer, out_shape in zip(spec.layers, spec.shapes(), strict=True):
        node, gain = _layer_node(model, layer, shape, out_shape)
        nodes[layer.name] = node
        order.append(layer.name)
        if layer.neuron is not None:
            key = f"{layer.name}_neuron"
            nodes[key] = _neuron_node(model, layer, out_shape, gain, h, g)
            order.append(key)
        shape = out_shape
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    order.append("output")
    edges = list(zip(order[:-1], order[1:], strict=True))
    meta = {META_KEY: spec.to_json(), CONVENTION_KEY: conv.name}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta,
                        type_check=True)
