"""The training loop: seeded, validated, checkpointed, resumable, stops early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.runtime.spec import InputSpec
from spikestream.training.augment import Augment
from spikestream.training.data import Binning, FrameSet, stratified_split
from spikestream.training.data_nmnist import load_nmnist, open_nmnist_dataset
from spikestream.training.frames import load_frames
from spikestream.training.loop import (
    TrainConfig,
    evaluate,
    load_checkpoint,
    progress_line,
    summary_table,
    train,
)
from spikestream.training.network import SpikingNet
from spikestream.training.rules import Arch, get_rule

INPUT = InputSpec(sensor_size=(34, 34, 2), downsample=(3, 3))


def _setup(tiny_nmnist: Path, rule: str = "stbp", **settings: str):
    data = load_nmnist(tiny_nmnist, Binning(INPUT, 20_000, 6))
    tr, va = stratified_split(data.labels, 0.25, 0)
    r = get_rule(rule, **settings)
    spec = r.spec(Arch(channels=(3, 6), kernel=3, padding=1), INPUT, 20_000, data.classes)
    return SpikingNet(spec, r, seed=1), data.subset(tr), data.subset(va)


def _weights(net: SpikingNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.weights().items()}


def test_seeded_runs_are_identical_and_learn(tiny_nmnist: Path) -> None:
    lines: list[str] = []
    cfg = TrainConfig(epochs=4, batch_size=8, seed=3, patience=None, jitter_px=1)
    net, tr, va = _setup(tiny_nmnist, loss_name="ce", lr="0.01")
    before, *_ = evaluate(net, va)
    res = train(net, tr, va, cfg, log=lines.append)
    net2, tr2, va2 = _setup(tiny_nmnist, loss_name="ce", lr="0.01")
    res2 = train(net2, tr2, va2, cfg, log=lambda s: None)
    w1, w2 = _weights(res.net), _weights(res2.net)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert [h.loss for h in res.history] == [h.loss for h in res2.history]
    assert len(lines) == 4 and lines[0].startswith("epoch 1/4  loss ")
    assert res.history[-1].loss < res.history[0].loss
    assert res.best_val_accuracy is not None and res.best_val_accuracy > max(before, 0.5)
    # the returned net holds the best epoch's weights
    acc, _, confusion = evaluate(res.net, va)
    assert acc == res.best_val_accuracy and confusion.sum() == len(va)
    assert 1 <= res.best_epoch <= 4 and res.stopped == "epochs"


def test_resume_continues_exactly(tiny_nmnist: Path, tmp_path: Path) -> None:
    ck = str(tmp_path / "run.ckpt")
    full_net, tr, va = _setup(tiny_nmnist, "tssl")
    full = train(full_net, tr, va, TrainConfig(epochs=3, batch_size=8, patience=None),
                 log=lambda s: None)
    part_net, *_ = _setup(tiny_nmnist, "tssl")
    train(part_net, tr, va, TrainConfig(epochs=2, batch_size=8, patience=None, checkpoint=ck),
          log=lambda s: None)
    lines: list[str] = []
    new_net, *_ = _setup(tiny_nmnist, "tssl")
    resumed = train(new_net, tr, va, TrainConfig(epochs=3, batch_size=8, patience=None,
                                                 checkpoint=ck),
                    log=lines.append, resume=load_checkpoint(ck))
    assert lines[0].startswith("resumed after epoch 2")
    assert [h.loss for h in resumed.history] == [h.loss for h in full.history]
    assert resumed.best_epoch == full.best_epoch
    w1, w2 = _weights(full.net), _weights(resumed.net)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert len(load_checkpoint(ck)["history"]) == 3


def test_resume_rejects_another_network(tiny_nmnist: Path, tmp_path: Path) -> None:
    ck = str(tmp_path / "a.ckpt")
    net, tr, va = _setup(tiny_nmnist)
    train(net, tr, va, TrainConfig(epochs=1, batch_size=8, checkpoint=ck), log=lambda s: None)
    other, *_ = _setup(tiny_nmnist, lr="0.5")
    with pytest.raises(ValueError, match="another network or rule settings"):
        train(other, tr, va, TrainConfig(epochs=2), log=lambda s: None,
              resume=load_checkpoint(ck))
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):  # noqa: B017 (torch's unpickling error types vary)
        load_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a spikestream training checkpoint"):
        load_checkpoint(tmp_path / "other.ckpt")


def test_early_stopping_keeps_the_best_epoch(tiny_nmnist: Path) -> None:
    net, tr, va = _setup(tiny_nmnist, lr="0.0")  # nothing changes: no epoch is better
    res = train(net, tr, va, TrainConfig(epochs=10, batch_size=16, patience=2),
                log=lambda s: None)
    assert res.stopped == "early stopping" and len(res.history) == 3 and res.best_epoch == 1
    table = summary_table(res)
    assert table.splitlines()[0].split()[:3] == ["epoch", "train", "loss"]
    assert "best: epoch 1" in table and "early stopping" in table
    assert "ev/s" in progress_line(res.history[0], 10, res)


def test_augmentations_are_seeded_and_only_train(tiny_nmnist: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ds = open_nmnist_dataset(tiny_nmnist)
    data = load_frames(ds, Binning(INPUT, 20_000, 6), cache=False, keep_events=True)
    tr, va = stratified_split(data.labels, 0.25, 0)
    r = get_rule("stbp", loss_name="ce", lr="0.01")
    spec = r.spec(Arch(channels=(3, 6), kernel=3, padding=1), INPUT, 20_000, data.classes)
    seen: list[int] = []
    frames = Augment.frames

    def counting(self: Augment, d: FrameSet, idx: np.ndarray, rngs: list) -> np.ndarray:
        seen.extend(int(i) for i in idx)
        assert d is tr_set  # never the validation samples
        return frames(self, d, idx, rngs)

    monkeypatch.setattr(Augment, "frames", counting)
    tr_set, va_set = data.subset(tr), data.subset(va)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=5, patience=None, drop_events=0.3,
                      time_jitter_us=5_000.0)
    runs = [train(SpikingNet(spec, r, seed=1), tr_set, va_set, cfg, log=lambda s: None)
            for _ in range(2)]
    assert sorted(seen) == sorted(2 * 2 * list(range(len(tr_set))))
    w1, w2 = _weights(runs[0].net), _weights(runs[1].net)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    plain = train(SpikingNet(spec, r, seed=1), tr_set, va_set,
                       TrainConfig(epochs=2, batch_size=8, seed=5, patience=None),
                       log=lambda s: None)
    assert [h.loss for h in plain.history] != [h.loss for h in runs[0].history]
    # time jitter needs the samples' events
    bare = load_frames(ds, Binning(INPUT, 20_000, 6), cache=False).subset(tr)
    with pytest.raises(ValueError, match="keep_events=True"):
        train(SpikingNet(spec, r, seed=1), bare, None, cfg, log=lambda s: None)
