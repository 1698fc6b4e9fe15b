"""The motions of the 11 DVS Gesture classes, as arm poses over time.

Convention (camera's view, documented once here): "right" and "left" name the
side of the *image* the moving arm is seen on (right = larger x), and
"clockwise" is clockwise as the image is displayed (x right, y down). Mirroring
a recording (``x -> W - 1 - x``) swaps right and left and reverses every
rotation: :data:`MIRRORED_LABEL` maps each class to its mirror image, for users
whose real data follows the subject's own left and right.

A motion is a pure function of the time since the gesture began, so any time
can be rendered without rendering what came before. Each gesture eases in from
the rest pose (hands hanging by the hips) and back to it at its end, so the
pauses between gestures are still. Per gesture, period, amplitude, phase, tempo
jitter and placement are drawn from the gesture's own generator.

Poses are in body units (see :mod:`.scene`): arm 0 on the image right, arm 1 on
the image left; joints ``(K, arm, xy)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..gestures import GESTURE_CLASSES
from .kinematics import REST_HANDS, SIDE, ik, rest_pose, smoothstep
from .scene import FOREARM, SHOULDER, UPPER_ARM

MIRRORED_LABEL: tuple[int, ...] = (0, 2, 1, 6, 5, 4, 3, 7, 8, 9, 10)
"""Class of the mirror image (x flipped) of each class."""

Params = dict[str, float | np.ndarray]
MotionFn = Callable[[np.ndarray, Params], tuple[np.ndarray, np.ndarray | None, np.ndarray]]


@dataclass(frozen=True, eq=False)
class Motion:
    """One gesture's motion.

    Attributes:
        label: 0-based class (index into ``GESTURE_CLASSES``).
        duration_s: length of the gesture, including easing in and out.
        ease_in_s, ease_out_s: time to move from and back to the rest pose.
        params: the class's parameters (period, amplitude, placement...).
    """

    label: int
    duration_s: float
    ease_in_s: float
    ease_out_s: float
    params: Params = field(default_factory=dict)

    @property
    def name(self) -> str:
        return GESTURE_CLASSES[self.label]


def pose(motion: Motion, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(elbows, hands)`` ``(K, 2, 2)`` at times ``t_s (K,)`` since the gesture began."""
    t = np.asarray(t_s, dtype=np.float64)
    hands, elbows, bend = _MOTIONS[motion.label](t, motion.params)
    if elbows is None:
        elbows, hands = ik(hands, bend)
    rest_e, rest_h = rest_pose(len(t))
    w = smoothstep(t / motion.ease_in_s) * smoothstep((motion.duration_s - t) / motion.ease_out_s)
    w = w[:, None, None]
    return rest_e + w * (elbows - rest_e), rest_h + w * (hands - rest_h)


def sample_motion(label: int, duration_s: float, rng: np.random.Generator) -> Motion:
    """Draw the parameters of one gesture of class ``label``."""
    if not 0 <= label < len(GESTURE_CLASSES):
        raise ValueError(f"gesture label must be in 0..{len(GESTURE_CLASSES) - 1}, got {label}")
    ease = min(0.45, duration_s / 4)
    p: Params = {
        "phase": rng.uniform(0.0, 1.0),
        "jitter": rng.uniform(0.0, 0.2),
        "jitter_period_s": rng.uniform(1.5, 4.0),
        "jitter_phase": rng.uniform(0.0, 2 * np.pi),
        "amp": rng.uniform(0.8, 1.2),
        "dx": rng.uniform(-3.0, 3.0),
        "dy": rng.uniform(-3.0, 3.0),
    }
    p.update(_SAMPLERS[label](rng, duration_s))
    return Motion(label, duration_s, ease * rng.uniform(0.7, 1.0), ease * rng.uniform(0.7, 1.0), p)


def _phase(t: np.ndarray, p: Params, period_key: str = "period_s") -> np.ndarray:
    """Cycles done at ``t``: ``t / T`` plus a slow tempo wobble that keeps it increasing."""
    period, tj = float(p[period_key]), float(p["jitter_period_s"])
    wobble = float(p["jitter"]) * tj / (2 * np.pi * period)
    return t / period + float(p["phase"]) + wobble * np.sin(2 * np.pi * t / tj + p["jitter_phase"])


def _hands(k: int) -> np.ndarray:
    return np.broadcast_to(REST_HANDS, (k, 2, 2)).copy()


def _offset(p: Params) -> np.ndarray:
    return np.array([p["dx"], p["dy"]])


# --- hand clap: both hands meet in front of the chest, periodically -----------------


def _clap_params(rng: np.random.Generator, duration_s: float) -> Params:
    return {
        "period_s": rng.uniform(0.45, 1.0),
        "y": rng.uniform(20.0, 28.0),
        "open": rng.uniform(13.0, 20.0),
    }


