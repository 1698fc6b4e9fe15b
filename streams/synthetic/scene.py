"""The scene in front of the synthetic camera: a textured wall and a person.

Everything is drawn in log intensity (the pixel model's input). The person is a
set of soft-edged capsules (a segment with a radius; a blob is a capsule of
length zero) composited in painter's order over a static background:
torso, shoulders, neck, head, then per arm the upper arm, the forearm and the
hand. Poses come in *body units* relative to the middle of the shoulder line
(x to the image right, y down, one unit = one pixel at ``scale == 1`` on a
128x128 sensor); :class:`Person` turns them into pixels.

Convention (camera's view): arm index 0 is the arm seen on the image's right
(larger x), index 1 the one on the image's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

SHOULDER = np.array([[17.0, 3.0], [-17.0, 3.0]])
"""Shoulder joints ``(arm, xy)`` in body units (arm 0 on the image right)."""
UPPER_ARM = 21.0
"""Shoulder to elbow, body units."""
FOREARM = 19.0
"""Elbow to hand centre, body units."""

SHAPE_FIELDS = 10
"""Per capsule: ``x0, y0, x1, y1, radius, value, shade, texture, texture_k, texture_phase``."""


@dataclass(frozen=True)
class Person:
    """Where the person stands and how they look.

    The body (torso, shoulders, neck, head) stands still, so between gestures
    only noise fires; :meth:`body_shapes` is drawn once into the background and
    only the arms (:meth:`arm_shapes`) are drawn per frame.

    Attributes:
        cx, cy: middle of the shoulder line in pixels.
        scale: pixels per body unit.
        torso, arm, forearm, skin: log intensities of clothes, sleeves,
            forearms and skin (head, hands).
        shade: brightness of the middle of a limb over its rim (round limbs).
        texture: amplitude of the pattern (folds, print) on clothes.
        texture_px: its period, pixels.
    """

    cx: float
    cy: float
    scale: float
    torso: float
    arm: float
    forearm: float
    skin: float
    shade: float = 0.0
    texture: float = 0.0
    texture_px: float = 6.0

    def body_shapes(self) -> np.ndarray:
        """``(1, 4, SHAPE_FIELDS)`` float32 capsules of torso, shoulders, neck and head."""
        out = np.zeros((1, 4, SHAPE_FIELDS))
        self._put(out, 0, (0.0, 16.0), (0.0, 80.0), 16.0, self.torso, 0.5 * self.texture)
        self._put(out, 1, (-14.0, 6.0), (14.0, 6.0), 7.0, self.torso)
        self._put(out, 2, (0.0, -8.0), (0.0, 2.0), 4.5, self.skin)
        self._put(out, 3, (0.0, -18.0), (0.0, -16.0), 9.5, self.skin)
        return out.astype(np.float32)

    def arm_shapes(self, elbows: np.ndarray, hands: np.ndarray) -> np.ndarray:
        """Capsules of both arms for ``K`` frames.

        Args:
            elbows, hands: ``(K, 2, 2)`` joints ``(frame, arm, xy)`` in body units.

        Returns:
            ``(K, 6, SHAPE_FIELDS)`` float32 capsules (see :func:`render_frames`):
            per arm the upper arm, the forearm and the hand.
        """
        out = np.zeros((len(elbows), 6, SHAPE_FIELDS))
        sleeve = self.texture if self.forearm == self.arm else 0.0
        for arm in range(2):
            i = 3 * arm
            self._put(out, i, SHOULDER[arm], elbows[:, arm], 5.5, self.arm, self.texture, arm)
            self._put(out, i + 1, elbows[:, arm], hands[:, arm], 4.8, self.forearm, sleeve, arm)
            self._put(out, i + 2, hands[:, arm], hands[:, arm], 6.0, self.skin)
        return out.astype(np.float32)

    def _put(self, out, i, a, b, r: float, v: float, tex: float = 0.0, ph: float = 0.0) -> None:
        off = np.array([self.cx, self.cy])
        out[:, i, 0:2] = off + self.scale * np.asarray(a)
        out[:, i, 2:4] = off + self.scale * np.asarray(b)
        out[:, i, 4] = self.scale * r
        out[:, i, 5:] = (v, self.shade, tex, 1.0 / self.texture_px, 0.37 * ph)


def make_background(
    rng: np.random.Generator, shape: tuple[int, int], level: float, contrast: float
) -> np.ndarray:
    """A static textured wall ``(H, W)`` float32 in log intensity.

    Smooth multi-scale noise, a light gradient and a few soft rectangles (a door,
    shelves, a poster), scaled to a standard deviation near ``contrast`` around
    ``level``.
    """
    h, w = shape
    tex = np.zeros(shape)
    for cells, weight in ((4, 1.0), (9, 0.6), (20, 0.35)):
        tex += weight * _smooth_noise(rng, shape, cells)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gx, gy = rng.normal(0.0, 0.8, 2)
    tex += gx * (xx - 0.5) + gy * (yy - 0.5)
    for _ in range(int(rng.integers(2, 6))):
        x0, x1 = np.sort(rng.uniform(-0.1, 1.1, 2)) * w
        y0, y1 = np.sort(rng.uniform(-0.1, 1.1, 2)) * h
        inside = (
            _soft_step(xx * max(h, w) - x0)
            * _soft_step(x1 - xx * max(h, w))
            * _soft_step(yy * max(h, w) - y0)
            * _soft_step(y1 - yy * max(h, w))
        )
        tex += rng.normal(0.0, 1.0) * inside
    tex = (tex - tex.mean()) / max(tex.std(), 1e-9)
    return (level + contrast * tex).astype(np.float32)


def _soft_step(d: np.ndarray) -> np.ndarray:
    return np.clip(d / 1.5 + 0.5, 0.0, 1.0)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Gaussian noise on a ``cells x cells`` grid, bilinearly upsampled to ``shape``."""
    h, w = shape
    g = rng.normal(0.0, 1.0, (cells + 1, cells + 1))
    fy = np.linspace(0, cells, h, endpoint=False)
    fx = np.linspace(0, cells, w, endpoint=False)
    iy, ix = fy.astype(int), fx.astype(int)
    ty, tx = (fy - iy)[:, None], (fx - ix)[None, :]
    a = g[iy][:, ix]
    b = g[iy][:, ix + 1]
    c = g[iy + 1][:, ix]
    d = g[iy + 1][:, ix + 1]
    return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d)


