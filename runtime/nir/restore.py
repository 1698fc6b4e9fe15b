"""Our own export, read back: the stored spec when the graph is exactly its export.

:func:`~.exporter.build_graph` writes the spikestream spec into the graph's metadata.
A NIR graph fixes what every neuron computes but not the order of float32 operations
or the stored membrane: a Lee et al. readout ``u = d (u + x)`` is exported as an LI
whose input gain ``d`` the importer folds into the weights (``d u + (d W) x``, within
one float32 rounding), and a ``decay_last`` hidden neuron fires identically but keeps
its membrane after the decay. So when the graph is, node for node, what exporting the
stored spec with the graph's own weights writes, the stored spec is used as is and the
round trip is bit-exact; any other graph (edited, foreign, another ``dt_us``) goes
through the node mapping of :mod:`.importer`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import nir
import numpy as np

from ..layers import Conv2dSpec, LinearSpec, grouped_weight
from ..model_file import Model
from ..spec import ModelSpec
from .errors import NIRError
from .graph import as_array


def _same_node(a: Any, b: Any) -> bool:
    """Same NIR type and parameters (float32 tolerance: a file stores float32 or 64)."""
    if type(a) is not type(b):
        return False
    da, db = a.to_dict(), b.to_dict()
    if da.keys() != db.keys():
        return False
    for k, va in da.items():
        vb = db[k]
        if isinstance(va, dict) or isinstance(vb, dict):
            continue  # input_type / output_type: checked through the shapes of the spec
        if isinstance(va, str | bytes) or isinstance(vb, str | bytes):
            if va != vb:
                return False
            continue
        if va is None or vb is None:
            if va is not vb:
                return False
            continue
        xa, xb = as_array(va), as_array(vb)
        if xa.shape != xb.shape and xa.size != xb.size:
            return False
        if not np.allclose(xa.ravel(), xb.ravel(), rtol=1e-6, atol=1e-12):
            return False
    return True


def _tensors(spec: ModelSpec, graph: nir.NIRGraph) -> dict[str, np.ndarray] | None:
    """The weights of ``spec``'s layers as the graph holds them, or None."""
    out: dict[str, np.ndarray] = {}
    for layer in spec.layers:
        if not isinstance(layer, Conv2dSpec | LinearSpec):
            continue
        node = graph.nodes.get(layer.name)
        if node is None or not hasattr(node, "weight"):
            return None
        # a grouped layer is exported block-diagonal (see the exporter)
        w = grouped_weight(layer, as_array(node.weight).astype(np.float32))
        if w is None:
            return None
        out[f"{layer.name}.weight"] = w
        if layer.bias:
            b = getattr(node, "bias", None)
            if b is None:
                return None
            out[f"{layer.name}.bias"] = as_array(b).astype(np.float32)
    return out


def restore(graph: nir.NIRGraph, stored: ModelSpec, source: str,
            provenance: dict[str, Any], convention: str) -> Model | None:
    """``stored`` with the graph's weights when ``graph`` is exactly its export in
    ``convention``, else None."""
    from .exporter import build_graph  # the exporter imports the importer's META_KEY

    tensors = _tensors(stored, graph)
    if tensors is None:
        return None
    try:
        model = Model.build(replace(stored, provenance=provenance), tensors, source)
        expected = build_graph(model, convention)
    except (NIRError, ValueError):
        return None
    if set(expected.nodes) != set(graph.nodes):
        return None
    if sorted(map(tuple, expected.edges)) != sorted((str(a), str(b)) for a, b in graph.edges):
        return None
    for key, node in expected.nodes.items():
        if key in ("input", "output"):
            continue
        if not _same_node(node, graph.nodes[key]):
            return None
    return model