def _clap(t: np.ndarray, p: Params):
    ph = 2 * np.pi * _phase(t, p)
    half_gap = 4.5 + (p["open"] * p["amp"] - 4.5) * (0.5 + 0.5 * np.cos(ph))
    c = np.array([0.0, p["y"]]) + _offset(p)
    hands = np.empty((len(t), 2, 2))
    for arm in range(2):
        hands[:, arm, 0] = c[0] + SIDE[arm] * half_gap
        hands[:, arm, 1] = c[1] + 1.5 * np.sin(ph)
    return hands, None, np.array([-1.0, -1.0])


# --- hand waves: forearm swinging about the raised elbow, on one side -----------------


def _wave_params(rng: np.random.Generator, duration_s: float) -> Params:
    return {
        "period_s": rng.uniform(0.5, 1.1),
        "elevation": rng.uniform(0.1, 0.6),
        "tilt": rng.uniform(-0.1, 0.3),
        "swing": rng.uniform(0.45, 0.8),
        "elbow_swing": rng.uniform(0.05, 0.2),
    }


def _wave(arm: int) -> MotionFn:
    def motion(t: np.ndarray, p: Params):
        side = SIDE[arm]
        osc = np.sin(2 * np.pi * _phase(t, p))
        elbows, hands = rest_pose(len(t))
        lift = p["elevation"] - p["elbow_swing"] * osc
        elbows[:, arm, 0] = SHOULDER[arm, 0] + side * UPPER_ARM * np.cos(lift) + 0.5 * p["dx"]
        elbows[:, arm, 1] = SHOULDER[arm, 1] + UPPER_ARM * np.sin(lift) + 0.5 * p["dy"]
        theta = p["tilt"] + p["swing"] * p["amp"] * osc
        hands[:, arm, 0] = elbows[:, arm, 0] + FOREARM * side * np.sin(theta)
        hands[:, arm, 1] = elbows[:, arm, 1] - FOREARM * np.cos(theta)
        return hands, elbows, np.array([-1.0, -1.0])

    return motion


# --- arm rotations: the hand circles beside the shoulder ------------------------------


def _circle_params(rng: np.random.Generator, duration_s: float) -> Params:
    return {
        "period_s": rng.uniform(0.7, 1.6),
        "out": rng.uniform(9.0, 16.0),
        "down": rng.uniform(0.0, 10.0),
        "radius": rng.uniform(13.0, 17.0),
        "bend": rng.uniform(0.1, 0.35),
    }


def _circle(arm: int, clockwise: bool) -> MotionFn:
    direction = 1.0 if clockwise else -1.0  # y points down: increasing angle is clockwise

    def motion(t: np.ndarray, p: Params):
        hands = _hands(len(t))
        c = SHOULDER[arm] + np.array([SIDE[arm] * p["out"], p["down"]]) + _offset(p)
        a = direction * 2 * np.pi * _phase(t, p)
        r = p["radius"] * p["amp"]
        hands[:, arm, 0] = c[0] + r * np.cos(a)
        hands[:, arm, 1] = c[1] + r * np.sin(a)
        bend = np.array([-1.0, -1.0])
        bend[arm] = p["bend"]
        return hands, None, bend

    return motion


# --- arm roll: forearms rolling around each other in front of the chest ---------------


def _roll_params(rng: np.random.Generator, duration_s: float) -> Params:
    return {
        "period_s": rng.uniform(0.4, 0.9),
        "y": rng.uniform(22.0, 32.0),
        "gap": rng.uniform(3.0, 7.0),
        "ry": rng.uniform(6.0, 9.0),
        "rx": rng.uniform(2.0, 4.0),
        "direction": float(rng.choice([-1.0, 1.0])),
    }


def _roll(t: np.ndarray, p: Params):
    a = p["direction"] * 2 * np.pi * _phase(t, p)
    c = np.array([0.0, p["y"]]) + _offset(p)
    hands = np.empty((len(t), 2, 2))
    for arm in range(2):
        b = a + np.pi * arm
        hands[:, arm, 0] = c[0] + SIDE[arm] * p["gap"] + p["rx"] * np.cos(b)
        hands[:, arm, 1] = c[1] + p["ry"] * p["amp"] * np.sin(b)
    return hands, None, np.array([-1.0, -1.0])


# --- air drums: both hands strike down low, alternately -------------------------------


def _drums_params(rng: np.random.Generator, duration_s: float) -> Params:
    return {
        "period_s": rng.uniform(0.5, 1.0),
        "y": rng.uniform(36.0, 42.0),
        "x": rng.uniform(9.0, 16.0),
        "lift": rng.uniform(9.0, 14.0),
        "drift_period_s": rng.uniform(1.5, 3.0),
    }


