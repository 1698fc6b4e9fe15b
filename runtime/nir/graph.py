"""Reading a NIR graph and ordering it into the chain of nodes spikestream can run.

spikestream runs a feed-forward chain ``Input -> node -> ... -> Output``. Anything else
is refused here with the node named: a recurrent edge (a cycle, e.g. snnTorch's
``RLeaky``), a subgraph node, a branch or a merge, several inputs or outputs, or a node
the input does not reach.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nir
import numpy as np

from .errors import NIRError


def read_graph(path: str | os.PathLike[str]) -> nir.NIRGraph:
    """Read a ``.nir`` file without NIR's type check (some exporters write an ``Input``
    with a batch dimension that the check rejects; :func:`chain` checks shapes itself).

    Raises:
        NIRError: missing file, not HDF5/NIR, or a node NIR itself cannot build.
    """
    path = Path(path)
    if not path.is_file():
        raise NIRError(path, None, None, "no such NIR file")
    try:
        graph = nir.read(path, type_check=False)
    except Exception as e:  # h5py and nir raise many types; name the file
        raise NIRError(path, None, None, f"not a readable NIR graph "
                                         f"({type(e).__name__}: {e})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(path, None, None, f"holds a single {type(graph).__name__} node, "
                                         "not a NIRGraph")
    return graph


def as_array(v: Any) -> np.ndarray:
    """A parameter (numpy, torch tensor, number, list) as a float64 numpy array."""
    if hasattr(v, "detach"):  # a torch tensor, without importing torch
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def _back_edge(succ: dict[str, list[str]]) -> tuple[str, str] | None:
    """An edge closing a cycle, or None (iterative DFS)."""
    state: dict[str, int] = {}
    for root in succ:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return node, nxt
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return None


def chain(graph: nir.NIRGraph, source: str = "<graph>"
          ) -> tuple[tuple[str, nir.Input], list[tuple[str, Any]], str]:
    """Order ``graph`` into ``((input_key, Input), [(key, node), ...], output_key)``.

    Raises:
        NIRError: naming the node, for every structure spikestream cannot run.
    """
    nodes: dict[str, Any] = dict(graph.nodes)
    if not nodes:
        raise NIRError(source, None, None, "the graph has no nodes")
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for edge in dict.fromkeys((str(a), str(b)) for a, b in graph.edges):
        for end in edge:
            if end not in nodes:
                raise NIRError(source, end, None, f"edge {edge[0]!r} -> {edge[1]!r} names "
                                                  "a node the graph does not have")
        succ[edge[0]].append(edge[1])
        pred[edge[1]].append(edge[0])
    for key, node in nodes.items():
        if node is None:
            raise NIRError(source, key, None, "the exporter wrote no NIR node for it (Norse "
                           "1.1's to_nir leaves every torch module it cannot map, e.g. "
                           "AvgPool2d and Flatten, as None)")
        if isinstance(node, nir.NIRGraph):
            raise NIRError(source, key, "NIRGraph", "a subgraph node (snnTorch writes its "
                           "recurrent RLeaky/RSynaptic this way); spikestream runs "
                           "feed-forward chains only, recurrent layers are not supported")
    back = _back_edge(succ)
    if back is not None:
        a, b = back
        raise NIRError(source, b, type(nodes[b]).__name__,
                       f"recurrent edge {a!r} -> {b!r}: spikestream runs feed-forward "
                       "chains only, recurrent connections are not supported")
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1:
        raise NIRError(source, None, None, f"the graph has {len(inputs)} Input nodes "
                       f"{inputs}; spikestream needs exactly one (the event frame)")
    if len(outputs) != 1:
        raise NIRError(source, None, None, f"the graph has {len(outputs)} Output nodes "
                       f"{outputs}; spikestream needs exactly one (the class neurons)")
    order: list[tuple[str, Any]] = []
    key = inputs[0]
    seen = {key}
    while True:
        if pred[key] and len(pred[key]) > 1:
            raise NIRError(source, key, type(nodes[key]).__name__,
                           f"has {len(pred[key])} inputs {pred[key]}; spikestream runs a "
                           "chain of layers (no merges)")
        nxt = succ[key]
        if key == outputs[0]:
            if nxt:
                raise NIRError(source, key, "Output", f"the Output node feeds {nxt}")
            break
        if len(nxt) != 1:
            what = "feeds nothing" if not nxt else f"branches to {nxt}"
            raise NIRError(source, key, type(nodes[key]).__name__,
                           f"{what}; spikestream runs a chain of layers from the Input "
                           "to the Output")
        key = nxt[0]
        seen.add(key)
        if key != outputs[0]:
            order.append((key, nodes[key]))
    lost = [k for k in nodes if k not in seen]
    if lost:
        raise NIRError(source, lost[0], type(nodes[lost[0]]).__name__,
                       "is not on the path from the Input to the Output")
    return (inputs[0], nodes[inputs[0]]), order, outputs[0]