def render_frames(
    background: np.ndarray, shapes: np.ndarray, edge_px: float, touched: np.ndarray | None = None
) -> np.ndarray:
    """Draw ``K`` frames of capsules over the background.

    Args:
        background: ``(H, W)`` float32 log intensity.
        shapes: ``(K, S, SHAPE_FIELDS)`` float32 capsules, drawn in order (later
            ones on top): the segment ``(x0, y0)-(x1, y1)`` and ``radius`` in pixels;
            the log intensity ``value``, plus ``shade * (1 - 2 (d / radius)^2)`` at
            distance ``d`` from the axis, plus ``texture * f(texture_k * s +
            texture_phase) * f(texture_k * q + 1/4)`` at ``s`` pixels along it from
            ``(x0, y0)`` and ``q`` across it, ``f`` a sine-like wave of period 1:
            a pattern that moves with the limb.
        edge_px: width of the soft edge, pixels.
        touched: optional ``(H, W)`` bool, set True where any frame differs
            from the background (pixels are only ever set, never cleared).

    Returns:
        ``(K, H, W)`` float32 log intensity.
    """
    bg = np.ascontiguousarray(background, dtype=np.float32)
    sh = np.ascontiguousarray(shapes, dtype=np.float32)
    out = np.empty((sh.shape[0], *bg.shape), dtype=np.float32)
    if touched is None:
        touched = np.zeros(bg.shape, dtype=np.bool_)
    elif touched.shape != bg.shape or touched.dtype != np.bool_:
        raise ValueError(f"touched must be a bool array of shape {bg.shape}")
    _render(bg, sh, np.float32(edge_px), out, touched)
    return out


@njit(cache=True)
def _render(bg, shapes, edge, out, touched):  # pragma: no cover - compiled
    for k in range(shapes.shape[0]):
        frame = out[k]
        frame[:, :] = bg
        for s in range(shapes.shape[1]):
            _capsule(frame, shapes, k, s, edge, touched)


