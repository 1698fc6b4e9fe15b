"""The schedule of a synthetic recording: which gesture when, with pauses between.

Gesture ``i`` (0-based) draws its pause before it, its duration and its motion
from its own generator ``(seed, GESTURE, i)``; the classes come from
``gestures`` in order, or else from shuffled rounds over ``classes`` (each round
a permutation of them, from ``(seed, TIMELINE, round)``) so a long recording
shows the classes equally often. The schedule is generated lazily, so it can be
unbounded.

A recording of ``duration_s`` is exactly the beginning of the unbounded stream
with the same seed: a gesture running past the end keeps its motion and is cut
there, its label ending at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..gestures import GESTURE_CLASSES
from ..source import LabelledSegment
from . import seeding
from .gestures import Motion, sample_motion

MIN_GESTURE_S = 1.0
"""Shortest gesture duration accepted."""

Range = tuple[float, float]


@dataclass(frozen=True)
class Segment:
    """One scheduled gesture: its motion runs from ``t_start_us`` to
    ``motion_end_us``; its label ends at ``t_end_us``, the same or the end of
    the recording when that cuts it short."""

    index: int
    motion: Motion
    t_start_us: int
    t_end_us: int
    motion_end_us: int

    def labelled(self) -> LabelledSegment:
        """The segment as a :class:`LabelledSegment`."""
        return LabelledSegment(self.motion.label, self.motion.name, self.t_start_us, self.t_end_us)


def as_range(value: float | Sequence[float], name: str) -> Range:
    """``3`` -> ``(3, 3)``; ``(3, 6)`` stays; raises ``ValueError`` otherwise."""
    if isinstance(value, int | float):
        lo = hi = float(value)
    else:
        vals = [float(v) for v in value]
        if len(vals) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}")
        lo, hi = vals
    if not 0 <= lo <= hi:
        raise ValueError(f"{name} must satisfy 0 <= low <= high, got {value!r}")
    return lo, hi


class Timeline:
    """Lazily generated gestures of one recording.

    Args:
        seed: recording seed.
        gestures: classes to play in this order (then stay idle); or None.
        classes: classes to draw from when ``gestures`` is None (default all).
        n_gestures: stop after this many gestures (None: as many as fit).
        gesture_s: gesture duration in seconds, or a ``(low, high)`` range.
        pause_s: idle time before each gesture (and after the last one).
        end_us: end of the recording (None: unbounded unless a count is given).
    """

    def __init__(
        self,
        seed: int,
        gestures: Sequence[int] | None = None,
        classes: Sequence[int] | None = None,
        n_gestures: int | None = None,
        gesture_s: float | Sequence[float] = (3.0, 6.0),
        pause_s: float | Sequence[float] = (0.5, 1.5),
        end_us: int | None = None,
    ) -> None:
        self.seed = seeding.check_seed(seed)
        n = len(GESTURE_CLASSES)
        self.gestures = None if gestures is None else tuple(_check_label(g) for g in gestures)
        self.classes = (
            tuple(range(n)) if classes is None else tuple(_check_label(c) for c in classes)
        )
        if not self.classes:
            raise ValueError("classes must not be empty")
        if n_gestures is not None and n_gestures < 0:
            raise ValueError(f"n_gestures must be >= 0, got {n_gestures}")
        if self.gestures is not None:
            n_gestures = (
                len(self.gestures) if n_gestures is None else min(n_gestures, len(self.gestures))
            )
        self.n_gestures = n_gestures
        self.gesture_s = as_range(gesture_s, "gesture_s")
        if self.gesture_s[0] < MIN_GESTURE_S:
            raise ValueError(f"gestures must last at least {MIN_GESTURE_S} s, got {gesture_s!r}")
        self.pause_s = as_range(pause_s, "pause_s")
        self._segments: list[Segment] = []
        self._next_start_us = 0
        self._done = False
        self.end_us = end_us if end_us is not None else self._natural_end()

    def _natural_end(self) -> int | None:
        if self.n_gestures is None:
            return None
        self._extend(None)
        last = self._segments[-1].t_end_us if self._segments else 0
        pause = seeding.rng_for(self.seed, seeding.GESTURE, self.n_gestures).uniform(*self.pause_s)
        return last + round(pause * 1e6)

    @property
    def bounded(self) -> bool:
        return self.end_us is not None

    def segments(self, t_until_us: int | None = None) -> list[Segment]:
        """Scheduled gestures that start before ``t_until_us`` (all if None and bounded)."""
        if t_until_us is None and not self.bounded:
            raise ValueError("an unbounded timeline has no last gesture; give t_until_us")
        self._extend(t_until_us)
        if t_until_us is None:
            return list(self._segments)
        return [s for s in self._segments if s.t_start_us < t_until_us]

    def overlapping(self, t0_us: int, t1_us: int) -> list[Segment]:
        """Gestures whose motion has some part in ``[t0_us, t1_us)``."""
        return [s for s in self.segments(t1_us) if s.motion_end_us > t0_us]

    def _extend(self, t_until_us: int | None) -> None:
        while not self._done and (t_until_us is None or self._next_start_us < t_until_us):
            i = len(self._segments)
            if self.n_gestures is not None and i >= self.n_gestures:
                self._done = True
                return
            rng = seeding.rng_for(self.seed, seeding.GESTURE, i)
            pause = rng.uniform(*self.pause_s)
            duration = rng.uniform(*self.gesture_s)
            start = self._next_start_us + round(pause * 1e6)
            end = start + round(duration * 1e6)
            cut = getattr(self, "end_us", None)
            if cut is not None and start >= cut:
                self._done = True
                return
            motion = sample_motion(self._label(i), (end - start) * 1e-6, rng)
            label_end = end if cut is None else min(end, cut)
            self._segments.append(Segment(i, motion, start, label_end, end))
            self._next_start_us = end

    def _label(self, i: int) -> int:
        if self.gestures is not None:
            return self.gestures[i]
        k = len(self.classes)
        order = seeding.rng_for(self.seed, seeding.TIMELINE, i // k).permutation(k)
        return self.classes[int(order[i % k])]


def _check_label(label: int) -> int:
    n = len(GESTURE_CLASSES)
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= label < n:
        raise ValueError(f"gesture class must be an integer in 0..{n - 1}, got {label!r}")
    return int(label)
