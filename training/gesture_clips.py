"""Training clips cut at random offsets of continuous gesture recordings.

A continuous recording is binned once, whole, on the stream's own grid:
:class:`~.data.Binning` (the runtime's windowing and input stage) from t = 0 in
steps of ``dt_us``, exactly the windows the :class:`~spikestream.runtime.engine.Engine`
steps through when it replays the recording. Window ``k`` covers
``[k dt, (k+1) dt)`` and is labelled by the time its step ends (``(k+1) dt``, the
time a :class:`~spikestream.runtime.readout.Decision` made after it carries): the
class of the labelled segment holding that time, or :data:`PAUSE` (-1) when it falls
in a pause.

A clip is ``n_steps`` consecutive windows ending at a random window whose end lies
inside a labelled segment; the clip's label is that segment's class. Its per-step
labels (:attr:`GestureClips.step_labels`) are the windows' own labels, so a clip
may straddle a pause or a gesture change: the steps before the change keep the
previous gesture's class (or :data:`PAUSE`) and the steps after it the new one.
A network trained on every step of such clips (a per-step loss) learns to switch
as soon as the new gesture shows, which is what the engine needs when it carries
the state across the whole stream without resets. The first ``burn_in`` steps of a
clip warm the state up (the training forward starts from zero, the stream never
does) and carry no loss (:attr:`GestureClips.loss_mask`). Windows before the
stream's start (a clip ending early in a recording) are zero frames labelled
:data:`PAUSE`.

Where clips end: ``onset_fraction`` of them in the first ``onset_ms`` of a segment
(the gesture's onset, where latency is decided), the rest uniformly in the segment.
Everything random comes from the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..runtime.input_stage import InputStage
from ..runtime.spec import InputSpec
from ..streams.source import LabelledSegment
from .data import Binning, FrameSet, pack_frames

PAUSE = -1
"""Step label of a window in a pause (no labelled gesture at its end)."""


@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut.

    Attributes:
        n_steps: ``T``, windows per clip.
        dt_us: window length, µs.
        burn_in: first steps of a clip without loss (state warm-up).
        per_segment: clips cut per labelled segment.
        onset_fraction: share of clips whose end lies in a segment's first ``onset_ms``.
        onset_ms: the onset span, ms.
    """

    n_steps: int
    dt_us: int
    burn_in: int = 0
    per_segment: int = 4
    onset_fraction: float = 0.5
    onset_ms: float = 500.0

    def __post_init__(self) -> None:
        if self.n_steps < 1 or self.dt_us < 1:
            raise ValueError(f"n_steps and dt_us must be >= 1, got {self.n_steps}, "
                             f"{self.dt_us}")
        if not 0 <= self.burn_in < self.n_steps:
            raise ValueError(f"burn_in must be in [0, n_steps), got {self.burn_in}")
        if self.per_segment < 1:
            raise ValueError(f"per_segment must be >= 1, got {self.per_segment}")
        if not 0.0 <= self.onset_fraction <= 1.0 or self.onset_ms <= 0:
            raise ValueError("onset_fraction must be in [0, 1] and onset_ms > 0")


@dataclass
class StreamFrames:
    """One recording binned whole on the stream grid.

    Attributes:
        frames: ``(K, C, H, W)`` unsigned integer counts, window ``k`` = ``[k dt, (k+1) dt)``.
        labels: ``(K,)`` int64 class at each window's end, :data:`PAUSE` in pauses.
        segments: the recording's labelled segments.
        name: the recording's name.
        dt_us: window length, µs.
    """

    frames: np.ndarray
    labels: np.ndarray
    segments: tuple[LabelledSegment, ...]
    name: str
    dt_us: int


def window_labels(segments: Sequence[LabelledSegment], n_windows: int, dt_us: int
                  ) -> np.ndarray:
    """``(n_windows,)`` int64: the class of the segment holding each window's end time
    ``(k+1) dt_us`` (``t_start_us <= t < t_end_us``), :data:`PAUSE` where none does."""
    ends = dt_us * np.arange(1, n_windows + 1, dtype=np.int64)
    out = np.full(n_windows, PAUSE, np.int64)
    for s in segments:
        out[(ends >= s.t_start_us) & (ends < s.t_end_us)] = s.label
    return out


def window_ages_ms(segments: Sequence[LabelledSegment], n_windows: int, dt_us: int
                   ) -> np.ndarray:
    """``(n_windows,)`` float64: ms from the start of the segment holding each window's
    end time ``(k+1) dt_us`` to that end, -1 where no segment holds it (a pause)."""
    ends = dt_us * np.arange(1, n_windows + 1, dtype=np.int64)
    out = np.full(n_windows, -1.0)
    for s in segments:
        inside = (ends >= s.t_start_us) & (ends < s.t_end_us)
        out[inside] = (ends[inside] - s.t_start_us) / 1000.0
    return out


