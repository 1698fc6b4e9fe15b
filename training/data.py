"""Labelled, binned event data for training: frames cached in memory, split, batched.

A :class:`FrameSet` holds ``N`` samples already binned to ``T`` steps of ``dt_us``
through the runtime's own rule: :func:`~spikestream.streams.windowing.bin_events`
(the streaming grid, anchored like the live :class:`Windower` at the first event's
window) and :class:`~spikestream.runtime.input_stage.InputStage` (crop, downsample,
polarity, count/binary), so a network sees in training exactly the inputs the
engine builds live (DESIGN.md, contract 4). Frames are kept as the smallest
unsigned integer type that holds their counts (exact, 4x smaller than float32).

:func:`stratified_split` holds out a fraction of every class, deterministically by
seed; :func:`split_indices` cuts train/validation/test parts the same way, the test
part drawn apart so that it never depends on the training seed; :func:`batches`
iterates shuffled mini-batches ``(T, B, C, H, W)`` with an optional spatial jitter
(:class:`Jitter`) and event augmentations (:mod:`.augment`), optionally one
process's share of each batch (data-parallel training).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..runtime.input_stage import InputStage
from ..runtime.spec import InputSpec
from ..streams.windowing import bin_events
from .augment import Augment, sample_rng


@dataclass(frozen=True)
class Binning:
    """How a recording becomes ``T`` input frames.

    Attributes:
        input: the model's input stage spec.
        dt_us: step length, µs.
        n_steps: ``T``, the number of steps from the grid anchor (events after
            ``n_steps * dt_us`` are not part of the sample and are counted as such).
    """

    input: InputSpec
    dt_us: int
    n_steps: int

    def __post_init__(self) -> None:
        if int(self.dt_us) != self.dt_us or self.dt_us < 1:
            raise ValueError(f"dt_us must be a positive integer, got {self.dt_us!r}")
        if int(self.n_steps) != self.n_steps or self.n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {self.n_steps!r}")

    def frames(self, events: np.ndarray, t0_us: int | None = None) -> tuple[np.ndarray, int]:
        """Bin one time-ordered recording (or a labelled segment of one).

        Args:
            events: ``(N,)`` EVENT_DTYPE.
            t0_us: the grid anchor, µs (a segment's ``t_start_us``); None anchors at
                the first event's window (a whole recording), as the live Windower.

        Returns:
            ``(frames, n_used)``: ``(T, C, H, W)`` float32 counts and the number of
            events inside the ``T`` windows (and inside the crop).
        """
        stage = InputStage(self.input)
        if t0_us is None and not len(events):
            t0_us = 0
        windows = bin_events(events, self.dt_us, t0_us=t0_us, n_windows=self.n_steps)
        out = np.zeros((self.n_steps, *stage.shape), np.float32)
        used = 0
        for k, w in enumerate(windows):
            stage.dense(w.events, out[k])
            used += len(w.events) - stage.n_outside(w.events)
        return out, used


@dataclass
class FrameSet:
    """Binned samples, in memory.

    Attributes:
        frames: ``(N, T, C, H, W)`` unsigned integer counts (or 0/1).
        labels: ``(N,)`` int64 class indices.
        classes: class names.
        binning: how the frames were made.
        names: ``N`` sample names (file paths relative to the data root).
        n_events: ``(N,)`` events of each recording (all of them).
        n_used: ``(N,)`` events that fell inside the ``T`` windows and the crop.
        source: where the samples came from (a folder), for provenance.
        events: each sample's ``(n,)`` EVENT_DTYPE events, kept only when an
            augmentation re-bins them (:class:`~.augment.Augment`); else None.
        t0_us: ``(N,)`` int64 grid anchor of each sample, µs (its ``t_start_us``,
            or its first event's window); kept with ``events``.
    """

    frames: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    binning: Binning
    names: list[str]
    n_events: np.ndarray
    n_used: np.ndarray
    source: str
    events: list[np.ndarray] | None = None
    t0_us: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: Sequence[int] | np.ndarray) -> FrameSet:
        """The samples at ``idx`` (a copy of their frames)."""
        idx = np.asarray(idx, dtype=np.int64)
        return FrameSet(self.frames[idx], self.labels[idx], self.classes, self.binning,
                        [self.names[i] for i in idx], self.n_events[idx], self.n_used[idx],
                        self.source,
                        None if self.events is None else [self.events[i] for i in idx],
                        None if self.t0_us is None else self.t0_us[idx])

    def class_counts(self) -> np.ndarray:
        """``(n_classes,)`` samples per class."""
        return np.bincount(self.labels, minlength=len(self.classes))


def pack_frames(frames: list[np.ndarray]) -> np.ndarray:
    """Stack float32 count frames into the smallest exact unsigned integer array."""
    stacked = np.stack(frames) if frames else np.zeros((0,), np.uint8)
    top = float(stacked.max()) if stacked.size else 0.0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return stacked.astype(dtype)
    raise ValueError(f"a pixel holds {top:.0f} events in one step: too many to cache")


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic hold-out: ``round(val_fraction * n_c)`` samples of each class ``c``.

    Args:
        labels: ``(N,)`` class indices.
        val_fraction: in ``[0, 1)``.
        seed: the split's seed (the same seed gives the same split on any machine).

    Returns:
        ``(train_idx, val_idx)``, each sorted int64.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(val_fraction * len(idx)))
        val.append(rng.permutation(idx)[:k])
    v = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    t = np.setdiff1d(np.arange(len(labels)), v)
    return t.astype(np.int64), v.astype(np.int64)


TEST_STREAM = 0x7E57
"""Second word of the test part's generator seed ``[split_seed, TEST_STREAM]``: a
stream of its own, so the test part depends on nothing but the labels, the test
fraction and the split seed."""


def split_indices(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic stratified train/validation/test split.

    Of each class ``c`` of ``n_c`` samples, ``round(test_fraction * n_c)`` go to the
    test part, drawn first with their own generator (``[seed, TEST_STREAM]``), so the
    test part does not depend on ``val_fraction``; then ``round(val_fraction * n_c)``
    of the rest go to the validation part, drawn exactly as :func:`stratified_split`
    draws (one generator from ``seed``, classes in order). With ``test_fraction = 0``
    the validation part is therefore ``stratified_split(labels, val_fraction,
    seed)[1]``, the split recorded in older models' provenance.

    ``seed`` is the *split* seed (``spikestream train --split-seed``), not the seed
    of the weights and shuffles: runs with different training seeds share one
    validation and one untouched test part.

    Args:
        labels: ``(N,)`` class indices.
        val_fraction, test_fraction: each in ``[0, 1)``, their sum below 1.
        seed: the split seed.

    Returns:
        ``(train_idx, val_idx, test_idx)``, each sorted int64, disjoint, covering
        ``0..N-1``.
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got "
                         f"{val_fraction} + {test_fraction}")
    labels = np.asarray(labels)
    test_rng = np.random.default_rng([seed, TEST_STREAM])
    val_rng = np.random.default_rng(seed)
    test: list[np.ndarray] = [np.zeros(0, np.int64)]
    val: list[np.ndarray] = [np.zeros(0, np.int64)]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k_test = int(round(test_fraction * len(idx))) if test_fraction > 0 else 0
        if k_test:
            held = test_rng.permutation(idx)[:k_test]
            test.append(held)
            idx = np.setdiff1d(idx, held)
        k_val = int(round(val_fraction * (len(idx) + k_test)))
        val.append(val_rng.permutation(idx)[:min(k_val, len(idx))])
    te = np.sort(np.concatenate(test)).astype(np.int64)
    va = np.sort(np.concatenate(val)).astype(np.int64)
    tr = np.setdiff1d(np.arange(len(labels)), np.concatenate([te, va])).astype(np.int64)
    return tr, va, te


@dataclass(frozen=True)
class Jitter:
    """Random spatial shift of a whole sample by up to ``max_px`` pixels in x and y.

    Pixels shifted out of the frame leave it, zeros come in (as if the camera had
    moved). ``max_px = 0`` is the identity.
    """

    max_px: int = 0

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Shift each sample of ``x`` ``(T, B, C, H, W)`` by its own random offset."""
        if self.max_px <= 0:
            return x
        return self.apply(x, rng.integers(-self.max_px, self.max_px + 1, size=(x.shape[1], 2)))

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One sample's ``(2,)`` offset ``(dy, dx)``, pixels."""
        return rng.integers(-self.max_px, self.max_px + 1, size=2)

    def apply(self, x: torch.Tensor, shifts: np.ndarray) -> torch.Tensor:
        """Shift sample ``b`` of ``x`` ``(T, B, C, H, W)`` by ``shifts[b] = (dy, dx)``."""
        out = torch.zeros_like(x)
        h, w = x.shape[-2:]
        for b, (dy, dx) in enumerate(np.asarray(shifts).reshape(-1, 2).tolist()):
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h),
                                                                        slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w),
                                                                        slice(0, w + dx))
            out[:, b, :, yd, xd] = x[:, b, :, ys, xs]
        return out


