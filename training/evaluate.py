"""Evaluate a model file the way it runs live: through the runtime's Engine.

Each sample of a labelled :class:`~.datasets.Dataset` (any registered layout) is
cut into the model's ``dt_us`` windows by
:func:`~spikestream.streams.windowing.bin_events` (the streaming grid), and the
:class:`~spikestream.runtime.engine.Engine` steps a batch of recordings ``T`` times
from the zero state (``T`` = the model's ``provenance["n_steps"]``) with the chosen
backend; a recording's decision is the argmax of its class scores
(``StepResult.scores``) summed over the steps. This is the true test of an
exported file: it uses nothing of ``training`` but the data loading.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..runtime.engine import Engine
from ..runtime.model_file import Model, load_model
from ..streams.errors import FormatError
from ..streams.events import EVENT_DTYPE
from ..streams.windowing import EventWindow, bin_events
from .data import split_indices
from .datasets import Dataset, open_dataset

SPLITS = ("all", "val", "train", "test")
"""``--split`` choices: every sample, or a part of the model's recorded split."""


@dataclass
class EvalResult:
    """Accuracy and confusion (rows: true class, columns: decided class)."""

    accuracy: float
    n: int
    confusion: np.ndarray
    classes: tuple[str, ...]

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "n": self.n,
                "confusion": self.confusion.tolist()}


def model_steps(model: Model, n_steps: int | None = None) -> int:
    """``T`` to run a sample for: ``n_steps`` or the model's ``provenance["n_steps"]``."""
    if n_steps is not None:
        return n_steps
    t = model.spec.provenance.get("n_steps")
    if not isinstance(t, int) or t < 1:
        raise ValueError(f"{model.source}: provenance has no n_steps; pass the number of "
                         "steps per sample")
    return t


def split_of(dataset: Dataset, model: Model, split: str = "all",
             limit: int | None = None) -> np.ndarray:
    """Indices into ``dataset`` of the samples to evaluate: all of them, or one part
    (``"train"``/``"val"``/``"test"``) of the split recorded in the model's
    provenance (:func:`~.data.split_indices` of its ``split_seed``, ``val_fraction``,
    ``test_fraction`` (0 when absent: models made before the test part) and
    ``limit``); then the first ``limit`` of those."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if split == "all":
        idx = np.arange(len(dataset))
    else:
        d = model.spec.provenance.get("data", {})
        if "split_seed" not in d or "val_fraction" not in d:
            raise ValueError(f"{model.source}: provenance records no training split; use "
                             "--split all")
        n = len(dataset) if d.get("limit") is None else min(len(dataset), int(d["limit"]))
        parts = split_indices(dataset.labels[:n], float(d["val_fraction"]),
                              float(d.get("test_fraction", 0.0)), int(d["split_seed"]))
        idx = parts[("train", "val", "test").index(split)]
        if split == "test" and not len(idx) and not d.get("test_fraction"):
            raise ValueError(f"{model.source}: its training held out no test part "
                             "(provenance has no test_fraction); use --split val")
    return idx[:limit] if limit is not None else idx


def _windows(events: np.ndarray, t0_us: int | None, dt_us: int, n_steps: int
             ) -> list[EventWindow]:
    if t0_us is None and not len(events):
        t0_us = 0
    return bin_events(events, dt_us, t0_us=t0_us, n_windows=n_steps)


def evaluate_engine(model: Model, dataset: Dataset, indices: Sequence[int] | np.ndarray,
                    n_steps: int, backend: str = "torch", batch: int = 32) -> EvalResult:
    """Run the samples ``indices`` of ``dataset`` through an :class:`Engine` (see the
    module docstring); a segment sample's grid starts at its ``t_start_us``."""
    spec = model.spec
    w, h = spec.input.sensor_size[:2]
    if tuple(dataset.sensor_size[:2]) != (w, h):
        dw, dh = dataset.sensor_size[:2]
        raise FormatError(dataset.root, f"{dataset.layout} recordings are {dw}x{dh}, but "
                                        f"{model.source} expects {w}x{h}")
    n = len(spec.classes)
    confusion = np.zeros((n, n), np.int64)
    engine = Engine(model, backend=backend, batch=batch)
    empty = bin_events(np.zeros(0, EVENT_DTYPE), spec.dt_us, t0_us=0, n_windows=n_steps)
    indices = [int(i) for i in indices]
    for start in range(0, len(indices), batch):
        part = indices[start:start + batch]
        streams, labels = [], []
        for s, ev in dataset.iter_events(part):
            streams.append(_windows(ev, s.t_start_us, spec.dt_us, n_steps))
            labels.append(s.label)
        streams += [empty] * (batch - len(part))
        engine.reset()
        scores = np.zeros((batch, n), np.float64)
        for k in range(n_steps):
            for b, r in enumerate(engine.step_batch([s[k] for s in streams])):
                scores[b] += r.scores
        for b, label in enumerate(labels):
            confusion[label, int(np.argmax(scores[b]))] += 1
    total = int(confusion.sum())
    return EvalResult(float(np.trace(confusion)) / total if total else 0.0, total, confusion,
                      spec.classes)


def evaluate_file(path: str | os.PathLike[str], data: str | os.PathLike[str],
                  split: str = "all", backend: str = "torch", limit: int | None = None,
                  n_steps: int | None = None, batch: int = 32) -> EvalResult:
    """Load a model file and evaluate it on a labelled dataset in any registered
    layout (:func:`~.datasets.open_dataset`; the part chosen by :func:`split_of`)."""
    model = load_model(path)
    dataset = open_dataset(data)
    idx = split_of(dataset, model, split, limit)
    if not len(idx):
        raise ValueError(f"{data}: no recordings to evaluate")
    return evaluate_engine(model, dataset, idx, model_steps(model, n_steps), backend,
                           min(batch, len(idx)))


def format_confusion(result: EvalResult) -> str:
    """Text confusion matrix with class names (rows: true, columns: decided)."""
    names = [c[:6] for c in result.classes]
    w = max(5, *(len(c) for c in names), len(str(int(result.confusion.max(initial=0)))))
    head = " " * (w + 2) + " ".join(f"{c:>{w}}" for c in names)
    rows = [f"{names[i]:>{w}}  " + " ".join(f"{v:>{w}}" for v in row)
            for i, row in enumerate(result.confusion.tolist())]
    return "\n".join([head, *rows])
