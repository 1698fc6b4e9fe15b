"""Data-parallel training across processes: torchrun's environment, one global order.

``torchrun --nproc_per_node N -m spikestream train ...`` starts ``N`` processes
with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``
set; :func:`init_from_env` joins them into one process group (NCCL when CUDA is
available, each process on GPU ``LOCAL_RANK``; gloo on CPU otherwise). Every
process draws the same global order of samples from the seed (like
``DistributedSampler``, deterministically), and takes its contiguous share
(:func:`shard`) of every global batch of ``N x --batch-size`` samples
(``--batch-size`` is per process, as in any DDP run). The loop weights each
share's mean loss by its size, so that the gradients averaged by
:class:`~torch.nn.parallel.DistributedDataParallel` (:func:`wrap`) are those of
the global batch in one process: ``N`` processes train as one process with an
``N`` times larger batch. Epoch statistics and validation are summed over the
processes (:func:`all_sum`), and decisions that hang on a clock are rank 0's
(:func:`agree`), so every process stops at the same epoch. Only rank 0 logs,
draws the progress bar and writes checkpoints and the model file.

Batch-norm statistics (``bpsta_bn``) are those of each process's share, as in any
plain DDP run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands.

    Attributes:
        rank: 0 .. ``world - 1``; 0 logs and writes.
        world: number of processes (1: not distributed).
        device: where this process's network and batches live.
    """

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Whether this process logs and writes files."""
        return self.rank == 0


def current() -> DistInfo:
    """This process's place in an initialised process group (rank 0 of 1 without one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    return DistInfo(dist.get_rank(), dist.get_world_size(), device)


def init_from_env() -> DistInfo:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE``
    > 1), or stay single (``WORLD_SIZE`` unset or 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    return current()


def shutdown() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(idx: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's contiguous share of a global batch ``idx`` (sizes differ by at
    most one; a share may be empty when the batch is smaller than ``world``)."""
    return np.array_split(np.asarray(idx), world)[rank]


def wrap(net: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """``net`` in :class:`~torch.nn.parallel.DistributedDataParallel` when several
    processes train (gradients averaged over them in ``backward``), else ``net``."""
    if info.world <= 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def all_sum(values: list[float], info: DistInfo) -> list[float]:
    """The element-wise sum of ``values`` over all processes (float64; itself when
    single)."""
    if info.world <= 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def agree(flag: bool, info: DistInfo) -> bool:
    """Rank 0's ``flag``, on every process (a decision taken on one clock)."""
    if info.world <= 1:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=info.device)
    dist.broadcast(t, src=0)
    return bool(t.item())