def batches(
    data: FrameSet,
    batch_size: int,
    rng: np.random.Generator | None = None,
    jitter: Jitter | None = None,
    dtype: torch.dtype = torch.float32,
    augment: Augment | None = None,
    sample_seed: tuple[int, int] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    """Mini-batches of ``data``.

    Args:
        data: the samples.
        batch_size: samples per (global) batch; the last one may be smaller.
        rng: shuffles the order when given (a training epoch); None keeps the order
            and never augments (validation, evaluation).
        jitter: spatial augmentation (only with ``rng``).
        dtype: of the frames.
        augment: event drop / time jitter (:mod:`.augment`), applied before the
            spatial jitter (only with ``rng``).
        sample_seed: ``(seed, epoch)``: sample ``i`` draws its augmentation and jitter
            from :func:`~.augment.sample_rng` ``(seed, epoch, i)``, whatever batch or
            process it falls in. None: they are drawn from ``rng`` batch by batch.
        shard: ``(rank, world)``: yield only this process's contiguous share of every
            global batch (sizes differ by at most one; a share may be empty when a
            batch holds fewer than ``world`` samples).

    Yields:
        ``(x, y, idx)``: ``x`` ``(T, B, C, H, W)`` frames, ``y`` ``(B,)`` int64 labels,
        ``idx`` ``(B,)`` the samples' indices in ``data``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rank, world = shard
    if not 0 <= rank < world:
        raise ValueError(f"shard: rank {rank} is not in 0..{world - 1}")
    order = rng.permutation(len(data)) if rng is not None else np.arange(len(data))
    for start in range(0, len(order), batch_size):
        idx = np.array_split(order[start:start + batch_size], world)[rank]
        rngs: list[np.random.Generator] = []
        if rng is not None and sample_seed is not None:
            rngs = [sample_rng(sample_seed[0], sample_seed[1], i) for i in idx.tolist()]
        if augment is not None and augment.active and rng is not None:
            f = augment.frames(data, idx, rngs or rng.spawn(len(idx)))
        else:
            f = data.frames[idx].astype(np.float32)
        x = torch.from_numpy(f).to(dtype)
        x = x.transpose(0, 1).contiguous()  # (B, T, ...) -> (T, B, ...)
        if jitter is not None and jitter.max_px > 0 and rng is not None:
            if rngs:
                x = jitter.apply(x, np.array([jitter.draw(r) for r in rngs]).reshape(-1, 2))
            else:
                x = jitter(x, rng)
        yield x, torch.from_numpy(data.labels[idx]), idx
