"""``spikestream eval --model M --data D [--json]``: accuracy and confusion of a model file.

Runs every labelled sample of ``D`` (a dataset in any layout spikestream knows: an
N-MNIST folder, tonic's N-MNIST or DVS Gesture, DVS Gesture recordings with
``_labels.csv``, ...) through the runtime's Engine with the chosen backend, for the
model's ``T`` steps of its ``dt_us``, and prints the accuracy and the confusion
matrix (rows: true class, columns: decided class). ``--split test`` evaluates only
the model's untouched test part, ``--split val`` its validation part, ``--split
train`` its training part (the split recorded in its provenance). ``--json`` prints
``{"accuracy": ..., "n": ..., "confusion": [[...]]}``; ``--png FILE`` also draws the
confusion matrix.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..models import resolve as resolve_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy and confusion matrix of a model file",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--model", required=True, type=resolve_model,
                   help="model file (.safetensors) or a shipped model's name")
    p.add_argument("--data", required=True,
                   help="labelled dataset (any layout spikestream knows)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--split", default="all", choices=("all", "test", "val", "train"),
                   help="all samples, or the test/validation/training part of the model's "
                        "split")
    p.add_argument("--backend", default="torch", help="runtime backend (torch, numba)")
    p.add_argument("--limit", type=int, help="evaluate only the first N recordings")
    p.add_argument("--steps", type=int, help="steps per sample (default: the model's T)")
    p.add_argument("--batch", type=int, default=32, help="recordings stepped together")
    p.add_argument("--png", help="also write the confusion matrix as a PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training.evaluate import evaluate_file, format_confusion

    try:
        result = evaluate_file(args.model, args.data, split=args.split, backend=args.backend,
                               limit=args.limit, n_steps=args.steps, batch=args.batch)
    except ValueError as e:
        print(f"spikestream eval: error: {e}", file=sys.stderr)
        return 2
    if args.png:
        _png(result, args.png)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    print(f"{args.model} on {args.data} ({args.split}): accuracy "
          f"{100 * result.accuracy:.2f}% of {result.n}")
    print(format_confusion(result))
    return 0


def _png(result, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.classes)
    fig, ax = plt.subplots(figsize=(1 + 0.5 * n, 1 + 0.5 * n))
    ax.imshow(result.confusion, cmap="Blues")
    ax.set_xticks(range(n), result.classes)
    ax.set_yticks(range(n), result.classes)
    ax.set_xlabel("decided")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(result.confusion[i, j]), ha="center", va="center", fontsize=8)
    ax.set_title(f"accuracy {100 * result.accuracy:.1f}% (n={result.n})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
