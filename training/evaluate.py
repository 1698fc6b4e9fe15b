"""Evaluate a model file the way it runs live: through the runtime's Engine.

Each recording is cut into the model's ``dt_us`` windows by
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
from pathlib import Path

import numpy as np

from ..runtime.engine import Engine
from ..runtime.model_file import Model, load_model
from ..streams.events import EVENT_DTYPE
from ..streams.readers.nmnist import read_nmnist_folder
from ..streams.windowing import EventWindow, bin_events
from .data import stratified_split
from .data_nmnist import is_nmnist_folder, read_events

SPLITS = ("all", "val", "train")


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


def recordings(root: str | os.PathLike[str], model: Model, split: str = "all",
               limit: int | None = None) -> list[tuple[Path, int]]:
    """The labelled recordings of a data folder, optionally only the part of the
    training split (``"val"``/``"train"``) recorded in the model's provenance."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not is_nmnist_folder(root):
        raise ValueError(f"{root}: not a data folder (expected <label>/<id>.bin files and "
                         "labels.csv, laid out like N-MNIST)")
    items = read_nmnist_folder(root)
    if split == "all":
        return items[:limit] if limit is not None else items
    d = model.spec.provenance.get("data", {})
    if "split_seed" not in d or "val_fraction" not in d:
        raise ValueError(f"{model.source}: provenance records no training split; use "
                         "--split all")
    if d.get("limit") is not None:
        items = items[:d["limit"]]
    tr, va = stratified_split(np.array([lb for _, lb in items]), d["val_fraction"],
                              d["split_seed"])
    chosen = [items[i] for i in (va if split == "val" else tr)]
    return chosen[:limit] if limit is not None else chosen


def _windows(events: np.ndarray, dt_us: int, n_steps: int) -> list[EventWindow]:
    return bin_events(events, dt_us, t0_us=None if len(events) else 0, n_windows=n_steps)


def evaluate_engine(model: Model, items: Sequence[tuple[Path, int]], n_steps: int,
                    backend: str = "torch", batch: int = 32) -> EvalResult:
    """Run every recording of ``items`` through an :class:`Engine` (see the module
    docstring)."""
    spec = model.spec
    n = len(spec.classes)
    confusion = np.zeros((n, n), np.int64)
    engine = Engine(model, backend=backend, batch=batch)
    empty = bin_events(np.zeros(0, EVENT_DTYPE), spec.dt_us, t0_us=0, n_windows=n_steps)
    for start in range(0, len(items), batch):
        part = items[start:start + batch]
        streams = [_windows(read_events(p), spec.dt_us, n_steps) for p, _ in part]
        streams += [empty] * (batch - len(part))
        engine.reset()
        scores = np.zeros((batch, n), np.float64)
        for k in range(n_steps):
            for b, r in enumerate(engine.step_batch([s[k] for s in streams])):
                scores[b] += r.scores
        for b, (_, label) in enumerate(part):
            confusion[label, int(np.argmax(scores[b]))] += 1
    total = int(confusion.sum())
    return EvalResult(float(np.trace(confusion)) / total if total else 0.0, total, confusion,
                      spec.classes)


def evaluate_file(path: str | os.PathLike[str], data: str | os.PathLike[str],
                  split: str = "all", backend: str = "torch", limit: int | None = None,
                  n_steps: int | None = None, batch: int = 32) -> EvalResult:
    """Load a model file and evaluate it on a data folder (see :func:`recordings`)."""
    model = load_model(path)
    items = recordings(data, model, split, limit)
    if not items:
        raise ValueError(f"{data}: no recordings to evaluate")
    return evaluate_engine(model, items, model_steps(model, n_steps), backend,
                           min(batch, len(items)))


def format_confusion(result: EvalResult) -> str:
    """Text confusion matrix with class names (rows: true, columns: decided)."""
    names = [c[:6] for c in result.classes]
    w = max(5, *(len(c) for c in names), len(str(int(result.confusion.max(initial=0)))))
    head = " " * (w + 2) + " ".join(f"{c:>{w}}" for c in names)
    rows = [f"{names[i]:>{w}}  " + " ".join(f"{v:>{w}}" for v in row)
            for i, row in enumerate(result.confusion.tolist())]
    return "\n".join([head, *rows])
