"""Stateless streaming filters on coordinates: :class:`Downsample`, :class:`Crop`,
:class:`MergePolarity`, and what every filter shares (:class:`FilterCount`,
:func:`check_input`).

Every filter is a frozen dataclass with an explicit input ``sensor_size`` (never
inferred from data), an ``out_sensor_size``, ``init_state()``, and
``__call__(events, state=None, *, check=True) -> (events, new_state)``. These
keep no memory between chunks, so their state is only the counters the profiler
shows: events seen and events removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from .events import EVENT_DTYPE, SensorSize, check_in_sensor

_VOID = np.dtype((np.void, EVENT_DTYPE.itemsize))


class FilterCount(NamedTuple):
    """State of a filter without memory: its counters.

    Attributes:
        events_in: events the filter was given, all calls together.
        removed: of those, events it did not pass on.
    """

    events_in: int = 0
    removed: int = 0


def check_input(events: np.ndarray, sensor_size: SensorSize, name: str) -> None:
    """Raise when ``events`` are not :data:`EVENT_DTYPE` or leave ``sensor_size``.

    Raises:
        TypeError: wrong dtype.
        FormatError: an event outside the sensor (``"<name>: event i at (x=..)
            lies outside the WxH sensor"``): the filter was built for another sensor.
    """
    if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
        got = getattr(events, "dtype", type(events).__name__)
        raise TypeError(f"{name}: events have dtype {got}, expected EVENT_DTYPE")
    w, h, npol = sensor_size
    if _first_outside(events["x"], events["y"], events["p"], w, h, max(npol, 2)) >= 0:
        check_in_sensor(events, sensor_size, name)


def take(events: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``events[keep]`` as a fresh array (2x faster through a raw-bytes view)."""
    return events.view(_VOID)[keep].view(EVENT_DTYPE)


def copy_events(events: np.ndarray) -> np.ndarray:
    """A fresh copy of ``events`` (2x faster through a raw-bytes view)."""
    return events.view(_VOID).copy().view(EVENT_DTYPE)


@njit(cache=True)
def _first_outside(x, y, p, width, height, npol):  # pragma: no cover - numba
    for i in range(x.shape[0]):
        if x[i] < 0 or x[i] >= width or y[i] < 0 or y[i] >= height or p[i] < 0 or p[i] >= npol:
            return i
    return -1


@njit(cache=True)
def _rescale(v, num, den):  # pragma: no cover - numba
    """In place: ``v = v * num // den`` (int64 arithmetic)."""
    for i in range(v.shape[0]):
        v[i] = np.int64(v[i]) * num // den


@njit(cache=True)
def _crop_kernel(x, y, x0, y0, width, height, keep):  # pragma: no cover - numba
    """``keep[i]`` iff the event lies in the box; return how many do."""
    n = 0
    for i in range(x.shape[0]):
        k = x0 <= x[i] < x0 + width and y0 <= y[i] < y0 + height
        keep[i] = k
        n += k
    return n


@njit(cache=True)
def _shift(x, y, dx, dy):  # pragma: no cover - numba
    for i in range(x.shape[0]):
        x[i] -= dx
        y[i] -= dy


def check_sensor_size(sensor_size: SensorSize, name: str) -> SensorSize:
    """Validate ``(width, height, polarities)``; return it as a tuple of ints."""
    try:
        w, h, npol = (int(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: sensor_size must be (width, height, polarities), got {sensor_size!r}"
        ) from None
    if w < 1 or h < 1 or npol not in (1, 2):
        raise ValueError(f"{name}: invalid sensor_size {sensor_size!r}")
    return (w, h, npol)


def _pair(v: int | tuple[int, int], what: str, name: str) -> tuple[int, int]:
    a, b = (v, v) if isinstance(v, int | np.integer) else tuple(v)
    if a < 1 or b < 1:
        raise ValueError(f"{name}: {what} must be >= 1, got {v!r}")
    return int(a), int(b)


class _CountingFilter:
    """``init_state`` and the start of ``__call__`` for a filter whose state is a
    :class:`FilterCount` (mixed into the frozen dataclasses below)."""

    sensor_size: SensorSize

    def init_state(self) -> FilterCount:
        return FilterCount()

    def _begin(self, events: np.ndarray, state: FilterCount | None, check: bool) -> FilterCount:
        """The state to update (a fresh one for ``None``), after checking ``events``
        against ``sensor_size`` when ``check``."""
        if check:
            check_input(events, self.sensor_size, type(self).__name__)
        return self.init_state() if state is None else state


@dataclass(frozen=True)
class Downsample(_CountingFilter):
    """Spatial downsampling: several input pixels map onto one output pixel.

    Give exactly one of ``factor`` and ``target_size``:

    - ``factor`` ``f`` or ``(fx, fy)``: ``x' = x // fx``, ``y' = y // fy``; output
      ``(ceil(W/fx), ceil(H/fy), P)``.
    - ``target_size`` ``(w', h')`` (at most the sensor's): ``x' = x * w' // W``
      (exact integers; tonic's ``Downsample(target_size=...)`` computes the same in
      float, ``int(x * (w'/W))``, which can round down one pixel at exact
      multiples). Same as ``factor`` when ``W`` is a multiple of ``w'``.

    No event is dropped or merged; ``t`` and ``p`` are kept.
    """

    factor: int | tuple[int, int] | None
    sensor_size: SensorSize
    target_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        name = type(self).__name__
        w, h, _ = check_sensor_size(self.sensor_size, name)
        if (self.factor is None) == (self.target_size is None):
            raise ValueError(f"{name}: give exactly one of factor and target_size")
        if self.target_size is not None:
            tw, th = _pair(self.target_size, "target_size", name)
            if tw > w or th > h:
                raise ValueError(
                    f"{name}: target_size {self.target_size} is larger than the {w}x{h} sensor"
                )
        else:
            _pair(self.factor, "factor", name)

    @property
    def out_sensor_size(self) -> SensorSize:
        w, h, npol = self.sensor_size
        if self.target_size is not None:
            return (*_pair(self.target_size, "target_size", "Downsample"), npol)
        fx, fy = _pair(self.factor, "factor", "Downsample")
        return (-(-w // fx), -(-h // fy), npol)

    def __call__(
        self, events: np.ndarray, state: FilterCount | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, FilterCount]:
        """``events``: ``(N,)`` on ``sensor_size``; returns ``(N,)`` on ``out_sensor_size``."""
        state = self._begin(events, state, check)
        out = copy_events(events)
        if self.target_size is not None:
            (tw, th), (w, h, _) = _pair(self.target_size, "", ""), self.sensor_size
        else:
            (fx, fy), tw, th = _pair(self.factor, "", ""), 1, 1
            w, h = fx, fy
        _rescale(out["x"], tw, w)
        _rescale(out["y"], th, h)
        return out, FilterCount(state.events_in + len(events), state.removed)


@dataclass(frozen=True)
class Crop(_CountingFilter):
    """Keep the box ``x0 <= x < x0 + width``, ``y0 <= y < y0 + height`` and move it
    to the origin; output sensor ``(width, height, P)``.

    Events outside the box are the intended output of a crop, not an error: they
    are removed and counted in ``removed``.
    """

    x0: int
    y0: int
    width: int
    height: int
    sensor_size: SensorSize

    def __post_init__(self) -> None:
        w, h, _ = check_sensor_size(self.sensor_size, "Crop")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"Crop: width and height must be >= 1, got {self.width}x{self.height}")
        if self.x0 < 0 or self.y0 < 0 or self.x0 + self.width > w or self.y0 + self.height > h:
            raise ValueError(
                f"Crop: box x0={self.x0}, y0={self.y0}, {self.width}x{self.height} does not fit "
                f"the {w}x{h} sensor"
            )

    @property
    def out_sensor_size(self) -> SensorSize:
        return (self.width, self.height, self.sensor_size[2])

    def __call__(
        self, events: np.ndarray, state: FilterCount | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, FilterCount]:
        """``events``: ``(N,)`` on ``sensor_size``; returns ``(M<=N,)`` on ``out_sensor_size``."""
        state = self._begin(events, state, check)
        keep = np.empty(len(events), np.bool_)
        _crop_kernel(events["x"], events["y"], self.x0, self.y0, self.width, self.height, keep)
        out = take(events, keep)
        _shift(out["x"], out["y"], self.x0, self.y0)
        n = len(events)
        return out, FilterCount(state.events_in + n, state.removed + n - len(out))


@dataclass(frozen=True)
class MergePolarity(_CountingFilter):
    """Set every polarity to 0; output sensor ``(W, H, 1)``. Drops nothing."""

    sensor_size: SensorSize

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size, "MergePolarity")

    @property
    def out_sensor_size(self) -> SensorSize:
        return (self.sensor_size[0], self.sensor_size[1], 1)

    def __call__(
        self, events: np.ndarray, state: FilterCount | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, FilterCount]:
        """``events``: ``(N,)`` on ``sensor_size``; returns ``(N,)`` with ``p == 0``."""
        state = self._begin(events, state, check)
        out = copy_events(events)
        out["p"] = 0
        return out, FilterCount(state.events_in + len(events), state.removed)
