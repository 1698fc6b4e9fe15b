"""Score a stream's decisions against its labelled gestures, and print the timeline.

The readout emits a :class:`~.readout.Decision` whenever the decided class changes;
between two decisions the decided class is the earlier one's (before the first
decision it is "no gesture", ``None``). :func:`score_timeline` compares that
piecewise-constant decision with each labelled segment ``[t_start_us, t_end_us)``:

- **majority**: the class decided for the longest time inside the segment
  ("no gesture" included); the segment counts as correct when it is the true class.
- **final**: the class decided at the segment's end.
- **onset latency**: ``t - t_start_us`` for the first time ``t`` in the segment at
  which the true class is decided (a decision at ``t``, or the decision already
  standing at the start: latency 0) and stays decided, unchanged, until
  ``t + stable_ms`` or until the segment ends, whichever comes first (``stable_ms =
  None``: until the segment ends). A segment with no such time is *never decided*.

Decision times are the ends of the steps that made them (``Decision.t_us``), so the
latency includes the step length. :class:`TimelineScore` summarises accuracy and the
onset latency: its median and p90 over *all* the segments, a never-decided segment
counting as later than any decided one (so a model that never decides its slow
gestures does not look faster: the quantile is "not reached", None, when it falls on
never-decided segments), and its mean over the decided ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..streams.gestures import labels_path_for, read_labels
from ..streams.source import LabelledSegment
from .readout import NO_GESTURE, Decision

DEFAULT_STABLE_MS = 500.0
"""A correct decision counts as the onset when it holds this long (or to the end)."""


@dataclass(frozen=True)
class SegmentScore:
    """How one labelled segment was decided.

    Attributes:
        segment: the labelled gesture.
        majority: class decided longest inside it (None: "no gesture").
        final: class decided at its end.
        onset_latency_us: see the module docstring; None: never decided.
        correct_fraction: share of its time the true class was decided.
    """

    segment: LabelledSegment
    majority: int | None
    final: int | None
    onset_latency_us: int | None
    correct_fraction: float

    @property
    def correct(self) -> bool:
        return self.majority == self.segment.label


@dataclass(frozen=True)
class TimelineScore:
    """Per-segment scores and their summary.

    Attributes:
        segments: one :class:`SegmentScore` per labelled segment.
        stable_ms: the stability span used (None: to the segment's end).
    """

    segments: tuple[SegmentScore, ...]
    stable_ms: float | None

    @property
    def n(self) -> int:
        return len(self.segments)

    @property
    def accuracy(self) -> float:
        """Share of segments whose majority decision is the true class."""
        return sum(s.correct for s in self.segments) / self.n if self.n else 0.0

    @property
    def final_accuracy(self) -> float:
        """Share of segments decided right at their end."""
        return sum(s.final == s.segment.label for s in self.segments) / self.n \
            if self.n else 0.0

    @property
    def time_accuracy(self) -> float:
        """Share of the labelled time during which the true class was decided."""
        dur = np.array([s.segment.t_end_us - s.segment.t_start_us for s in self.segments],
                       np.float64)
        frac = np.array([s.correct_fraction for s in self.segments])
        return float((dur * frac).sum() / dur.sum()) if dur.sum() > 0 else 0.0

    @property
    def latencies_ms(self) -> np.ndarray:
        """``(n_decided,)`` onset latencies, ms."""
        return np.array([s.onset_latency_us / 1000 for s in self.segments
                         if s.onset_latency_us is not None], np.float64)

    @property
    def never_decided(self) -> int:
        return sum(s.onset_latency_us is None for s in self.segments)

    def onset_quantile_ms(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100, linear interpolation) of the onset latency
        over all the segments, ms, a never-decided segment counting as later than any
        decided one; None when it falls on (or between a decided and) a never-decided
        segment, or there are no segments."""
        lat = self.latencies_ms
        if not len(lat):
            return None
        never = 1e30  # stands for "never"; any interpolation towards it exceeds lat.max()
        v = float(np.percentile(np.concatenate([lat, np.full(self.never_decided, never)]), q))
        return v if v <= lat.max() else None

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: ``segments``, ``accuracy``, ``final_accuracy``,
        ``time_accuracy``, ``onset_ms`` (``median`` and ``p90`` over all the segments,
        None when not reached, see :meth:`onset_quantile_ms`; ``mean`` over the decided
        ones), ``never_decided``."""
        lat = self.latencies_ms

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        stats = {"mean": round(float(lat.mean()), 1) if len(lat) else None,
                 "median": r(self.onset_quantile_ms(50)), "p90": r(self.onset_quantile_ms(90))}
        return {"segments": self.n, "correct": sum(s.correct for s in self.segments),
                "accuracy": round(self.accuracy, 4),
                "final_accuracy": round(self.final_accuracy, 4),
                "time_accuracy": round(self.time_accuracy, 4), "onset_ms": stats,
                "never_decided": self.never_decided, "stable_ms": self.stable_ms}

    def render(self) -> str:
        """Two summary lines for a terminal."""
        s = self.summary()
        o = s["onset_ms"]
        stable = "to the segment end" if self.stable_ms is None else \
            f">= {self.stable_ms:g} ms"

        def ms(v: float | None) -> str:
            return "not reached (never decided)" if v is None else f"{v:.0f} ms"

        lat = "no segment decided" if o["mean"] is None else (
            f"median {ms(o['median'])}, p90 {ms(o['p90'])}, mean {o['mean']:.0f} ms of "
            "the decided ones")
        return (f"accuracy {100 * s['accuracy']:.1f} % ({s['correct']} of {s['segments']} "
                f"gestures, majority decision; {100 * s['final_accuracy']:.1f} % at their "
                f"end; {100 * s['time_accuracy']:.1f} % of the gesture time)\n"
                f"onset latency {lat} (first correct decision stable {stable}); "
                f"{s['never_decided']} never decided")


def _label_at(times: np.ndarray, labels: list[int | None], t_us: int) -> int | None:
    i = int(np.searchsorted(times, t_us, side="right")) - 1
    return None if i < 0 else labels[i]


def score_segment(times: np.ndarray, labels: list[int | None], seg: LabelledSegment,
                  stable_us: int | None) -> SegmentScore:
    """Score one segment against decisions at ``times`` (sorted µs) with ``labels``."""
    t0, t1 = int(seg.t_start_us), int(seg.t_end_us)
    inside = np.flatnonzero((times > t0) & (times < t1))
    # piecewise-constant spans [start, end) with their decided class
    starts = [t0] + [int(times[i]) for i in inside]
    classes = [_label_at(times, labels, t0)] + [labels[i] for i in inside]
    ends = starts[1:] + [t1]
    time_by: dict[int | None, int] = {}
    for c, a, b in zip(classes, starts, ends, strict=True):
        time_by[c] = time_by.get(c, 0) + (b - a)
    majority = max(time_by, key=lambda c: time_by[c]) if t1 > t0 else classes[-1]
    total = max(t1 - t0, 1)
    correct_fraction = time_by.get(seg.label, 0) / total
    onset = None
    for c, a, b in zip(classes, starts, ends, strict=True):
        need = t1 if stable_us is None else min(t1, a + stable_us)
        if c == seg.label and b >= need:
            onset = a - t0
            break
    return SegmentScore(seg, majority, classes[-1], onset, correct_fraction)


def score_timeline(decisions: Sequence[Decision], segments: Sequence[LabelledSegment],
                   stable_ms: float | None = DEFAULT_STABLE_MS) -> TimelineScore:
    """Score ``decisions`` (in time order) against labelled ``segments``.

    Args:
        decisions: the readout's decision changes of one stream.
        segments: the labelled gestures of the stream, in its time base (µs).
        stable_ms: how long a correct decision must hold to mark the onset (None: to
            the segment's end); see the module docstring.
    """
    times = np.array([d.t_us for d in decisions], np.int64)
    if len(times) > 1 and (np.diff(times) < 0).any():
        raise ValueError("decisions must be in time order")
    labels = [d.label for d in decisions]
    stable_us = None if stable_ms is None else int(round(stable_ms * 1000))
    return TimelineScore(tuple(score_segment(times, labels, s, stable_us) for s in segments),
                         stable_ms)


def truth_at(segments: Sequence[LabelledSegment], t_us: int) -> LabelledSegment | None:
    """The labelled segment holding ``t_us`` (``t_start_us <= t < t_end_us``), if any."""
    for s in segments:
        if s.t_start_us <= t_us < s.t_end_us:
            return s
    return None


def decision_line(d: Decision, segments: Sequence[LabelledSegment], t0_us: int = 0) -> str:
    """One line of the timeline: stream time (s from ``t0_us``), decided class,
    confidence, the true label at that time ("-" in a pause) and ✓ or ✗ (a pause
    is right when the decision is "no gesture")."""
    seg = truth_at(segments, d.t_us)
    truth = NO_GESTURE if seg is None else seg.name
    ok = d.label == (None if seg is None else seg.label)
    shown = "-" if seg is None else truth
    return (f"{(d.t_us - t0_us) / 1e6:9.3f} s  {d.name:<28} {d.confidence:6.1%}  "
            f"true: {shown:<28} {'✓' if ok else '✗'}")


def render_timeline(decisions: Sequence[Decision], segments: Sequence[LabelledSegment],
                    t0_us: int = 0) -> str:
    """The whole timeline, one :func:`decision_line` per decision."""
    return "\n".join(decision_line(d, segments, t0_us) for d in decisions)


def source_labels(source: Any, until_us: int | None = None) -> tuple[LabelledSegment, ...]:
    """The labelled gestures of a source: its ``labels``, else the gestures an
    unbounded synthetic source has begun (``segments_so_far``), else a DVS Gesture
    ``<stem>_labels.csv`` beside its file (any format), else ``()``.

    Args:
        source: a :class:`~spikestream.streams.source.Source` (or anything with those
            attributes).
        until_us: the end of the part of the stream that was run: segments starting
            later are left out, and one under way then is cut there; None keeps all.
    """
    labels = _all_labels(source)
    if until_us is None:
        return labels
    return tuple(replace(s, t_end_us=min(s.t_end_us, until_us)) for s in labels
                 if s.t_start_us < until_us)


def _all_labels(source: Any) -> tuple[LabelledSegment, ...]:
    labels = tuple(getattr(source, "labels", ()) or ())
    if labels:
        return labels
    so_far = tuple(getattr(source, "segments_so_far", ()) or ())
    if so_far:
        return so_far
    path = getattr(source, "path", None)
    if isinstance(path, str | os.PathLike):
        csv = labels_path_for(Path(path))
        if csv.is_file():
            return read_labels(csv)
    return ()