def bin_stream(events: np.ndarray, segments: Sequence[LabelledSegment], input: InputSpec,
               dt_us: int, duration_us: int, name: str = "") -> StreamFrames:
    """Bin a whole recording from t = 0 into ``ceil(duration_us / dt_us)`` windows.

    Args:
        events: ``(N,)`` EVENT_DTYPE, time-ordered, t in µs from 0.
        segments: its labelled gestures.
        input: the model's input stage.
        dt_us: window length, µs.
        duration_us: length of the recording, µs.
        name: for messages.
    """
    n = -(-int(duration_us) // dt_us)
    # Binning anchors its grid at the first event's window (as the live windower
    # does, on the same lattice k * dt_us): windows before it are empty frames.
    k0 = min(n, int(events["t"][0]) // dt_us) if len(events) else n
    stage_shape = InputStage(input).shape
    parts = [np.zeros((k0, *stage_shape), np.float32)]
    if n > k0:
        parts.append(Binning(input, dt_us, n - k0).frames(events)[0])
    frames = np.concatenate(parts)
    return StreamFrames(pack_frames([frames])[0], window_labels(segments, n, dt_us),
                        tuple(segments), name, dt_us)


def clip_ends(stream: StreamFrames, spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """Window indices where clips end (``spec.per_segment`` per labelled segment).

    Each end is a window whose end time lies inside its segment; ``onset_fraction``
    of them within the segment's first ``onset_ms``.
    """
    dt = stream.dt_us
    k_max = len(stream.labels) - 1
    out = []
    for s in stream.segments:
        lo = max(0, -(-s.t_start_us // dt) - 1)  # first k with (k+1) dt >= start
        hi = min(k_max, -(-s.t_end_us // dt) - 2)  # last k with (k+1) dt < end
        if hi < lo:
            continue
        onset_hi = min(hi, lo + max(0, int(spec.onset_ms * 1000 // dt) - 1))
        for _ in range(spec.per_segment):
            top = onset_hi if rng.random() < spec.onset_fraction else hi
            out.append(int(rng.integers(lo, top + 1)))
    return np.asarray(out, np.int64)


@dataclass
class GestureClips:
    """Clips of continuous recordings (see the module docstring).

    Attributes:
        data: a :class:`FrameSet` of the clips, ``frames (N, T, C, H, W)``, ``labels``
            the class at each clip's last step.
        step_labels: ``(N, T)`` int64 class at every step's end, :data:`PAUSE` in pauses.
        t_end_us: ``(N,)`` end of each clip in its recording, µs.
        burn_in: steps at the start of each clip without loss.
        step_age_ms: ``(N, T)`` ms from the start of the gesture under way to every
            step's end, -1 in pauses (see :func:`window_ages_ms`).
    """

    data: FrameSet
    step_labels: np.ndarray
    t_end_us: np.ndarray
    burn_in: int
    step_age_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.step_labels)

    @property
    def loss_mask(self) -> np.ndarray:
        """``(N, T)`` bool: steps that carry a loss (after the burn-in, a gesture or a
        pause alike)."""
        mask = np.ones(self.step_labels.shape, np.bool_)
        mask[:, :self.burn_in] = False
        return mask


def cut_clips(streams: Sequence[StreamFrames], spec: ClipSpec, seed: int,
              input: InputSpec, classes: tuple[str, ...], source: str = "synthetic"
              ) -> GestureClips:
    """Cut clips from binned recordings at random offsets (deterministic by ``seed``).

    Args:
        streams: recordings binned with :func:`bin_stream` at ``spec.dt_us``.
        spec: how clips are cut.
        seed: the same seed gives the same clips.
        input: the input stage the streams were binned with (for the FrameSet).
        classes: class names.
        source: recorded in the FrameSet.
    """
    rng = np.random.default_rng(seed)
    shape = InputStage(input).shape
    frames, labels, steps, ages, ends, names = [], [], [], [], [], []
    t = spec.n_steps
    for st in streams:
        if st.dt_us != spec.dt_us:
            raise ValueError(f"{st.name}: binned at {st.dt_us} µs, clips want {spec.dt_us}")
        pad_f = np.concatenate([np.zeros((t - 1, *shape), st.frames.dtype), st.frames])
        pad_l = np.concatenate([np.full(t - 1, PAUSE, np.int64), st.labels])
        pad_a = np.concatenate([np.full(t - 1, -1.0),
                                window_ages_ms(st.segments, len(st.labels), st.dt_us)])
        for k in clip_ends(st, spec, rng):
            frames.append(pad_f[k:k + t])  # padded index k + t - 1 is window k
            steps.append(pad_l[k:k + t])
            ages.append(pad_a[k:k + t])
            labels.append(int(st.labels[k]))
            ends.append((int(k) + 1) * spec.dt_us)
            names.append(f"{st.name}@{(int(k) + 1) * spec.dt_us}")
    n = len(labels)
    data = FrameSet(
        frames=np.stack(frames) if n else np.zeros((0, t, *shape), np.uint8),
        labels=np.asarray(labels, np.int64),
        classes=tuple(classes),
        binning=Binning(input, spec.dt_us, t),
        names=names,
        n_events=np.zeros(n, np.int64),
        n_used=np.asarray([int(f.sum()) for f in frames], np.int64),
        source=source,
    )
    return GestureClips(data, np.stack(steps) if n else np.zeros((0, t), np.int64),
                        np.asarray(ends, np.int64), spec.burn_in,
                        np.stack(ages) if n else np.zeros((0, t)))
