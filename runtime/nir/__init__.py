"""NIR interop: bring a network from snnTorch, Norse, ... and take ours out.

The Neuromorphic Intermediate Representation (Pedersen et al., Nat. Commun. 2024; the
``nir`` package) is how SNN frameworks exchange networks. :func:`import_nir` turns a
NIR graph (a ``.nir`` file or a ``nir.NIRGraph``) into a spikestream
:class:`~..model_file.Model`; :func:`export_nir` does the reverse. The node mapping is
in :mod:`.importer` and :mod:`.exporter`, the time discretisation (which differs
between exporters) in :mod:`.discretise`. Whatever cannot be expressed is refused
with a :class:`NIRError` naming the node or layer.

Example::

    from spikestream.runtime.nir import import_nir
    from spikestream.runtime import InputSpec, save_model

    model = import_nir("net.nir", dt_us=1000, convention="snntorch",
                       input=InputSpec((128, 128, 2), downsample=(4, 4)))
    save_model("net.safetensors", model.spec, model.tensors)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nir
import numpy as np

from ..model_file import Model, load_model
from ..spec import InputSpec, ModelSpec, ReadoutSpec
from .discretise import CONVENTIONS, Convention
from .discretise import convention as get_convention
from .errors import NIRError
from .exporter import EXPORT_CONVENTIONS, build_graph
from .graph import chain, read_graph
from .importer import CONVENTION_KEY, META_KEY, build_model, metadata_text, spec_metadata
from .restore import restore

__all__ = [
    "CONVENTIONS",
    "EXPORT_CONVENTIONS",
    "META_KEY",
    "Convention",
    "NIRError",
    "chain",
    "detect_convention",
    "export_nir",
    "import_nir",
    "read_graph",
]


def detect_convention(graph: nir.NIRGraph) -> str:
    """``"snntorch"`` when every LIF/CubaLIF node has snnTorch's signature
    ``r = tau / 1e-4`` (its ``export_nir`` writes exactly that, and nothing else does
    by chance; SpikingJelly's ``decay_input=False`` LIF shares it, give
    ``"spikingjelly"`` for those), else ``"nir"``. spikestream's own export says which
    it wrote."""
    ours = metadata_text(graph, CONVENTION_KEY)
    if ours in CONVENTIONS:
        return ours
    if spec_metadata(graph) is not None:
        return "nir"
    found = False
    for node in graph.nodes.values():
        tau = getattr(node, "tau", None) if isinstance(node, nir.LIF) else (
            getattr(node, "tau_mem", None) if isinstance(node, nir.CubaLIF) else None)
        if tau is None:
            continue
        r = getattr(node, "r", None)
        if r is None:
            return "nir"
        ratio = np.asarray(r, np.float64) * 1e-4 / np.asarray(tau, np.float64)
        if not np.allclose(ratio, 1.0, rtol=1e-5, atol=0) or np.allclose(r, 1.0):
            return "nir"
        found = True
    return "snntorch" if found else "nir"


def import_nir(graph: nir.NIRGraph | str | os.PathLike[str], *, dt_us: int | None = None,
               convention: str = "auto", nir_dt_s: float | None = None,
               input: InputSpec | None = None, classes: tuple[str, ...] | None = None,
               name: str | None = None) -> Model:
    """A spikestream model from a NIR graph.

    Args:
        graph: a ``.nir`` file or a ``nir.NIRGraph`` (e.g. from snnTorch's
            ``export_to_nir`` or Norse's ``to_nir``).
        dt_us: the model's step (the event window) in µs; default: what our export
            stored in the graph, else 1000.
        convention: how the graph's time constants are discretised: ``"nir"``,
            ``"snntorch"``, ``"norse"``, ``"spikingjelly"`` or ``"auto"`` (what our own
            export recorded, else snnTorch's signature, else ``"nir"``); see
            :mod:`.discretise`.
        nir_dt_s: the exporter's time step in seconds, when not the convention's
            default (``"nir"``: ``dt_us * 1e-6``; snnTorch and SpikingJelly 1e-4;
            Norse's ``to_nir`` dt 1e-3).
        input: how events become the graph's input frame; default: what our export
            stored, else a ``(2 or 1, H, W)`` input is a ``W x H`` sensor with polarity
            split or merged. Required for a flat input.
        classes: class names (default: stored, else ``class0``...).
        name: model name (default: stored, else the file name).

    Raises:
        NIRError: a node or parameter spikestream cannot express, naming the node.

    A graph that is exactly what :func:`export_nir` wrote (same weights, time constants
    and ``dt_us``) comes back as the stored spec, bit-exact (see :mod:`.restore`).
    """
    source = "<graph>"
    if not isinstance(graph, nir.NIRGraph):
        source = str(graph)
        graph = read_graph(graph)
    meta = spec_metadata(graph)
    stored: ModelSpec | None = None
    if meta is not None:
        try:
            stored = ModelSpec.from_dict(meta)
        except ValueError:
            stored = None  # a stale or foreign spec: fall back to the defaults
    if dt_us is None:
        dt_us = stored.dt_us if stored else 1000
    if isinstance(dt_us, bool) or not isinstance(dt_us, int) or dt_us < 1:
        raise ValueError(f"dt_us: expected a positive int, got {dt_us!r}")
    conv_name = detect_convention(graph) if convention == "auto" else convention
    conv: Convention = get_convention(conv_name)
    if name is None:
        name = stored.name if stored else (Path(source).stem if source != "<graph>"
                                           else "nir-import")
    if stored is not None and dt_us == stored.dt_us and input in (None, stored.input) \
            and classes in (None, stored.classes) and name == stored.name \
            and nir_dt_s is None and conv.name == (
                metadata_text(graph, CONVENTION_KEY) or "nir"):
        prov = dict(stored.provenance)
        prov["nir_import"] = {
            "file": None if source == "<graph>" else os.path.basename(source),
            "convention": conv.name, "step": conv.leak_step(dt_us), "restored": True,
            "nir_version": getattr(nir, "__version__", "?"),
        }
        model = restore(graph, stored, source, prov, conv.name)
        if model is not None:
            return model
    if input is None and stored is not None:
        input = stored.input
    if classes is None and stored is not None:
        classes = stored.classes
    readout: ReadoutSpec | None = stored.readout if stored else None
    provenance: dict[str, Any] = dict(stored.provenance) if stored else {}
    provenance["nir_import"] = {
        "file": None if source == "<graph>" else os.path.basename(source),
        "convention": conv.name, "step": conv.leak_step(dt_us, nir_dt_s),
        "nir_version": getattr(nir, "__version__", "?"),
    }
    return build_model(graph, source=source, conv=conv, dt_us=dt_us, nir_dt_s=nir_dt_s,
                       input=input, classes=classes, name=name, readout=readout,
                       provenance=provenance)


def export_nir(model: Model | str | os.PathLike[str],
               path: str | os.PathLike[str] | None = None, *,
               convention: str = "nir") -> nir.NIRGraph:
    """The NIR graph of a spikestream model (written to ``path`` if given).

    Args:
        model: a model or a model file.
        path: the ``.nir`` file to write (None: only return the graph).
        convention: ``"nir"``: time constants in seconds with ``h = dt_us * 1e-6``
            (NIR's own meaning; Norse reads it with its own step, see
            :mod:`.discretise`); ``"snntorch"``: ``h = 1e-4``, which snnTorch's
            ``import_from_nir`` reads back as ``Leaky(beta=decay)``.

    Raises:
        NIRError: a layer or neuron NIR cannot express (subtractive reset, TSSL-BP
            trace, fire-once, ...), naming the layer; nothing is written then.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    graph = build_graph(model, convention)
    if path is not None:
        nir.write(Path(path), graph)
    return graph
