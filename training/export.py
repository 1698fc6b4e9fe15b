"""Export a trained network to the model file the runtime reads.

The file is written by the runtime's own
:func:`~spikestream.runtime.model_file.save_model` (one ``.safetensors``, JSON spec
in its metadata, never a pickle). Its spec's ``provenance`` says how it was made:
the rule and its settings and paper, the data (folder, split, ``T``, ``dt_us``),
the training settings and time, and the validation accuracy. ``n_steps`` (the
``T`` a sample was binned to) is what ``spikestream eval`` bins test data to.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..runtime.model_file import Model, save_model
from .network import SpikingNet


def tensors_of(net: SpikingNet) -> dict[str, torch.Tensor]:
    """The network's weights by runtime name, detached float32 on the CPU."""
    return {k: v.detach().to("cpu", torch.float32).clone() for k, v in net.weights().items()}


def to_model(net: SpikingNet, provenance: dict[str, Any] | None = None,
             name: str | None = None) -> Model:
    """The in-memory :class:`Model` of ``net`` (what :func:`export_model` writes)."""
    spec = net.spec
    if provenance is not None:
        spec = dataclasses.replace(spec, provenance=provenance)
    if name is not None:
        spec = dataclasses.replace(spec, name=name)
    return Model.build(spec, tensors_of(net))


def export_model(path: str | os.PathLike[str], net: SpikingNet,
                 provenance: dict[str, Any] | None = None, name: str | None = None) -> Path:
    """Write ``net`` with ``provenance`` to ``path`` (see the module docstring)."""
    model = to_model(net, provenance, name)
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True)
    return save_model(path, model.spec, model.tensors)


def make_provenance(
    *,
    rule: Any,
    data: dict[str, Any],
    training: dict[str, Any],
    validation_accuracy: float | None,
    n_steps: int,
) -> dict[str, Any]:
    """The provenance record of a trained model.

    Args:
        rule: the :class:`~.rules.Rule` (its name, paper and settings are recorded).
        data: what it was trained on (source folder, split, counts).
        training: loop settings and results (epochs, seconds, seed...).
        validation_accuracy: on the held-out samples, in ``[0, 1]`` (None: none held out).
        n_steps: ``T``, steps per sample.
    """
    return {
        "rule": rule.name,
        "paper": rule.paper,
        "rule_settings": rule.settings(),
        "n_steps": int(n_steps),
        "data": data,
        "training": training,
        "validation_accuracy": validation_accuracy,
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spikestream": __version__,
        "torch": torch.__version__,
    }
