"""Noise of the synthetic sensor: background activity and hot pixels.

- Background activity (shot noise): every pixel fires Poisson events at
  ``ba_rate_hz``, ON with probability ``ba_on_fraction``.
- Hot pixels: ``n_hot_pixels`` fixed pixels fire Poisson events at
  ``hot_rate_hz``, each with its own fixed polarity.

The events are drawn per fixed period of :data:`NOISE_PERIOD_US` from a
generator keyed by the period's index, so the noise of any time range is the
same whichever blocks it is asked for in. The pixel model
(:func:`~.simulator.pixel_step`) then applies the refractory period to them.
"""

from __future__ import annotations

import numpy as np

from ..events import EVENT_DTYPE, concat, empty_events
from . import seeding
from .simulator import PixelConfig

NOISE_PERIOD_US = 100_000
"""Length of one independently drawn stretch of noise."""


class NoiseModel:
    """Noise events of one recording.

    Args:
        seed: the recording seed.
        shape: ``(H, W)`` of the sensor.
        config: rates and hot pixel count.
    """

    def __init__(self, seed: int, shape: tuple[int, int], config: PixelConfig) -> None:
        self.seed = seeding.check_seed(seed)
        self.shape = shape
        self.config = config
        h, w = shape
        n_hot = min(config.n_hot_pixels, h * w)
        rng = seeding.rng_for(seed, seeding.PIXELS, 1)
        self.hot_pixels = np.sort(rng.choice(h * w, size=n_hot, replace=False)).astype(np.int64)
        """Flat indices ``y * W + x`` of the hot pixels."""
        self.hot_polarity = rng.integers(0, 2, size=n_hot).astype(np.int8)
        self._cache: tuple[int, np.ndarray] | None = None

    def events(self, t_start_us: int, t_end_us: int) -> np.ndarray:
        """Noise events with ``t_start_us <= t < t_end_us``, time-ordered."""
        if t_end_us <= t_start_us:
            return empty_events()
        first = t_start_us // NOISE_PERIOD_US
        last = (t_end_us - 1) // NOISE_PERIOD_US
        parts = []
        for q in range(first, last + 1):
            ev = self._period(q)
            lo, hi = np.searchsorted(ev["t"], [t_start_us, t_end_us])
            parts.append(ev[lo:hi])
        return concat(parts)

    def _period(self, q: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == q:
            return self._cache[1]
        ev = self._draw(q)
        self._cache = (q, ev)
        return ev

    def _draw(self, q: int) -> np.ndarray:
        """All noise events of period ``q``, sorted by time (ties by pixel)."""
        h, w = self.shape
        c = self.config
        rng = seeding.rng_for(self.seed, seeding.NOISE, q)
        period_s = NOISE_PERIOD_US * 1e-6
        n_ba = int(rng.poisson(c.ba_rate_hz * h * w * period_s))
        ba_pix = rng.integers(0, h * w, size=n_ba)
        ba_p = (rng.random(n_ba) < c.ba_on_fraction).astype(np.int8)
        n_hot = rng.poisson(c.hot_rate_hz * period_s, size=len(self.hot_pixels))
        hot_pix = np.repeat(self.hot_pixels, n_hot)
        hot_p = np.repeat(self.hot_polarity, n_hot)
        pix = np.concatenate([ba_pix, hot_pix])
        p = np.concatenate([ba_p, hot_p])
        t = q * NOISE_PERIOD_US + rng.integers(0, NOISE_PERIOD_US, size=len(pix))
        order = np.lexsort((pix, t))
        ev = np.empty(len(pix), dtype=EVENT_DTYPE)
        ev["t"] = t[order]
        ev["x"] = pix[order] % w
        ev["y"] = pix[order] // w
        ev["p"] = p[order]
        return ev
