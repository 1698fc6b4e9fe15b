"""``spikestream train --rule R --data D``: train a network and export its model file.

Loads a labelled data folder (laid out like N-MNIST: ``<label>/<id>.bin`` and
``labels.csv``), bins every recording to ``--steps`` windows of ``--dt-ms`` through
the runtime's windowing and input stage, holds out ``--val-fraction`` of each class
(by ``--seed``), trains with the rule, validates each epoch, checkpoints beside the
output (``--resume`` continues from it), stops early after ``--patience`` epochs
without progress, prints a summary table, and writes the best epoch's weights with
their provenance to ``--out``.
"""

from __future__ import annotations

import argparse
import sys

from ..streams.errors import SpikestreamError


def register(sub: argparse._SubParsersAction) -> None:
    from ..training.rules import rule_names

    p = sub.add_parser("train", help="train a spiking network with one of the learning rules",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--rule", required=True, choices=rule_names(), help="learning rule")
    p.add_argument("--data", required=True, help="labelled data folder (N-MNIST layout)")
    p.add_argument("--out", default="model.safetensors", help="model file to write")
    p.add_argument("--epochs", type=int, default=20, help="maximum epochs (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, split, shuffles")
    p.add_argument("--steps", type=int, default=16, help="T, steps per sample (default 16)")
    p.add_argument("--dt-ms", type=float, default=20.0, help="step length, ms (default 20)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="held-out fraction of each class (default 0.2)")
    p.add_argument("--patience", type=int, default=10,
                   help="early stopping: epochs without a better validation accuracy")
    p.add_argument("--jitter", type=int, default=0, help="spatial jitter, pixels (default 0)")
    p.add_argument("--channels", default="12,32", help="conv channels, e.g. 12,32")
    p.add_argument("--kernel", type=int, default=5, help="conv kernel size (default 5)")
    p.add_argument("--padding", type=int, default=1, help="conv padding (default 1)")
    p.add_argument("--downsample", type=int, default=1, help="input downsampling factor")
    p.add_argument("--binary", action="store_true", help="binary input (else event counts)")
    p.add_argument("--limit", type=int, help="use only the first N recordings")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="rule setting, e.g. surrogate=gaussian, loss_name=ce, lr=0.002")
    p.add_argument("--lr", type=float, help="learning rate (default: the rule's)")
    p.add_argument("--checkpoint", help="checkpoint file (default: --out with .ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--max-minutes", type=float, help="stop after the epoch past this budget")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--name", help="model name (default: <data folder>-<rule>)")
    p.add_argument("--no-card", action="store_true",
                   help="do not write the model card (<out> with .md) beside the model")
    p.set_defaults(func=run)


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"spikestream train: --set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..runtime.spec import InputSpec
    from ..training.data import Binning, stratified_split
    from ..training.data_nmnist import NMNIST_INPUT, is_nmnist_folder, load_nmnist
    from ..training.export import export_model, make_provenance
    from ..training.loop import (
        TrainConfig,
        checkpoint_path,
        load_checkpoint,
        summary_table,
        train,
    )
    from ..training.rules import Arch, get_rule

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = _settings(args.set)
    if args.lr is not None:
        settings["lr"] = str(args.lr)
    try:
        rule = get_rule(args.rule, **settings)
        channels = tuple(int(c) for c in args.channels.split(","))
        if len(channels) != 2:
            raise ValueError(f"--channels: expected 2 numbers, got {args.channels!r}")
    except ValueError as e:
        print(f"spikestream train: error: {e}", file=sys.stderr)
        return 2
    if not is_nmnist_folder(args.data):
        raise SpikestreamError(f"{args.data}: not a data folder (expected <label>/<id>.bin "
                               "files and labels.csv, laid out like N-MNIST)")
    dt_us = int(round(args.dt_ms * 1000))
    ds = args.downsample
    inp = InputSpec(NMNIST_INPUT.sensor_size, downsample=(ds, ds), polarity="split",
                    mode="binary" if args.binary else "count")
    binning = Binning(inp, dt_us, args.steps)
    data = load_nmnist(args.data, binning, args.limit)
    tr, va = stratified_split(data.labels, args.val_fraction, args.seed)
    train_set, val_set = data.subset(tr), data.subset(va)
    name = args.name or f"{Path(args.data).resolve().name}-{rule.name}"
    arch = Arch(channels=channels, kernel=args.kernel, padding=args.padding)
    spec = rule.spec(arch, inp, dt_us, data.classes, name)
    net = rule.network(spec, seed=args.seed)
    ckpt = args.checkpoint or checkpoint_path(args.out)
    for f in (args.out, ckpt):
        Path(f).parent.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                         patience=args.patience, jitter_px=args.jitter, checkpoint=ckpt,
                         max_minutes=args.max_minutes)
    resume = load_checkpoint(ckpt) if args.resume else None
    n_params = sum(p.numel() for p in net.parameters())
    print(f"train {rule.name} on {args.data}: {len(train_set)} samples, {len(val_set)} "
          f"held out; T={args.steps} x {args.dt_ms:g} ms; {n_params:,} weights; "
          f"{torch.get_num_threads()} threads", flush=True)
    result = train(net, train_set, val_set if len(val_set) else None, config,
                   log=lambda line: print(line, flush=True), resume=resume)
    print(summary_table(result))
    prov = make_provenance(
        rule=rule,
        data={"source": Path(args.data).resolve().name, "format": "nmnist-folder",
              "n_train": len(train_set), "n_val": len(val_set), "split_seed": args.seed,
              "val_fraction": args.val_fraction, "limit": args.limit,
              "dt_us": dt_us, "n_steps": args.steps, "jitter_px": args.jitter},
        training={"epochs": len(result.history), "best_epoch": result.best_epoch,
                  "batch_size": args.batch_size, "seed": args.seed, "arch": arch.to_dict(),
                  "seconds": round(result.seconds, 1),
                  "stopped": result.stopped, "threads": torch.get_num_threads()},
        validation_accuracy=result.best_val_accuracy,
        n_steps=args.steps,
    )
    path = export_model(args.out, net, prov)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if not args.no_card:
        from ..runtime.model_file import load_model
        from ..training.card import render_card

        card = path.with_suffix(".md")
        card.write_text(render_card(load_model(path).spec, path.stat().st_size,
                                    command=_command(args),
                                    eval_command=f"spikestream eval --model {args.out} "
                                                 f"--data {args.data} --split val"))
        print(f"wrote {card}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """A command line that repeats this training run."""
    parts = ["spikestream train", f"--rule {args.rule}", f"--data {args.data}",
             f"--out {args.out}", f"--epochs {args.epochs}", f"--seed {args.seed}",
             f"--steps {args.steps}", f"--dt-ms {args.dt_ms:g}", f"--channels {args.channels}",
             f"--kernel {args.kernel}", f"--padding {args.padding}",
             f"--downsample {args.downsample}", f"--jitter {args.jitter}",
             f"--batch-size {args.batch_size}", f"--val-fraction {args.val_fraction:g}",
             f"--patience {args.patience}"]
    if args.name:
        parts.append(f"--name {args.name}")
    if args.binary:
        parts.append("--binary")
    if args.limit is not None:
        parts.append(f"--limit {args.limit}")
    if args.lr is not None:
        parts.append(f"--lr {args.lr:g}")
    if args.max_minutes is not None:
        parts.append(f"--max-minutes {args.max_minutes:g}")
    parts += [f"--set {s}" for s in args.set]
    return " \\\n    ".join(parts)