def _drums(t: np.ndarray, p: Params):
    ph = _phase(t, p)
    hands = np.empty((len(t), 2, 2))
    drift = 2.5 * np.sin(2 * np.pi * t / p["drift_period_s"])
    for arm in range(2):
        strike = np.abs(np.sin(np.pi * (ph + 0.5 * arm))) ** 0.8
        hands[:, arm, 0] = p["dx"] + SIDE[arm] * (p["x"] + drift)
        hands[:, arm, 1] = p["y"] + p["dy"] - p["lift"] * p["amp"] * strike
    return hands, None, np.array([-1.0, -1.0])


# --- air guitar: one hand strums at the hip, the other holds the neck out -------------


def _guitar_params(rng: np.random.Generator, duration_s: float) -> Params:
    return {
        "period_s": rng.uniform(0.3, 0.6),
        "strum_arm": float(rng.integers(0, 2)),
        "hip_x": rng.uniform(3.0, 10.0),
        "hip_y": rng.uniform(34.0, 40.0),
        "strum": rng.uniform(5.0, 8.0),
        "reach": rng.uniform(17.0, 22.0),
        "neck_y": rng.uniform(2.0, 12.0),
        "slide_period_s": rng.uniform(1.2, 2.5),
    }


def _guitar(t: np.ndarray, p: Params):
    s_arm = int(p["strum_arm"])
    f_arm = 1 - s_arm
    ph = 2 * np.pi * _phase(t, p)
    hands = np.empty((len(t), 2, 2))
    hands[:, s_arm, 0] = SIDE[s_arm] * p["hip_x"] + 1.5 * np.cos(ph) + p["dx"]
    hands[:, s_arm, 1] = p["hip_y"] + p["strum"] * p["amp"] * np.sin(ph) + p["dy"]
    slide = np.sin(2 * np.pi * t / p["slide_period_s"])
    hands[:, f_arm, 0] = SHOULDER[f_arm, 0] + SIDE[f_arm] * (p["reach"] + 3.0 * slide)
    hands[:, f_arm, 1] = p["neck_y"] + 1.0 * slide
    bend = np.array([-1.0, -1.0])
    bend[f_arm] = 1.0
    return hands, None, bend


# --- other: random, non-periodic movements of one or both hands ------------------------


def _other_params(rng: np.random.Generator, duration_s: float) -> Params:
    p: Params = {"period_s": 1.0}
    moving = [0, 1] if rng.random() < 0.6 else [int(rng.integers(0, 2))]
    for arm in range(2):
        times = [0.0]
        while times[-1] < duration_s:
            times.append(times[-1] + rng.uniform(0.3, 0.9))
        n = len(times)
        pts = np.broadcast_to(REST_HANDS[arm], (n, 2)).copy()
        if arm in moving:
            ang = rng.uniform(-0.5 * np.pi, 0.5 * np.pi, n)  # from straight down, outward
            dist = rng.uniform(12.0, 38.0, n)
            pts[:, 0] = SHOULDER[arm, 0] + SIDE[arm] * dist * np.sin(ang) * rng.uniform(0.3, 1.0, n)
            pts[:, 1] = SHOULDER[arm, 1] + dist * np.cos(ang) * rng.choice(
                [-1.0, 1.0], n, p=[0.3, 0.7]
            )
            still = rng.random(n) < 0.2
            pts[still] = REST_HANDS[arm]
        p[f"times{arm}"] = np.asarray(times)
        p[f"points{arm}"] = pts
        p[f"bend{arm}"] = float(rng.choice([-1.0, 1.0]))
    return p


def _other(t: np.ndarray, p: Params):
    hands = np.empty((len(t), 2, 2))
    for arm in range(2):
        times, pts = p[f"times{arm}"], p[f"points{arm}"]
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        f = smoothstep((t - times[i]) / (times[i + 1] - times[i]))[:, None]
        hands[:, arm] = pts[i] + f * (pts[i + 1] - pts[i])
    return hands, None, np.array([p["bend0"], p["bend1"]])


_SAMPLERS: tuple[Callable[[np.random.Generator, float], Params], ...] = (
    _clap_params,
    _wave_params,
    _wave_params,
    _circle_params,
    _circle_params,
    _circle_params,
    _circle_params,
    _roll_params,
    _drums_params,
    _guitar_params,
    _other_params,
)
_MOTIONS: tuple[MotionFn, ...] = (
    _clap,
    _wave(0),
    _wave(1),
    _circle(0, True),
    _circle(0, False),
    _circle(1, True),
    _circle(1, False),
    _roll,
    _drums,
    _guitar,
    _other,
)
