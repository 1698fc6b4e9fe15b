"""Independent random streams derived from one recording seed.

Every random quantity of a synthetic recording comes from its own
:class:`numpy.random.Generator`, keyed by ``(seed, purpose, index...)``. A value
therefore depends only on what it is (the noise of period 7, the motion of
gesture 3), never on how much was rendered before it or in which blocks: this is
what makes any split of a recording into chunks give the same events.
"""

from __future__ import annotations

import numpy as np

SCENE = 1
"""Key of the person and background of a recording."""
PIXELS = 2
"""Key of the pixel thresholds, hot pixel positions and randomised pixel constants."""
NOISE = 3
"""Key of the background activity and hot pixel events, one stream per period."""
TIMELINE = 4
"""Key of the order and durations of the gestures."""
GESTURE = 5
"""Key of one gesture's motion parameters, one stream per gesture index."""


def check_seed(seed: int) -> int:
    """Return ``seed`` as an ``int`` or raise ``ValueError`` (must be >= 0)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """The generator of ``keys`` (purpose, indices) within recording ``seed``."""
    return np.random.default_rng([check_seed(seed), *(int(k) for k in keys)])
