"""Arm kinematics of the synthetic person, seen from the front (the camera).

Joints are in body units relative to the middle of the shoulder line (see
:mod:`.scene`), arrays ``(K, arm, xy)`` with arm 0 on the image right and arm 1
on the image left.
"""

from __future__ import annotations

import numpy as np

from .scene import FOREARM, SHOULDER, UPPER_ARM

SIDE = np.array([1.0, -1.0])
"""x direction of arm 0 (image right) and arm 1 (image left)."""

REST_HANDS = np.array([[21.0, 41.0], [-21.0, 41.0]])
"""Hands hanging by the hips, body units."""


def smoothstep(x: np.ndarray) -> np.ndarray:
    """``3x^2 - 2x^3`` of ``x`` clipped to ``[0, 1]``: an eased 0 -> 1 ramp."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def rest_pose(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(elbows, hands)`` ``(K, 2, 2)`` of the rest pose (new arrays)."""
    return np.repeat(_REST[0], k, axis=0), np.repeat(_REST[1], k, axis=0)


def ik(hands: np.ndarray, bend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elbows of two-link arms reaching for ``hands (K, 2, 2)``, seen from the front.

    A hand nearer to its shoulder than the arm's length is reached either by
    bending the elbow in the image plane or by pointing the arm towards the
    camera (foreshortened). ``bend[arm]`` in ``[-1, 1]`` blends the two:
    ``+1`` bends the elbow to the outer/lower side of the shoulder-hand line for
    raised arms, ``-1`` to the other side, ``0`` keeps the elbow on the line
    (foreshortened). Within ~16 body units of the shoulder the bend fades to 0,
    so the elbow moves smoothly when the hand passes near the shoulder.
    Hands out of reach are pulled in. Returns ``(elbows, hands)``.
    """
    elbows = np.empty_like(hands)
    out_hands = np.empty_like(hands)
    lo, hi = abs(UPPER_ARM - FOREARM) + 1e-3, UPPER_ARM + FOREARM - 1e-3
    for arm in range(2):
        v = hands[:, arm] - SHOULDER[arm]
        d = np.hypot(v[:, 0], v[:, 1])
        u = np.where(d[:, None] > 1e-9, v / np.maximum(d, 1e-9)[:, None], [0.0, 1.0])
        d = np.minimum(d, hi)
        dc = np.maximum(d, lo)
        a = (UPPER_ARM**2 - FOREARM**2 + dc**2) / (2 * dc)
        h = np.sqrt(np.maximum(UPPER_ARM**2 - a**2, 0.0))
        # a hand seen near its shoulder is an arm pointing at the camera: fade the
        # in-plane bend out there, so the elbow never sweeps round the shoulder
        b = float(bend[arm]) * smoothstep((d - 4.0) / 12.0)
        along = np.abs(b) * a + (1 - np.abs(b)) * d * UPPER_ARM / (UPPER_ARM + FOREARM)
        perp = SIDE[arm] * np.stack([-u[:, 1], u[:, 0]], axis=-1)
        elbows[:, arm] = SHOULDER[arm] + along[:, None] * u + (b * h)[:, None] * perp
        out_hands[:, arm] = SHOULDER[arm] + d[:, None] * u
    return elbows, out_hands


_REST = ik(REST_HANDS[None].copy(), np.array([-1.0, -1.0]))