@njit(cache=True)
def _capsule(frame, shapes, k, s, edge, touched):  # pragma: no cover - compiled
    """Composite capsule ``shapes[k, s]``; only the pixels within reach are visited."""
    h, w = frame.shape
    x0, y0, x1, y1 = (
        float(shapes[k, s, 0]),
        float(shapes[k, s, 1]),
        float(shapes[k, s, 2]),
        float(shapes[k, s, 3]),
    )
    r, v, shade = float(shapes[k, s, 4]), float(shapes[k, s, 5]), float(shapes[k, s, 6])
    tex, tex_k, tex_ph = float(shapes[k, s, 7]), float(shapes[k, s, 8]), float(shapes[k, s, 9])
    edge = float(edge)
    reach = r + 0.5 * edge  # coverage is zero beyond
    inv_edge = 1.0 / edge
    dx, dy = x1 - x0, y1 - y0
    ll = dx * dx + dy * dy
    length = np.sqrt(ll)
    inv_ll = 1.0 / ll if ll > 0 else 0.0
    inv_len = 1.0 / length if ll > 0 else 0.0
    inv_r2 = 1.0 / (r * r)
    inner2 = max(r - 0.5 * edge, 0.0) ** 2
    ya = max(int(np.floor(min(y0, y1) - reach)), 0)
    yb = min(int(np.ceil(max(y0, y1) + reach)) + 1, h)
    for y in range(ya, yb):
        py = y - y0
        lo, hi = _row_span(py, y - y1, x0, x1, dx, dy, ll, length, reach)
        xa = max(int(np.ceil(lo)), 0)
        xb = min(int(np.floor(hi)) + 1, w)
        for x in range(xa, xb):
            px = x - x0
            u = min(max((px * dx + py * dy) * inv_ll, 0.0), 1.0)
            ex, ey = px - u * dx, py - u * dy
            d2 = ex * ex + ey * ey
            if d2 <= inner2:
                a = 1.0
            else:
                a = (r - np.sqrt(d2)) * inv_edge + 0.5
                if a <= 0:
                    continue
            val = v + shade * (1.0 - 2.0 * min(d2 * inv_r2, 1.0))
            if tex != 0:
                q = (px * dy - py * dx) * inv_len
                val += tex * _wave(tex_k * u * length + tex_ph) * _wave(tex_k * q + 0.25)
            touched[y, x] = True
            if a >= 1:
                frame[y, x] = val
            else:
                a = a * a * (3.0 - 2.0 * a)
                frame[y, x] += a * (val - frame[y, x])


@njit(cache=True)
def _row_span(py0, py1, x0, x1, dx, dy, ll, length, reach):  # pragma: no cover - compiled
    """x interval of one row within ``reach`` of the segment (the capsule is convex:
    the hull of its two end discs and its band)."""
    lo, hi = np.inf, -np.inf
    for pyc, xc in ((py0, x0), (py1, x1)):
        if pyc * pyc < reach * reach:
            half = np.sqrt(reach * reach - pyc * pyc)
            lo, hi = min(lo, xc - half), max(hi, xc + half)
    if ll > 0:
        # band: 0 <= px dx + py dy <= ll and |px dy - py dx| <= reach * length
        a_lo, a_hi = _linear_span(dx, py0 * dy, 0.0, ll)
        b_lo, b_hi = _linear_span(dy, -py0 * dx, -reach * length, reach * length)
        blo, bhi = max(a_lo, b_lo), min(a_hi, b_hi)
        if blo <= bhi:
            lo, hi = min(lo, x0 + blo), max(hi, x0 + bhi)
    return lo, hi


@njit(cache=True)
def _linear_span(c, b, lo, hi):  # pragma: no cover - compiled
    """Interval of ``p`` with ``lo <= c p + b <= hi``."""
    if c == 0:
        return (-np.inf, np.inf) if lo <= b <= hi else (np.inf, -np.inf)
    p0, p1 = (lo - b) / c, (hi - b) / c
    return min(p0, p1), max(p0, p1)


@njit(cache=True, inline="always")
def _wave(x):  # pragma: no cover - compiled
    """A cheap sine-like wave of period 1 in ``[-1, 1]`` (smoothed triangle)."""
    tri = 4.0 * np.abs(x - np.floor(x) - 0.5) - 1.0
    return tri * (1.5 - 0.5 * tri * tri)
