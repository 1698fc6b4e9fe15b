"""``LayerActivity``: what each hidden spiking layer did, as maps and firing rates.

The engine records each layer's output (``StepResult.record``, spikes of a spiking
layer) of the windows the worker asks it to record. :class:`ActivityMeter` sums them
between snapshots and keeps each
layer's firing rate (fraction of its neurons that fired in a window) over time; a
snapshot turns the sums into one image per layer: channels tiled in a grid
(:func:`tile`), a 1-D layer folded into a near-square block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..runtime.spec import ModelSpec
from .history import Ring


@dataclass(frozen=True)
class LayerActivity:
    """One hidden layer in a snapshot.

    Attributes:
        name: layer name.
        shape: the layer's output shape (without batch).
        image: ``(rows, cols)`` float32 firing rate per neuron in ``[0, 1]`` over the
            recorded windows since the previous snapshot (channels tiled, NaN in the
            gaps).
        rate_t_s, rate: ``(n,)`` stream time (s) and firing rate per recorded window
            (fraction of the layer's neurons), reduced to a few hundred points.
        mean_rate: firing rate over the recorded windows since the previous snapshot.
    """

    name: str
    shape: tuple[int, ...]
    image: np.ndarray
    rate_t_s: np.ndarray
    rate: np.ndarray
    mean_rate: float


def hidden_layers(spec: ModelSpec) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, output shape)`` of every spiking layer but the output layer."""
    out = []
    for layer, shape in zip(spec.layers[:-1], spec.shapes()[:-1], strict=True):
        neuron = getattr(layer, "neuron", None)
        if neuron is not None and neuron.spiking:
            out.append((layer.name, tuple(shape)))
    return out


def tile(a: np.ndarray, gap: int = 1) -> np.ndarray:
    """``(C, H, W)`` -> channels in a near-square grid ``(rows, cols)`` separated by
    NaN gaps; ``(N,)`` -> a near-square block padded with NaN."""
    a = np.asarray(a, np.float32)
    if a.ndim == 1:
        n = len(a)
        cols = max(1, math.ceil(math.sqrt(n)))
        rows = -(-n // cols)
        out = np.full(rows * cols, np.nan, np.float32)
        out[:n] = a
        return out.reshape(rows, cols)
    if a.ndim == 2:
        a = a[None]
    a = a.reshape(-1, a.shape[-2], a.shape[-1])
    c, h, w = a.shape
    gc = max(1, math.ceil(math.sqrt(c * h / w)))  # grid columns: keep it near square
    gr = -(-c // gc)
    out = np.full((gr * (h + gap) - gap, gc * (w + gap) - gap), np.nan, np.float32)
    for k in range(c):  # one slice per channel (tens), not per neuron
        r, q = divmod(k, gc)
        out[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = a[k]
    return out


class ActivityMeter:
    """Sums hidden-layer spikes between snapshots and keeps their rates over time.

    Args:
        layers: ``(name, shape)`` from :func:`hidden_layers`.
        capacity: rate samples kept per layer (one per window).
    """

    def __init__(self, layers: list[tuple[str, tuple[int, ...]]], capacity: int) -> None:
        self.layers = layers
        self.sums = {name: np.zeros(shape, np.float32) for name, shape in layers}
        self.rates = {name: Ring(capacity) for name, _ in layers}
        self.windows = 0

    def add(self, record: dict[str, np.ndarray] | None, t_s: float) -> None:
        """Take one window's ``record`` (layer name -> output array)."""
        if record is None:
            return
        for name, _ in self.layers:
            out = record[name]
            self.sums[name] += out
            self.rates[name].append(t_s, float(out.mean()))
        self.windows += 1

    def clear(self) -> None:
        for s in self.sums.values():
            s.fill(0.0)
        for r in self.rates.values():
            r.clear()
        self.windows = 0

    def take(self, points: int = 400, since_s: float | None = None) -> tuple[LayerActivity, ...]:
        """Each layer's activity since the previous call (then the sums restart)."""
        n = max(self.windows, 1)
        out = []
        for name, shape in self.layers:
            s = self.sums[name]
            t, r = self.rates[name].tail(points, "mean", since_s)
            out.append(LayerActivity(name, shape, _frozen(tile(s / n)), _frozen(t),
                                     _frozen(r), float(s.mean() / n)))
            s.fill(0.0)
        self.windows = 0
        return tuple(out)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
