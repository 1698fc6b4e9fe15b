"""The training loop: seeded epochs, validation, checkpoint/resume, early stopping.

:func:`train` trains a :class:`~.network.SpikingNet` under a rule on the training
part of a :class:`~.data.FrameSet` and validates on the held-out part after every
epoch; the best epoch's weights (highest validation accuracy, then lowest loss)
are the result. Everything random is drawn from the seed: the initial weights
(``seed``), each epoch's shuffle (``(seed, epoch)``) and each sample's augmentation
in that epoch (``(seed, epoch, index)``: spatial jitter, event drop, time jitter,
:mod:`.augment`), so a run resumed from its checkpoint continues exactly as the
uninterrupted run would, and ``N`` data-parallel processes (:mod:`.distributed`)
train as one process with an ``N`` times larger batch. A :class:`~.progress.ProgressBar`
shows each batch on a terminal.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed
from .augment import Augment
from .data import FrameSet, Jitter, batches
from .distributed import DistInfo
from .network import SpikingNet
from .progress import ProgressBar
from .rules import Rule


@dataclass(frozen=True)
class TrainConfig:
    """Loop settings.

    Attributes:
        epochs: maximum epochs.
        batch_size: samples per step (per process when data-parallel).
        seed: initial weights, shuffles and augmentations.
        patience: stop after this many epochs without a better validation accuracy
            (None: never stop early).
        jitter_px: spatial jitter of training samples, pixels (0: none).
        drop_events: probability of dropping each event of a training sample (0: none).
        time_jitter_us: standard deviation of each training event's time shift, µs
            (0: none; the training data must carry its events).
        checkpoint: file written after every epoch (None: none).
        max_minutes: stop after the epoch that passes this budget (None: no budget).
    """

    epochs: int = 20
    batch_size: int = 32
    seed: int = 0
    patience: int | None = 10
    jitter_px: int = 0
    drop_events: float = 0.0
    time_jitter_us: float = 0.0
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
    device = next(net.parameters()).device
    with torch.no_grad():
        for x, y, _ in batches(data, batch_size):
            out = net(x.to(device))
            loss_sum += float(net.rule.loss(out, y.to(device))) * len(y)
            pred = net.rule.scores(out).argmax(1).cpu()
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


def _validate(net: SpikingNet, data: FrameSet, info: DistInfo) -> tuple[float, float]:
    """Validation accuracy and mean loss; each process evaluates its share of ``data``
    and the sums are added over the processes."""
    if info.world <= 1:
        acc, loss, _ = evaluate(net, data)
        return acc, loss
    part = data.subset(distributed.shard(np.arange(len(data)), info.rank, info.world))
    acc, loss, confusion = evaluate(net, part)
    n = int(confusion.sum())
    correct, loss_sum, total = distributed.all_sum(
        [float(np.trace(confusion)), loss * n, float(n)], info)
    return (correct / total if total else 0.0), loss_sum / max(total, 1.0)


def train(
    net: SpikingNet,
    train_data: FrameSet,
    val_data: FrameSet | None,
    config: TrainConfig,
    log: Callable[[str], None] = print,
    resume: dict[str, Any] | None = None,
    progress: ProgressBar | None = None,
    dist_info: DistInfo | None = None,
) -> TrainResult:
    """Train ``net`` (see the module docstring).

    Args:
        net: the network (its rule gives the loss, optimizer and clipping).
        train_data: training samples (with their events when time jitter, or an event
            drop on binary frames, is asked for).
        val_data: held-out samples validated after each epoch (None: none); never
            augmented.
        config: loop settings.
        log: receives one progress line per epoch (rank 0 only).
        resume: a checkpoint from :func:`load_checkpoint` to continue from; it must
            be of the same spec and rule.
        progress: per-batch progress (rank 0 only, its share of each batch; it draws
            on a terminal only).
        dist_info: this process's place among data-parallel processes (default:
            :func:`~.distributed.current`; a single process without a process group).

    Returns:
        the result, ``net`` holding the best epoch's weights.
    """
    info = dist_info or distributed.current()
    if not info.is_main:
        log, progress = (lambda line: None), None
    rule: Rule = net.rule
    if info.device.type != "cpu":
        net.to(info.device)
    params = list(net.parameters())
    opt = rule.optimizer(params)
    result = TrainResult(net)
    best_stats: EpochStats | None = None
    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
    start = 0
    if resume is not None:
        if not resumable(net, resume):
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
    model = distributed.wrap(net, info)
    jitter = Jitter(config.jitter_px) if config.jitter_px else None
    augment = Augment(config.drop_events, config.time_jitter_us)
    if augment.needs_events(train_data.binning.input.mode == "binary") and (
            train_data.events is None or train_data.t0_us is None):
        raise ValueError("time jitter (or dropping events of binary frames) needs the "
                         "training samples' events: load_frames(..., keep_events=True)")
    global_batch = config.batch_size * info.world
    n_batches = math.ceil(len(train_data) / global_batch)
    t_begin = time.perf_counter() - result.seconds
    for epoch in range(start + 1, config.epochs + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        loss_sum, correct, seen, events = 0.0, 0, 0, 0
        for b, (x, y, idx) in enumerate(batches(
                train_data, global_batch, rng, jitter, augment=augment,
                sample_seed=(config.seed, epoch), shard=(info.rank, info.world)), 1):
            n = len(idx)
            if info.world > 1 and not n:
                # an empty share (a last batch smaller than the world) still joins the
                # gradient average, with zero weight
                x = torch.zeros((x.shape[0], 2, *x.shape[2:]), dtype=x.dtype)
                y = torch.zeros(2, dtype=torch.int64)
            x, y = x.to(info.device), y.to(info.device)
            out = model(x)
            loss = rule.loss(out, y)
            opt.zero_grad(set_to_none=True)
            if info.world > 1:
                # DDP averages over processes: weight each share's mean by its size
                n_global = min(global_batch, len(train_data) - (b - 1) * global_batch)
                (loss * (n * info.world / n_global)).backward()
            else:
                loss.backward()
            if rule.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, rule.grad_clip)
            opt.step()
            rule.after_step(params)
            if n:
                loss_sum += float(loss.detach()) * n
                correct += int((rule.scores(out.detach()).argmax(1) == y).sum())
                seen += n
                events += int(train_data.n_used[idx].sum())
            if progress is not None:
                el = time.perf_counter() - t0
                progress.update(epoch, config.epochs, b, n_batches, loss_sum / max(seen, 1),
                                correct / max(seen, 1), events / el if el > 0 else 0.0, el)
        if progress is not None:
            progress.end()
        train_s = time.perf_counter() - t0
        loss_sum, correct, seen, events = distributed.all_sum(
            [loss_sum, correct, seen, events], info)
        val_acc = val_loss = None
        if val_data is not None and len(val_data):
            val_acc, val_loss = _validate(net, val_data, info)
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
        if config.checkpoint and info.is_main:
            _save_checkpoint(config.checkpoint, net, best, opt, result, config)
        if (config.patience is not None and val_acc is not None
                and epoch - result.best_epoch >= config.patience):
            result.stopped = "early stopping"
            break
        if distributed.agree(config.max_minutes is not None
                             and result.seconds > 60 * config.max_minutes, info):
            result.stopped = "time budget"
            break
    net.load_state_dict(best)
    if info.device.type != "cpu":
        net.cpu()
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


def resumable(net: SpikingNet, checkpoint: dict[str, Any]) -> bool:
    """Whether ``checkpoint`` was made for ``net``: the same network and rule settings.
    The model's name is only a label, so a resumed run may give the model another."""
    had, has = json.loads(checkpoint["spec"]), json.loads(net.spec.to_json())
    had.pop("name", None)
    has.pop("name", None)
    return bool(had == has and checkpoint["rule"] == net.rule.settings())
