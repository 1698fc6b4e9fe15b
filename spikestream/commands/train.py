"""``spikestream train --rule R --data D``: train a network and export its model file.

Opens a labelled dataset in any registered layout (N-MNIST folder, tonic's N-MNIST
or DVS Gesture, DVS Gesture's AEDAT 3.1 recordings with ``_labels.csv``, ...), bins
every sample to ``--steps`` windows of ``--dt-ms`` through the runtime's windowing
and input stage, splits each class by ``--split-seed`` into a training part, a
validation part (``--val-fraction``, chooses the epoch kept) and an untouched test
part (``--test-fraction``, the same for every training ``--seed``), trains with the
rule, validates each epoch, checkpoints beside the output (``--resume`` continues
from it), stops early after ``--patience`` epochs without progress, prints a
summary table, writes the best epoch's weights with their provenance to ``--out``
and measures the test accuracy of that file through the runtime's Engine.

Training samples can be augmented (``--jitter`` pixels, ``--drop-events P``,
``--time-jitter-us S``); validation and test samples never are. On a terminal a
progress bar shows each batch. Under ``torchrun --nproc_per_node N -m spikestream
train ...`` N processes train one model with torch DDP (gloo on CPU, NCCL on GPU),
each on its share of every batch (``--batch-size`` is per process); rank 0 alone
prints and writes the checkpoint, the model and its card.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..training.distributed import DistInfo


def register(sub: argparse._SubParsersAction) -> None:
    from ..training.rules import rule_names

    p = sub.add_parser("train", help="train a spiking network with one of the learning rules",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--rule", required=True, choices=rule_names(), help="learning rule")
    p.add_argument("--data", required=True,
                   help="labelled dataset (any layout spikestream knows, e.g. an N-MNIST "
                        "folder, tonic's NMNIST/Train, DVS Gesture recordings)")
    p.add_argument("--out", default="model.safetensors", help="model file to write")
    p.add_argument("--epochs", type=int, default=20, help="maximum epochs (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and shuffles")
    p.add_argument("--steps", type=int, default=16, help="T, steps per sample (default 16)")
    p.add_argument("--dt-ms", type=float, default=20.0, help="step length, ms (default 20)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="samples per step and process (default 32)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="validation fraction of each class, chooses the epoch (default 0.1)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="untouched test fraction of each class (default 0.2)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the train/val/test split (default 0; not --seed, so "
                        "runs with different seeds share one test set)")
    p.add_argument("--patience", type=int, default=10,
                   help="early stopping: epochs without a better validation accuracy")
    p.add_argument("--jitter", type=int, default=0, help="spatial jitter, pixels (default 0)")
    p.add_argument("--drop-events", type=float, default=0.0, metavar="P",
                   help="drop each training event with probability P (default 0)")
    p.add_argument("--time-jitter-us", type=float, default=0.0, metavar="S",
                   help="move each training event's time by N(0, S) µs, tonic's TimeJitter "
                        "(default 0)")
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
    from ..training import distributed

    info = distributed.init_from_env()
    try:
        return _run(args, info)
    finally:
        distributed.shutdown()


def _run(args: argparse.Namespace, info: DistInfo) -> int:
    from pathlib import Path

    import torch

    from ..runtime.spec import InputSpec
    from ..training.augment import Augment
    from ..training.data import Binning, split_indices
    from ..training.datasets import open_dataset
    from ..training.evaluate import evaluate_engine
    from ..training.export import export_model, make_provenance, to_model
    from ..training.frames import load_frames
    from ..training.loop import (
        TrainConfig,
        checkpoint_path,
        load_checkpoint,
        resumable,
        summary_table,
        train,
    )
    from ..training.progress import ProgressBar
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
        augment = Augment(args.drop_events, args.time_jitter_us)
    except ValueError as e:
        print(f"spikestream train: error: {e}", file=sys.stderr)
        return 2
    dataset = open_dataset(args.data)
    dt_us = int(round(args.dt_ms * 1000))
    ds = args.downsample
    inp = InputSpec(tuple(dataset.sensor_size), downsample=(ds, ds), polarity="split",
                    mode="binary" if args.binary else "count")
    binning = Binning(inp, dt_us, args.steps)
    try:
        tr, va, te = split_indices(dataset.limited(args.limit).labels, args.val_fraction,
                                   args.test_fraction, args.split_seed)
    except ValueError as e:
        print(f"spikestream train: error: {e}", file=sys.stderr)
        return 2
    data = load_frames(dataset, binning, args.limit,
                       keep_events=augment.needs_events(args.binary))
    train_set, val_set = data.subset(tr), data.subset(va)
    name = args.name or f"{Path(args.data).resolve().name}-{rule.name}"
    arch = Arch(channels=channels, kernel=args.kernel, padding=args.padding)
    spec = rule.spec(arch, inp, dt_us, data.classes, name)
    net = rule.network(spec, seed=args.seed)
    ckpt = args.checkpoint or checkpoint_path(args.out)
    for f in (args.out, ckpt):
        Path(f).parent.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                         patience=args.patience, jitter_px=args.jitter,
                         drop_events=args.drop_events, time_jitter_us=args.time_jitter_us,
                         checkpoint=ckpt, max_minutes=args.max_minutes)
    resume = load_checkpoint(ckpt) if args.resume else None
    if resume is not None and not resumable(net, resume):
        print(f"spikestream train: error: {ckpt}: the checkpoint was made for another "
              f"network or rule settings (train without --resume to start over)",
              file=sys.stderr)
        return 2
    n_params = sum(p.numel() for p in net.parameters())
    if info.is_main:
        procs = f"; {info.world} processes (DDP)" if info.world > 1 else ""
        print(f"train {rule.name} on {args.data} ({dataset.layout}): {len(train_set)} "
              f"samples, {len(val_set)} validation, {len(te)} test; T={args.steps} x "
              f"{args.dt_ms:g} ms; {n_params:,} weights; {torch.get_num_threads()} "
              f"threads{procs}", flush=True)
    result = train(net, train_set, val_set if len(val_set) else None, config,
                   log=lambda line: print(line, flush=True), resume=resume,
                   progress=ProgressBar(), dist_info=info)
    if not info.is_main:
        return 0
    print(summary_table(result))
    prov = make_provenance(
        rule=rule,
        data={"source": Path(args.data).resolve().name, "format": dataset.layout,
              "n_train": len(train_set), "n_val": len(val_set), "n_test": len(te),
              "split_seed": args.split_seed, "val_fraction": args.val_fraction,
              "test_fraction": args.test_fraction, "limit": args.limit,
              "dt_us": dt_us, "n_steps": args.steps, "jitter_px": args.jitter,
              "drop_events": args.drop_events, "time_jitter_us": args.time_jitter_us},
        training={"epochs": len(result.history), "best_epoch": result.best_epoch,
                  "batch_size": args.batch_size, "seed": args.seed, "arch": arch.to_dict(),
                  "seconds": round(result.seconds, 1),
                  "stopped": result.stopped, "threads": torch.get_num_threads(),
                  "processes": info.world},
        validation_accuracy=result.best_val_accuracy,
        n_steps=args.steps,
    )
    prov["test_accuracy"] = None
    if len(te):
        test = evaluate_engine(to_model(net, prov), dataset, te, args.steps,
                               batch=min(32, len(te)))
        prov["test_accuracy"] = test.accuracy
        print(f"test accuracy (runtime Engine, {test.n} samples never seen in training): "
              f"{100 * test.accuracy:.2f}%")
    path = export_model(args.out, net, prov)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    if not args.no_card:
        from ..runtime.model_file import load_model
        from ..training.card import render_card

        card = path.with_suffix(".md")
        card.write_text(render_card(load_model(path).spec, path.stat().st_size,
                                    command=_command(args),
                                    eval_command=f"spikestream eval --model {args.out} "
                                                 f"--data {args.data} --split "
                                                 f"{'test' if len(te) else 'val'}"))
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
             f"--test-fraction {args.test_fraction:g}", f"--split-seed {args.split_seed}",
             f"--patience {args.patience}"]
    if args.name:
        parts.append(f"--name {args.name}")
    if args.drop_events:
        parts.append(f"--drop-events {args.drop_events:g}")
    if args.time_jitter_us:
        parts.append(f"--time-jitter-us {args.time_jitter_us:g}")
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
