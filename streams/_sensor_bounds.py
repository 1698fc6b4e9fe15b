"""Whether any event lies outside the sensor, in one pass over the raw records.

The numpy mask of :func:`~spikestream.streams.events.out_of_sensor` takes eleven
passes over strided 13-byte records (~3 ns per event); the numba kernel here
reads each record once and keeps three maxima (~0.5 ns per event). Every source
runs it on every chunk; only when it finds an event outside does the caller
build the mask (to name the event, or to drop them). Without numba
(``spikestream.runtime`` must import without it) it falls back to the mask.
"""

from __future__ import annotations

import numpy as np

from .events import EVENT_DTYPE, SensorSize, out_of_sensor

_X, _Y, _P = (EVENT_DTYPE.fields[f][1] for f in ("x", "y", "p"))
"""Byte offsets of x, y (little-endian int16) and p (int8) in a record."""
_SIZE = EVENT_DTYPE.itemsize
_INT16_RANGE = 1 << 15

try:
    from numba import njit
except ImportError:  # pragma: no cover - exercised by the runtime isolation test
    njit = None

if njit is not None:

    @njit(cache=True, nogil=True)
    def _any_outside(raw, w, h, npol):  # pragma: no cover - numba
        """Whether a record of ``raw`` (``(N * 13,)`` uint8) has ``x >= w``,
        ``y >= h`` or ``p >= npol``, reading x, y as uint16 and p as uint8: a
        negative value wraps above every valid bound."""
        mx = np.uint32(0)
        my = np.uint32(0)
        mp = np.uint32(0)
        for i in range(raw.shape[0] // _SIZE):
            o = i * _SIZE
            mx = max(mx, np.uint32(raw[o + _X]) | (np.uint32(raw[o + _X + 1]) << 8))
            my = max(my, np.uint32(raw[o + _Y]) | (np.uint32(raw[o + _Y + 1]) << 8))
            mp = max(mp, np.uint32(raw[o + _P]))
        return mx >= w or my >= h or mp >= npol


def any_out_of_sensor(ev: np.ndarray, sensor_size: SensorSize) -> bool:
    """Whether ``out_of_sensor(ev, sensor_size).any()``, for ``(N,)`` events."""
    w, h, npol = sensor_size
    if njit is None or ev.dtype != EVENT_DTYPE or ev.ndim != 1 or not ev.flags.c_contiguous:
        return bool(out_of_sensor(ev, sensor_size).any())
    return bool(
        _any_outside(
            ev.view(np.uint8),
            min(w, _INT16_RANGE),
            min(h, _INT16_RANGE),
            min(max(npol, 2), 128),
        )
    )
