"""``spikestream export-nir MODEL --out GRAPH.nir``: take a spikestream model to NIR.

Writes the model as a NIR graph (time constants in seconds, ``h = dt_us * 1e-6``, or in
snnTorch's ``h = 1e-4`` with ``--convention snntorch``; see
:mod:`spikestream.runtime.nir.exporter`) for snnTorch, Norse, Sinabs, Lava-DL,
SpiNNaker2... A neuron NIR cannot express (subtractive reset, the TSSL-BP output trace,
fire-once, ...) is refused with a message naming the layer, and nothing is written.
"""

from __future__ import annotations

import argparse
import sys

from ..models import available
from ..models import resolve as resolve_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-nir", help="write a spikestream model as a NIR graph")
    p.add_argument("model", type=resolve_model,
                   help="model file (.safetensors) or a shipped model's name "
                        f"({', '.join(available()) or 'none shipped'})")
    p.add_argument("--out", "-o", required=True, help="NIR file to write (.nir)")
    p.add_argument("--convention", default="nir", choices=["nir", "snntorch"],
                   help="time constants in NIR's seconds with h = dt_us * 1e-6 (nir, "
                        "default), or with snnTorch's fixed h = 1e-4 so that snnTorch's "
                        "import_from_nir gives Leaky(beta=decay) (snntorch)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime.nir import export_nir

    graph = export_nir(args.model, args.out, convention=args.convention)
    kinds = [type(n).__name__ for k, n in graph.nodes.items() if k not in ("input", "output")]
    sys.stdout.write(f"{args.model} -> {args.out}: {len(kinds)} nodes "
                     f"({' -> '.join(kinds)})\n")
    return 0
