"""The 11 synthetic gestures move as their names say (streams/synthetic/gestures.py).

Each statistic here would flip or collapse if two classes were swapped: the side
of a wave, the turning direction of a rotation, one arm against both.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from spikestream.streams.events import concat
from spikestream.streams.gestures import GESTURE_CLASSES
from spikestream.streams.synthetic.gestures import MIRRORED_LABEL, pose, sample_motion
from spikestream.streams.synthetic.kinematics import SIDE, ik
from spikestream.streams.synthetic.render import Recording
from spikestream.streams.synthetic.scene import FOREARM, SHOULDER, UPPER_ARM

SEEDS = (0, 1, 2)


@cache
def _gesture(seed: int, label: int) -> tuple[Recording, np.ndarray]:
    """One 2 s gesture of class ``label``; returns the recording and its events."""
    rec = Recording(seed, gestures=[label], gesture_s=2.0, pause_s=0.3)
    ev = concat(list(rec.chunks()))
    seg = rec.segments()[0]
    return rec, ev[(ev["t"] >= seg.t_start_us) & (ev["t"] < seg.t_end_us)]


def _turning(ev: np.ndarray, cx: float, side: float, bin_us: int = 10_000) -> float:
    """Mean signed turning of the event centroid on one side of the body.

    Positive: clockwise as displayed (x right, y down).
    """
    e = ev[(ev["x"] - cx) * side > 0]
    b = (e["t"] - e["t"][0]) // bin_us
    n = np.bincount(b)
    ok = n >= 20
    mx = (np.bincount(b, e["x"]) / np.maximum(n, 1))[ok]
    my = (np.bincount(b, e["y"]) / np.maximum(n, 1))[ok]
    x, y = mx - mx.mean(), my - my.mean()
    return float(np.mean(x[:-1] * np.diff(y) - y[:-1] * np.diff(x)))


@pytest.mark.parametrize("seed", SEEDS)
def test_rotations_turn_the_named_way_on_the_named_side(seed: int) -> None:
    for label in (3, 4, 5, 6):
        name = GESTURE_CLASSES[label]
        side = 1.0 if name.startswith("right") else -1.0
        clockwise = "counter" not in name
        rec, ev = _gesture(seed, label)
        cx = rec.look.person.cx
        on_side = np.mean((ev["x"] - cx) * side > 0)
        assert on_side > 0.8, (name, on_side)
        turning = _turning(ev, cx, side)
        assert (turning > 0) == clockwise, (name, turning)
        assert abs(turning) > 0.3, (name, turning)


@pytest.mark.parametrize("seed", SEEDS)
def test_waves_are_on_their_side_and_above_the_shoulder(seed: int) -> None:
    for label, side in ((1, 1.0), (2, -1.0)):
        rec, ev = _gesture(seed, label)
        person = rec.look.person
        on = ev[ev["p"] == 1]
        assert (on["x"].mean() - person.cx) * side > 15, GESTURE_CLASSES[label]
        # the hand swings above the shoulder line: many events there
        shoulder_y = person.cy + person.scale * SHOULDER[0, 1]
        assert np.mean(ev["y"] < shoulder_y) > 0.3


def test_two_handed_gestures_move_both_sides_and_drums_play_low() -> None:
    rec, clap = _gesture(0, 0)
    cx = rec.look.person.cx
    for label in (0, 7, 8):
        rec, ev = _gesture(0, label)
        right = np.mean(ev["x"] > rec.look.person.cx)
        assert 0.25 < right < 0.75, (GESTURE_CLASSES[label], right)
    _, wave = _gesture(0, 1)
    _, drums = _gesture(0, 8)
    assert drums["y"].mean() > wave["y"].mean() + 20
    assert drums["y"].mean() > clap["y"].mean()
    assert abs(clap["x"].mean() - cx) < 10


def test_air_guitar_strums_fast_at_the_hip() -> None:
    for seed in SEEDS:
        rec = Recording(seed, gestures=[9], gesture_s=3.0)
        motion = rec.timeline.segments()[0].motion
        strum = int(motion.params["strum_arm"])
        t = np.linspace(0.5, 2.5, 400)
        _, hands = pose(motion, t)
        # the strumming hand moves more, and lower, than the hand on the neck
        assert np.ptp(hands[:, strum, 1]) > 2 * np.ptp(hands[:, 1 - strum, 1])
        assert hands[:, strum, 1].mean() > hands[:, 1 - strum, 1].mean() + 15
        assert motion.params["period_s"] <= 0.6


def test_other_is_not_periodic_and_each_motion_depends_only_on_its_seed() -> None:
    a = sample_motion(10, 4.0, np.random.default_rng(5))
    b = sample_motion(10, 4.0, np.random.default_rng(5))
    t = np.linspace(0, 4, 300)
    assert np.array_equal(pose(a, t)[1], pose(b, t)[1])
    c = sample_motion(10, 4.0, np.random.default_rng(6))
    assert not np.array_equal(pose(a, t)[1], pose(c, t)[1])
    # "other" follows waypoints at irregular intervals
    gaps = np.diff(a.params["times0"])
    assert gaps.std() > 0.05


@pytest.mark.parametrize("label", range(len(GESTURE_CLASSES)))
def test_every_gesture_eases_from_and_back_to_rest(label: int) -> None:
    m = sample_motion(label, 3.0, np.random.default_rng(label))
    elbows, hands = pose(m, np.array([0.0, 1.5, 3.0]))
    rest_e, rest_h = pose(m, np.array([0.0]))
    assert np.allclose(hands[0], hands[2]) and np.allclose(hands[0], rest_h[0])
    assert not np.allclose(hands[1], hands[0])
    assert m.name == GESTURE_CLASSES[label]


def test_ik_keeps_the_limb_lengths() -> None:
    rng = np.random.default_rng(0)
    hands = SHOULDER + rng.uniform(-25, 25, (200, 2, 2))
    for bend in (-1.0, 1.0):
        elbows, reached = ik(hands, np.array([bend, bend]))
        upper = np.linalg.norm(elbows - SHOULDER, axis=-1)
        fore = np.linalg.norm(reached - elbows, axis=-1)
        far = np.linalg.norm(hands - SHOULDER, axis=-1) > 16.0  # nearer, the arm foreshortens
        assert np.allclose(upper[far], UPPER_ARM) and np.allclose(fore[far], FOREARM)
    # bend +1 puts a raised arm's elbow outward (away from the body)
    raised = np.array([[[17 + 20.0, -20.0], [-17 - 20.0, -20.0]]])
    elbows, _ = ik(raised, np.array([1.0, 1.0]))
    for arm in range(2):
        mid = (SHOULDER[arm] + raised[0, arm]) / 2
        assert (elbows[0, arm, 0] - mid[0]) * SIDE[arm] > 0


def test_mirrored_labels_swap_sides_and_turning() -> None:
    for label, mirror in enumerate(MIRRORED_LABEL):
        assert MIRRORED_LABEL[mirror] == label
        name, other = GESTURE_CLASSES[label], GESTURE_CLASSES[mirror]
        swapped = name.replace("right", "@").replace("left", "right").replace("@", "left")
        if "arm" in name and "clockwise" in name:
            swapped = (
                swapped.replace("counter-clockwise", "@").replace("clockwise", "counter-clockwise")
            ).replace("@", "clockwise")
        assert other == swapped


def test_unknown_label_is_refused() -> None:
    with pytest.raises(ValueError, match="0..10"):
        sample_motion(11, 3.0, np.random.default_rng(0))
