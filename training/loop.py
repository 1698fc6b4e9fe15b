"""The training loop: seeded epochs, validation, checkpoint/resume, early stopping.

:func:`train` trains a :class:`~.network.SpikingNet` under a rule on the training
part of a :class:`~.data.FrameSet` and validates on the held-out part after every
epoch; the best epoch's weights (highest validation accuracy, then lowest loss)
are the result. Everything random is drawn from the seed: the initial weights
(``seed``), and each epoch's shuffle and jitter (``(seed, epoch)``), so a run
resumed from its checkpoint continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import FrameSet, Jitter, batches
from .network import SpikingNet
from .rules import Rule


@dataclass(frozen=True)
class TrainConfig:
    """Loop settings.

    Attributes:
        epochs: maximum epochs.
        batch_size: samples per step.
        seed: initial weights, shuffles and jitter.
        patience: stop after this many epochs without a better validation accuracy
            (None: never stop early).
        jitter_px: spatial jitter of training samples, pixels (0: none).
        checkpoint: file written after every epoch (None: none).
        max_minutes: stop after the epoch that passes this budget (None: no budget).
    """

    epochs: int = 20
    batch_size: int = 32
    seed: int = 0
    patience: int | None = 10
    jitter_px: int = 0
    checkpoint: str | None = None
    max_minutes: float | None = None


@dataclass
class EpochStats:
    """One epoch: training loss/accuracy, validation loss/accuracy, speed."""

    epoch: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    events_per_s: float
    seconds: float


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        net: the network with the best epoch's weights.
        history: every epoch run (including those before a resume).
        best_epoch: the epoch whose weights ``net`` holds (1-based; 0: initial).
        best_val_accuracy: its validation accuracy (None without validation data).
        seconds: training wall time, summed over resumed runs.
        stopped: why the loop ended (``"epochs"``, ``"early stopping"``, ``"time budget"``).
    """

    net: SpikingNet
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float | None = None
    seconds: float = 0.0
    stopped: str = "epochs"


def evaluate(net: SpikingNet, data: FrameSet, batch_size: int = 64
             ) -> tuple[float, float, np.ndarray]:
    """Accuracy, mean loss and ``(n_classes, n_classes)`` confusion (rows: true) of
    the training forward on ``data``."""
    n = len(data.classes)
    confusion = np.zeros((n, n), np.int64)
    loss_sum = 0.0
    with torch.no_grad():
        for x, y, _ in batches(data, batch_size):
            out = net(x)
            loss_sum += float(net.rule.loss(out, y)) * len(y)
            pred = net.rule.scores(out).argmax(1)
            np.add.at(confusion, (y.numpy(), pred.numpy()), 1)
    total = int(confusion.sum())
    acc = float(np.trace(confusion)) / total if total else 0.0
    return acc, loss_sum / max(total, 1), confusion


def _better(a: EpochStats, best: EpochStats | None) -> bool:
    if best is None:
        return True
    if a.val_accuracy is None or best.val_accuracy is None:
        return True  # no validation: the last epoch is the best
    if a.val_accuracy != best.val_accuracy:
        return a.val_accuracy > best.val_accuracy
    return (a.val_loss or 0.0) < (best.val_loss or 0.0)


