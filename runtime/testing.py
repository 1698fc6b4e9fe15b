"""Random models of every neuron kind, for the tests of every backend.

Weights are rounded to a grid of ``2**-grid_bits`` (default 2^-12): with integer
input counts every partial sum is then exact in float32, so a dense and an
event-driven backend agree on every spike and potential (see
../shared/BENCHMARKING.md). ``grid_bits=None`` keeps the raw weights (for the test
that allows float tolerance).

Every kind uses the same shape of network, ``(2, 32, 32)`` from a DVS128 sensor
downsampled by 4 by default::

    conv1 3x3 pad 1 + neuron -> pool1 2x2 -> conv2 3x3 pad 1 + neuron -> pool2 2x2
    -> flatten -> fc + output neuron

with the rule's neurons and readout: ``stbp`` (count readout, conv2 with bias),
``tssl`` (PSP trace outputs, sum pooling), ``bpsta`` (input ReLU, ``>=``, max
pooling, voting readout with 4 votes per class), ``lee`` (IF pooling neurons,
non-spiking membrane readout), ``relpsp`` (fire-once, non-decaying current,
first-spike readout reset every 100 steps), ``lif`` (the benchmark's subtractive
LIF, count readout).
"""

from __future__ import annotations

import numpy as np

from .layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec
from .model_file import Model
from .neurons import NeuronParams, rule_neuron
from .spec import InputSpec, ModelSpec, ReadoutSpec

KINDS = ("stbp", "tssl", "bpsta", "lee", "relpsp", "lif")
"""Neuron kinds :func:`random_model` builds."""

# Weight std per input of the first and later layers, chosen so that on busy DVS128
# recordings with 1 ms windows hidden layers fire a few percent of steps.
_GAIN = {"stbp": 0.5, "tssl": 0.35, "bpsta": 0.35, "lee": 0.35, "relpsp": 0.1, "lif": 0.5}


def _round(w: np.ndarray, grid_bits: int | None) -> np.ndarray:
    if grid_bits is None:
        return w.astype(np.float32)
    g = float(2**grid_bits)
    return (np.round(w * g) / g).astype(np.float32)


def random_spec(
    kind: str,
    *,
    sensor_size: tuple[int, int, int] = (128, 128, 2),
    downsample: tuple[int, int] = (4, 4),
    crop: tuple[int, int, int, int] | None = None,
    channels: tuple[int, int] = (8, 16),
    n_classes: int = 11,
    dt_us: int = 1000,
    mode: str = "count",
    groups: int = 1,
) -> ModelSpec:
    """The spec of :func:`random_model` (see the module docstring); ``groups``: of
    ``conv2`` and ``fc``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    inp = InputSpec(sensor_size=sensor_size, crop=crop, downsample=downsample,
                    polarity="split", mode=mode)  # type: ignore[arg-type]
    c, h, w = inp.shape
    c1, c2 = channels
    hidden = rule_neuron("lif" if kind == "lif" else ("lee" if kind == "lee" else kind))
    pool_neuron: NeuronParams | None = rule_neuron("lee_pool") if kind == "lee" else None
    pool_op = "max" if kind == "bpsta" else "avg"
    pool_scale = 4.0 if kind == "tssl" else 1.0
    votes = 4 if kind == "bpsta" else 1
    out_neuron = rule_neuron("lee_readout") if kind == "lee" else hidden
    readout = {
        "stbp": ReadoutSpec(kind="count"),
        "tssl": ReadoutSpec(kind="count"),
        "bpsta": ReadoutSpec(kind="voting", votes_per_class=votes),
        "lee": ReadoutSpec(kind="membrane"),
        "relpsp": ReadoutSpec(kind="first_spike", state_policy="reset_every",
                              reset_every_steps=100),
        "lif": ReadoutSpec(kind="count"),
    }[kind]
    h2, w2 = h // 2 // 2, w // 2 // 2
    layers = (
        Conv2dSpec("conv1", c, c1, (3, 3), (1, 1), (1, 1), neuron=hidden),
        Pool2dSpec("pool1", pool_op, (2, 2), (2, 2), pool_scale, pool_neuron),  # type: ignore[arg-type]
        Conv2dSpec("conv2", c1, c2, (3, 3), (1, 1), (1, 1), bias=kind == "stbp",
                   neuron=hidden, groups=groups),
        Pool2dSpec("pool2", pool_op, (2, 2), (2, 2), pool_scale, pool_neuron),  # type: ignore[arg-type]
        FlattenSpec("flat"),
        LinearSpec("fc", c2 * h2 * w2, n_classes * votes, neuron=out_neuron, groups=groups),
    )
    return ModelSpec(
        name=f"random-{kind}", input=inp, dt_us=dt_us, layers=layers,
        classes=tuple(f"class{k}" for k in range(n_classes)), readout=readout,
        provenance={"rule": kind, "data": "random weights (spikestream.runtime.testing)"},
    )


def random_model(kind: str, *, seed: int = 0, grid_bits: int | None = 12,
                 gain: float | None = None, **spec_kwargs) -> Model:
    """A model of neuron ``kind`` (one of :data:`KINDS`) with random weights.

    Args:
        kind: the neuron kind.
        seed: weights' random seed.
        grid_bits: round weights to multiples of ``2**-grid_bits`` (None: don't).
        gain: weight std scale (default: tuned per kind for a few percent activity).
        spec_kwargs: passed to :func:`random_spec`.
    """
    spec = random_spec(kind, **spec_kwargs)
    rng = np.random.default_rng(seed)
    g = _GAIN[kind] if gain is None else gain
    tensors: dict[str, np.ndarray] = {}
    for name, shape in spec.tensor_shapes().items():
        if name.endswith(".bias"):
            w = rng.normal(0.0, 0.05, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            mean = 0.2 * g if name.startswith("conv1") else 0.0
            w = rng.normal(mean, g * np.sqrt(9.0 / fan_in), shape)
        tensors[name] = _round(w, grid_bits)
    return Model.build(spec, tensors)
