"""Render a synthetic gesture recording as a stream of event chunks.

:meth:`Recording.chunks` is the engine: per block of ``block_us`` it poses the
person at every internal step (:mod:`.gestures`), draws the frames
(:mod:`.scene`), draws the noise (:mod:`.noise`) and runs the pixel model
(:mod:`.simulator`). Memory is bounded by one block, so the stream may be
unbounded. Any ``block_us`` gives the same events: the frames and the noise are
pure functions of time and seed, and the pixel state is carried across blocks.

:func:`render_recording` returns a whole finite recording at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..events import EVENT_DTYPE, SensorSize, concat
from ..source import LabelledSegment
from . import seeding
from .gestures import pose
from .kinematics import rest_pose
from .noise import NoiseModel
from .scene import Person, make_background, render_frames
from .simulator import PixelConfig, pixel_init, pixel_step, sensor_shape
from .timeline import Timeline

DEFAULT_SENSOR: SensorSize = (128, 128, 2)
DEFAULT_BLOCK_US = 20_000
"""Events are produced in blocks of this many µs (one chunk each)."""


@dataclass(frozen=True)
class Look:
    """What a recording looks like.

    Attributes:
        person: placement, size and contrasts of the person.
        background: ``(H, W)`` float32 log intensity of the wall with the body on it.
        edge_px: width of the soft edges, pixels.
    """

    person: Person
    background: np.ndarray
    edge_px: float


def random_look(seed: int, shape: tuple[int, int]) -> Look:
    """Person placement, size and contrasts and a background texture for ``seed``.

    Args:
        shape: ``(H, W)``; the person is scaled with ``min(H, W) / 128``.
    """
    rng = seeding.rng_for(seed, seeding.SCENE)
    h, w = shape
    k = min(h, w) / 128
    contrast = rng.uniform(0.8, 1.4)
    torso = contrast * rng.uniform(0.3, 0.8) * (1.0 if rng.random() < 0.8 else -1.0)
    arm = torso + contrast * rng.uniform(0.2, 0.45) * rng.choice([-1.0, 1.0])
    skin = contrast * rng.uniform(0.6, 1.1)
    person = Person(
        cx=w / 2 + k * rng.uniform(-8.0, 8.0),
        cy=h * 0.37 + k * rng.uniform(-5.0, 5.0),
        scale=k * rng.uniform(1.0, 1.25),
        torso=torso,
        arm=arm,
        forearm=arm if rng.random() < 0.5 else skin,
        skin=skin,
        shade=contrast * rng.uniform(0.15, 0.35),
        texture=contrast * rng.uniform(0.2, 0.4),
        texture_px=k * rng.uniform(3.5, 7.0),
    )
    wall = make_background(rng, shape, 0.0, contrast * rng.uniform(0.2, 0.4))
    edge_px = k * rng.uniform(1.0, 2.0)
    background = render_frames(wall, person.body_shapes(), edge_px)[0]
    return Look(person, background, edge_px)


def random_pixel_config(seed: int) -> PixelConfig:
    """Thresholds, refractory period and noise levels drawn for ``seed``.

    The ranges follow DVS128 recordings: thresholds 0.1-0.2 (log units; the
    DVS128 is specified near 15 % contrast), a few hundred µs of refractory
    period, 0.03-0.25 Hz of background activity per pixel (the quiet shared
    recordings show ~3 events/ms on 128x128) and a few hot pixels. With these,
    gestures fire ~25-50 events/ms on average (10-100 per gesture), like the
    busy shared DVS128 recordings (30-65).
    """
    rng = seeding.rng_for(seed, seeding.PIXELS, 0)
    thr = rng.uniform(0.1, 0.2)
    return PixelConfig(
        thr_on=thr * rng.uniform(0.9, 1.1),
        thr_off=thr * rng.uniform(0.9, 1.1),
        thr_sigma=rng.uniform(0.015, 0.03),
        refractory_us=int(rng.integers(200, 800)),
        ba_rate_hz=float(np.exp(rng.uniform(np.log(0.03), np.log(0.25)))),
        n_hot_pixels=int(rng.integers(1, 7)),
        hot_rate_hz=rng.uniform(20.0, 150.0),
    )


class Recording:
    """A synthetic recording: its schedule, look and pixel model.

    Args:
        seed: the recording seed; everything random follows from it.
        duration_s: length in seconds; None: as long as the gestures (when
            ``gestures`` or ``n_gestures`` is given), else unbounded.
        gestures, classes, n_gestures, gesture_s, pause_s: see :class:`.timeline.Timeline`.
        sensor_size: ``(width, height, 2)``.
        pixel: pixel model constants; None draws them from the seed.
        pixel_overrides: fields of the pixel config to set after drawing.
    """

    def __init__(
        self,
        seed: int = 0,
        duration_s: float | None = None,
        *,
        gestures: Sequence[int] | None = None,
        classes: Sequence[int] | None = None,
        n_gestures: int | None = None,
        gesture_s: float | Sequence[float] = (3.0, 6.0),
        pause_s: float | Sequence[float] = (0.5, 1.5),
        sensor_size: SensorSize = DEFAULT_SENSOR,
        pixel: PixelConfig | None = None,
        pixel_overrides: dict | None = None,
    ) -> None:
        self.seed = seeding.check_seed(seed)
        if duration_s is not None and not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        if len(sensor_size) != 3 or min(sensor_size[:2]) < 16 or sensor_size[2] != 2:
            raise ValueError(f"sensor_size must be (width>=16, height>=16, 2), got {sensor_size}")
        self.sensor_size: SensorSize = tuple(int(v) for v in sensor_size)  # type: ignore[assignment]
        self.shape = sensor_shape(self.sensor_size)
        self.timeline = Timeline(
            seed,
            gestures,
            classes,
            n_gestures,
            gesture_s,
            pause_s,
            end_us=None if duration_s is None else round(duration_s * 1e6),
        )
        config = pixel if pixel is not None else random_pixel_config(seed)
        self.pixel = replace(config, **(pixel_overrides or {}))
        self.look = random_look(seed, self.shape)
        self.rendered_until_us = 0
        """End of the last block yielded by :meth:`chunks` (µs)."""

    @property
    def end_us(self) -> int | None:
        """End of the recording in µs (None: unbounded)."""
        return self.timeline.end_us

    def segments(self, t_until_us: int | None = None) -> tuple[LabelledSegment, ...]:
        """Labelled gestures (those starting before ``t_until_us``, or all if bounded)."""
        return tuple(s.labelled() for s in self.timeline.segments(t_until_us))

    def log_frames(self, t_us: np.ndarray, touched: np.ndarray | None = None) -> np.ndarray:
        """Log-intensity frames ``(K, H, W)`` float32 of the scene at times ``t_us (K,)``.

        ``touched`` (optional ``(H, W)`` bool) is set where a frame differs from
        the still background (see :func:`.scene.render_frames`).
        """
        t_us = np.asarray(t_us, dtype=np.int64)
        elbows, hands = rest_pose(len(t_us))
        if len(t_us):
            for seg in self.timeline.overlapping(int(t_us.min()), int(t_us.max()) + 1):
                m = (t_us > seg.t_start_us) & (t_us < seg.motion_end_us)
                if m.any():
                    elbows[m], hands[m] = pose(seg.motion, (t_us[m] - seg.t_start_us) * 1e-6)
        shapes = self.look.person.arm_shapes(elbows, hands)
        return render_frames(self.look.background, shapes, self.look.edge_px, touched)

    def chunks(self, block_us: int = DEFAULT_BLOCK_US) -> Iterator[np.ndarray]:
        """Yield the events block by block (one chunk of :data:`EVENT_DTYPE` per block)."""
        dt = self.pixel.dt_us
        if block_us < dt or block_us % dt:
            raise ValueError(f"block_us must be a positive multiple of dt_us={dt}, got {block_us}")
        steps = block_us // dt
        noise = NoiseModel(self.seed, self.shape, self.pixel)
        state = pixel_init(
            self.log_frames(np.zeros(1, np.int64))[0],
            self.pixel,
            seeding.rng_for(self.seed, seeding.PIXELS, 2),
        )
        t0 = 0
        end = self.end_us
        while end is None or t0 < end:
            k = steps if end is None else min(steps, -(-(end - t0) // dt))
            touched = np.zeros(self.shape, dtype=np.bool_)
            frames = self.log_frames(t0 + dt * np.arange(1, k + 1, dtype=np.int64), touched)
            moving = touched | (state.log_prev != frames[0])
            t1 = t0 + k * dt
            ev, state = pixel_step(frames, t0, state, self.pixel, noise.events(t0, t1), moving)
            if end is not None and t1 > end:
                ev = ev[ev["t"] < end]
            self.rendered_until_us = min(t1, end) if end is not None else t1
            yield ev
            t0 = t1


def iter_recording(
    seed: int = 0, block_us: int = DEFAULT_BLOCK_US, **kwargs
) -> Iterator[np.ndarray]:
    """Event chunks of ``Recording(seed, **kwargs)``, one per ``block_us``."""
    return Recording(seed, **kwargs).chunks(block_us)


def render_recording(
    seed: int = 0,
    gestures: Sequence[int] | None = None,
    n_gestures: int | None = None,
    gesture_s: float | Sequence[float] = (3.0, 6.0),
    pause_s: float | Sequence[float] = (0.5, 1.5),
    duration_s: float | None = None,
    block_us: int = DEFAULT_BLOCK_US,
    **kwargs,
) -> tuple[np.ndarray, tuple[LabelledSegment, ...]]:
    """Render one finite continuous recording: gestures one after the other.

    Args:
        seed: the recording seed.
        gestures: classes to perform in order, or None for ``n_gestures`` drawn
            from ``classes`` (keyword, default all 11).
        n_gestures: how many gestures (default 3 when neither ``gestures`` nor
            ``duration_s`` is given).
        gesture_s: gesture duration (s) or ``(low, high)``.
        pause_s: idle pause before each gesture and after the last, s or range.
        duration_s: fixed length instead (gestures that do not fit are cut).
        block_us: rendering block (does not change the events).
        **kwargs: more :class:`Recording` arguments (``classes``, ``pixel``,
            ``sensor_size``, ``pixel_overrides``).

    Returns:
        ``(events, segments)``: ``(N,)`` :data:`EVENT_DTYPE` time-ordered, t in µs
        from 0; the labelled gestures.
    """
    if gestures is None and n_gestures is None and duration_s is None:
        n_gestures = 3
    rec = Recording(
        seed,
        duration_s,
        gestures=gestures,
        n_gestures=n_gestures,
        gesture_s=gesture_s,
        pause_s=pause_s,
        **kwargs,
    )
    events = concat(list(rec.chunks(block_us)))
    assert events.dtype == EVENT_DTYPE
    return events, rec.segments()
