"""The error of NIR import and export: a graph or a model that cannot cross over."""

from __future__ import annotations

import os

from ..errors import ModelError


class NIRError(ModelError):
    """A NIR graph (import) or a spikestream model (export) that cannot be translated.

    The message names the file, the node (or layer) and its type, and the problem:
    ``graph.nir: node 'lif1' (LIF): v_reset is 0.5; spikestream resets to 0``.

    Args:
        source: the ``.nir`` file, the model file, or ``"<graph>"`` / ``"<model>"``.
        node: the node key (import) or layer name (export); None for the whole graph.
        kind: the node's NIR type or the layer's type, for the message.
        problem: what cannot be expressed, and what to do about it where possible.
        what: ``"node"`` (import) or ``"layer"`` (export).
    """

    def __init__(self, source: str | os.PathLike[str], node: str | None, kind: str | None,
                 problem: str, what: str = "node") -> None:
        self.node = node
        self.kind = kind
        where = "" if node is None else (f"{what} {node!r} ({kind}): " if kind
                                         else f"{what} {node!r}: ")
        super().__init__(source, where + problem)