def _save_checkpoint(path: str, net: SpikingNet, best: dict[str, torch.Tensor], opt:
                     torch.optim.Optimizer, result: TrainResult, config: TrainConfig) -> None:
    tmp = f"{path}.tmp"
    torch.save({
        "format": "spikestream-checkpoint-1",
        "spec": net.spec.to_json(),
        "rule": net.rule.settings(),
        "config": asdict(config),
        "params": net.state_dict(),
        "best_params": best,
        "optimizer": opt.state_dict(),
        "history": [asdict(h) for h in result.history],
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
    }, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` (tensors and plain data only; no
    code is unpickled)."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ck, dict) or ck.get("format") != "spikestream-checkpoint-1":
        raise ValueError(f"{path}: not a spikestream training checkpoint")
    return ck


def train(
    net: SpikingNet,
    train_data: FrameSet,
    val_data: FrameSet | None,
    config: TrainConfig,
    log: Callable[[str], None] = print,
    resume: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``net`` (see the module docstring).

    Args:
        net: the network (its rule gives the loss, optimizer and clipping).
        train_data: training samples.
        val_data: held-out samples validated after each epoch (None: none).
        config: loop settings.
        log: receives one progress line per epoch.
        resume: a checkpoint from :func:`load_checkpoint` to continue from; it must
            be of the same spec and rule.

    Returns:
        the result, ``net`` holding the best epoch's weights.
    """
    rule: Rule = net.rule
    params = list(net.parameters())
    opt = rule.optimizer(params)
    result = TrainResult(net)
    best_stats: EpochStats | None = None
    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
    start = 0
    if resume is not None:
        if resume["spec"] != net.spec.to_json() or resume["rule"] != rule.settings():
            raise ValueError("the checkpoint was made for another network or rule settings")
        net.load_state_dict(resume["params"])
        opt.load_state_dict(resume["optimizer"])
        best = resume["best_params"]
        result.history = [EpochStats(**h) for h in resume["history"]]
        result.best_epoch = int(resume["best_epoch"])
        result.seconds = float(resume["seconds"])
        start = len(result.history)
        if result.best_epoch:
            best_stats = result.history[result.best_epoch - 1]
            result.best_val_accuracy = best_stats.val_accuracy
        log(f"resumed after epoch {start} (best {_pct(result.best_val_accuracy)} "
            f"at epoch {result.best_epoch})")
    jitter = Jitter(config.jitter_px) if config.jitter_px else None
    t_begin = time.perf_counter() - result.seconds
    for epoch in range(start + 1, config.epochs + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        loss_sum, correct, seen, events = 0.0, 0, 0, 0
        for x, y, idx in batches(train_data, config.batch_size, rng, jitter):
            out = net(x)
            loss = rule.loss(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if rule.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, rule.grad_clip)
            opt.step()
            rule.after_step(params)
            loss_sum += float(loss.detach()) * len(y)
            correct += int((rule.scores(out.detach()).argmax(1) == y).sum())
            seen += len(y)
            events += int(train_data.n_used[idx].sum())
        train_s = time.perf_counter() - t0
        val_acc = val_loss = None
        if val_data is not None and len(val_data):
            val_acc, val_loss, _ = evaluate(net, val_data)
        stats = EpochStats(epoch, loss_sum / max(seen, 1), correct / max(seen, 1), val_loss,
                           val_acc, events / train_s if train_s > 0 else 0.0,
                           time.perf_counter() - t0)
        result.history.append(stats)
        if not math.isfinite(stats.loss):
            raise FloatingPointError(f"epoch {epoch}: the loss is {stats.loss}")
        if _better(stats, best_stats):
            best_stats = stats
            result.best_epoch = epoch
            result.best_val_accuracy = val_acc
            best = {k: v.detach().clone() for k, v in net.state_dict().items()}
        result.seconds = time.perf_counter() - t_begin
        log(progress_line(stats, config.epochs, result))
        if config.checkpoint:
            _save_checkpoint(config.checkpoint, net, best, opt, result, config)
        if (config.patience is not None and val_acc is not None
                and epoch - result.best_epoch >= config.patience):
            result.stopped = "early stopping"
            break
        if config.max_minutes is not None and result.seconds > 60 * config.max_minutes:
            result.stopped = "time budget"
            break
    net.load_state_dict(best)
    return result


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def progress_line(s: EpochStats, epochs: int, result: TrainResult) -> str:
    """``epoch 3/20  loss 0.0412  train 81.2%  val 85.0%  best 85.0% @3  4,210 ev/s  12.3 s``."""
    return (f"epoch {s.epoch}/{epochs}  loss {s.loss:.4f}  train {_pct(s.accuracy)}  "
            f"val {_pct(s.val_accuracy)}  best {_pct(result.best_val_accuracy)} "
            f"@{result.best_epoch}  {s.events_per_s:,.0f} ev/s  {s.seconds:.1f} s")


def summary_table(result: TrainResult) -> str:
    """The per-epoch table printed at the end of a run."""
    rows = ["epoch  train loss  train acc  val loss  val acc     ev/s   seconds"]
    for s in result.history:
        mark = " *" if s.epoch == result.best_epoch else ""
        vl = "-" if s.val_loss is None else f"{s.val_loss:.4f}"
        rows.append(f"{s.epoch:>5}  {s.loss:>10.4f}  {_pct(s.accuracy):>9}  {vl:>8}  "
                    f"{_pct(s.val_accuracy):>7}  {s.events_per_s:>7,.0f}  {s.seconds:>8.1f}{mark}")
    rows.append(f"best: epoch {result.best_epoch}, validation accuracy "
                f"{_pct(result.best_val_accuracy)}; {result.stopped}; "
                f"{result.seconds:.1f} s in all")
    return "\n".join(rows)


def checkpoint_path(out: str | os.PathLike[str]) -> str:
    """Default checkpoint beside a model file: ``model.safetensors`` -> ``model.ckpt``."""
    return str(Path(out).with_suffix(".ckpt"))
