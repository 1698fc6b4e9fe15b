"""Data-parallel training: shares of one global order; two gloo processes under
torchrun train as one process with the doubled batch, and only rank 0 writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spikestream.cli import main
from spikestream.runtime.spec import InputSpec
from spikestream.training import distributed
from spikestream.training.data import Binning, FrameSet, batches
from spikestream.training.distributed import DistInfo

TINY = ["--rule", "stbp", "--epochs", "2", "--steps", "6", "--dt-ms", "20",
        "--channels", "3,6", "--kernel", "3", "--downsample", "3", "--val-fraction", "0.25",
        "--test-fraction", "0", "--threads", "1", "--no-card", "--set", "loss_name=ce",
        "--lr", "0.01", "--limit", "12", "--drop-events", "0.2", "--time-jitter-us", "3000",
        "--jitter", "1"]


def test_shards_cover_each_global_batch_once() -> None:
    idx = np.arange(10, 17)
    parts = [distributed.shard(idx, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [3, 2, 2]
    assert np.concatenate(parts).tolist() == idx.tolist()
    assert len(distributed.shard(idx[:1], 1, 2)) == 0
    n = 11
    data = FrameSet(np.zeros((n, 2, 2, 4, 4), np.uint8), np.arange(n) % 2, ("a", "b"),
                    Binning(InputSpec((4, 4, 2)), 1000, 2), [f"s{i}" for i in range(n)],
                    np.ones(n, np.int64), np.ones(n, np.int64), "mem")
    one = [i.tolist() for _, _, i in batches(data, 4, np.random.default_rng([0, 1]))]
    two = [[i.tolist() for _, _, i in batches(data, 4, np.random.default_rng([0, 1]),
                                              shard=(r, 2))] for r in range(2)]
    assert [a + b for a, b in zip(*two, strict=True)] == one
    with pytest.raises(ValueError, match="rank 2"):
        next(batches(data, 4, shard=(2, 2)))


def test_single_process_helpers_are_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = distributed.init_from_env()
    assert info == DistInfo() and info.is_main and distributed.current() == info
    net = torch.nn.Linear(2, 2)
    assert distributed.wrap(net, info) is net
    assert distributed.all_sum([1.5, 2.0], info) == [1.5, 2.0]
    assert distributed.agree(True, info) and not distributed.agree(False, info)
    distributed.shutdown()


def _epoch_lines(text: str) -> list[str]:
    """The epoch lines without their speed and time."""
    return [s.rsplit("  ", 2)[0] for s in text.splitlines() if s.startswith("epoch ")
            and "/" in s.split()[1]]


def test_two_gloo_processes_train_as_one_with_the_doubled_batch(
        tiny_nmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 12 recordings: 9 training, 3 validation; 2 x 1 per step is 5 global batches, the
    # last of one sample (rank 1's share is empty); event drop, time and spatial jitter
    ddp_out = tmp_path / "ddp.safetensors"
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="error", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", "-m", "spikestream", "train", "--data", str(tiny_nmnist),
           "--out", str(ddp_out), "--batch-size", "1", *TINY]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # torchrun and both workers: one process group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out
    assert "2 processes (DDP)" in out
    # rank 0 alone prints and writes
    assert out.count("wrote ") == 1 and len(_epoch_lines(out)) == 2
    assert out.count("best: epoch") == 1 and (tmp_path / "ddp.ckpt").is_file()

    one_out = tmp_path / "one.safetensors"
    assert main(["train", "--data", str(tiny_nmnist), "--out", str(one_out),
                 "--batch-size", "2", *TINY]) == 0
    text = capsys.readouterr().out
    assert _epoch_lines(out) == _epoch_lines(text)
    a, b = load_file(ddp_out), load_file(one_out)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-6), k
    # and not as one process with the per-process batch
    assert main(["train", "--data", str(tiny_nmnist), "--out", str(tmp_path / "b1.safetensors"),
                 "--batch-size", "1", *TINY]) == 0
    c = load_file(tmp_path / "b1.safetensors")
    assert any(not torch.allclose(a[k], c[k], atol=1e-4) for k in a)
