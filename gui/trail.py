"""``EventTrail``: the event view's image, ON and OFF in two colours with a short trail.

A per-pixel time surface (the latest event time of each polarity) is updated with
one vectorised assignment per window (events are time-ordered, so the last write of a
pixel is its newest event); :meth:`EventTrail.render` turns it into an RGB image
where a pixel fades linearly from full colour to black over ``trail_us``. Its cost
per window is O(events) and per frame O(pixels) (a small numba kernel), never a
Python loop per event.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ON_RGB = np.array([255, 210, 60], np.float32)
"""Colour of ON (brighter) events: amber."""
OFF_RGB = np.array([70, 150, 255], np.float32)
"""Colour of OFF (darker) events: blue."""

_NEVER = np.iinfo(np.int64).min // 2


class EventTrail:
    """Latest event time per pixel and polarity, rendered as a fading RGB image.

    Args:
        sensor_size: ``(width, height, polarities)``.
        trail_us: fade time, µs (> 0).
    """

    def __init__(self, sensor_size: tuple[int, int, int], trail_us: int = 30_000) -> None:
        if trail_us <= 0:
            raise ValueError(f"trail_us must be > 0, got {trail_us}")
        w, h = int(sensor_size[0]), int(sensor_size[1])
        self.width, self.height = w, h
        self.trail_us = int(trail_us)
        self.last_t = np.full((2, h, w), _NEVER, np.int64)  # (polarity, y, x)

    def add(self, events: np.ndarray) -> None:
        """Take a window's time-ordered ``(N,)`` events (``p`` 0 = OFF, 1 = ON)."""
        if len(events):
            p = (events["p"] != 0).astype(np.intp)
            self.last_t[p, events["y"], events["x"]] = events["t"]

    def clear(self) -> None:
        self.last_t.fill(_NEVER)

    def render(self, t_now_us: int) -> np.ndarray:
        """``(H, W, 3)`` uint8 image at stream time ``t_now_us`` (row = y)."""
        out = np.empty((self.height, self.width, 3), np.uint8)
        _render(self.last_t, np.int64(t_now_us), np.int64(self.trail_us), ON_RGB, OFF_RGB, out)
        return out


@njit(cache=True, nogil=True)
def _render(last_t: np.ndarray, t_now: np.int64, trail: np.int64, on: np.ndarray,
            off: np.ndarray, out: np.ndarray) -> None:
    """``out[y, x]`` = ON colour x fade(ON age) + OFF colour x fade(OFF age), clipped."""
    h, w = out.shape[0], out.shape[1]
    inv = 1.0 / trail
    for y in range(h):
        for x in range(w):
            a_off = t_now - last_t[0, y, x]
            a_on = t_now - last_t[1, y, x]
            f_off = 1.0 - a_off * inv if 0 <= a_off < trail else 0.0
            f_on = 1.0 - a_on * inv if 0 <= a_on < trail else 0.0
            for c in range(3):
                v = f_on * on[c] + f_off * off[c]
                out[y, x, c] = 255 if v >= 255.0 else np.uint8(v)
