"""Event augmentations of training samples: dropping events, jittering their times.

:class:`Augment` makes a training batch's frames ``(B, T, C, H, W)`` from the cached
samples of a :class:`~.data.FrameSet`, freshly randomised every epoch. Each sample
draws from its own generator, :func:`sample_rng` ``(seed, epoch, index)``, so what a
sample sees depends neither on the batch it falls in nor on the process that trains
it (a DDP run draws what one process draws) and a resumed run draws the same.

- **drop events** (``drop_p``): every event is removed independently with
  probability ``p``. On *count* frames this is done on the frames, exactly: the
  events of one pixel in one step are independent Bernoulli trials and the frame
  only records how many survive, so the surviving count of a pixel holding ``n``
  events is ``Binomial(n, 1 - p)``: binomial thinning of the count frame has the
  very distribution of "drop each event, then bin", with no events kept in memory.
  *Binary* frames (1 where any event) no longer hold ``n``; there the events are
  dropped before binning (the FrameSet must carry its events).
- **time jitter** (``time_jitter_us``): tonic's
  ``TimeJitter(std, clip_negative=False, sort_timestamps=True)`` moves every event's
  time by its own ``N(0, std)`` µs (truncated toward zero, as tonic stores it in the
  integer ``t``) and re-sorts them; the events are then binned again through the same
  :class:`~.data.Binning` (windowing and input stage) on the sample's own grid
  (:attr:`~.data.FrameSet.t0_us`): events pushed before its start or past ``T``
  windows leave the sample, as if they had been recorded there. tonic draws from
  numpy's global generator; :func:`jitter_times` seeds it from the sample's
  generator for the call and restores it afterwards. This needs the events
  (``load_frames(..., keep_events=True)``, 16 bytes per event in memory) and
  re-binning every sample every epoch.

Validation and evaluation never augment: :func:`~.data.batches` applies an
:class:`Augment` only to shuffled (training) batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .data import FrameSet

AUG_STREAM = 0xA06
"""Third word of a sample's generator seed ``[seed, epoch, AUG_STREAM, index]``: a
stream apart from the epoch's shuffle (``[seed, epoch]``)."""


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index``'s augmentation in ``epoch`` of a run seeded
    ``seed``."""
    return np.random.default_rng([seed, epoch, AUG_STREAM, index])


def drop_counts(frames: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Binomial thinning of count frames: each counted event kept with ``1 - p``.

    Args:
        frames: any shape, non-negative integer counts (any dtype).
        p: drop probability in ``[0, 1)``.

    Returns:
        float32 frames of the same shape, each count ``<=`` the original.
    """
    out = frames.astype(np.float32)
    nz = frames > 0  # a pixel without events has nothing to drop: no draw
    out[nz] = rng.binomial(frames[nz].astype(np.int64), 1.0 - p)
    return out


def drop_events(events: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """``(N,)`` events, each kept independently with probability ``1 - p``."""
    return events[rng.random(len(events)) >= p]


def jitter_times(events: np.ndarray, std_us: float, rng: np.random.Generator) -> np.ndarray:
    """tonic's ``TimeJitter(std_us, clip_negative=False, sort_timestamps=True)`` of
    ``(N,)`` EVENT_DTYPE events (a new array, sorted by the new ``t``), its draws
    seeded from ``rng``; numpy's global generator is left as it was."""
    from tonic.transforms import TimeJitter

    seed = int(rng.integers(2**32))
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return TimeJitter(std=std_us, clip_negative=False, sort_timestamps=True)(events)
    finally:
        np.random.set_state(state)


@dataclass(frozen=True)
class Augment:
    """Random event drop and time jitter of training samples (module docstring).

    Attributes:
        drop_p: probability of dropping each event, ``[0, 1)``.
        time_jitter_us: standard deviation of each event's time shift, µs (0: none).
    """

    drop_p: float = 0.0
    time_jitter_us: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_p < 1.0:
            raise ValueError(f"drop probability must be in [0, 1), got {self.drop_p}")
        if not self.time_jitter_us >= 0.0:
            raise ValueError(f"time jitter must be >= 0 µs, got {self.time_jitter_us}")

    @property
    def active(self) -> bool:
        """Whether it changes anything."""
        return self.drop_p > 0 or self.time_jitter_us > 0

    def needs_events(self, binary: bool) -> bool:
        """Whether the samples' events must be kept (time jitter, or a drop on
        binary frames)."""
        return self.time_jitter_us > 0 or (self.drop_p > 0 and binary)

    def frames(self, data: FrameSet, idx: Sequence[int] | np.ndarray,
               rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """The augmented frames ``(B, T, C, H, W)`` float32 of samples ``idx``, sample
        ``idx[b]`` drawn from ``rngs[b]``.

        Raises:
            ValueError: events are needed and ``data`` does not carry them.
        """
        idx = np.asarray(idx, dtype=np.int64)
        if len(rngs) != len(idx):
            raise ValueError(f"{len(idx)} samples but {len(rngs)} generators")
        if not self.active:
            return data.frames[idx].astype(np.float32)
        binary = data.binning.input.mode == "binary"
        if not self.needs_events(binary):
            return np.stack([drop_counts(data.frames[i], self.drop_p, r)
                             for i, r in zip(idx.tolist(), rngs, strict=True)]
                            ) if len(idx) else data.frames[idx].astype(np.float32)
        if data.events is None or data.t0_us is None:
            raise ValueError("time jitter (or dropping events of binary frames) needs the "
                             "samples' events: load_frames(..., keep_events=True)")
        out = np.zeros((len(idx), *data.frames.shape[1:]), np.float32)
        for b, (i, r) in enumerate(zip(idx.tolist(), rngs, strict=True)):
            ev = data.events[i]
            if self.drop_p > 0:
                ev = drop_events(ev, self.drop_p, r)
            if self.time_jitter_us > 0:
                ev = jitter_times(ev, self.time_jitter_us, r)
            out[b] = data.binning.frames(ev, int(data.t0_us[i]))[0]
        return out
