"""Streaming event filters with explicit state, and :class:`FilterChain`.

A filter is a frozen dataclass (tonic style) with an explicit input
``sensor_size`` (never inferred from the data) and

- ``out_sensor_size``: the sensor its output lives on;
- ``init_state()``: the state before the first event;
- ``__call__(events, state=None, *, check=True) -> (events, new_state)``: filter
  one chunk (or window) and return the state to pass with the next one. Any split
  of a stream into chunks gives the same output as one pass.

Every state carries the counters ``events_in`` and ``removed`` (the profiler shows
them; :meth:`FilterChain.stats` collects them). :class:`Refractory` and
:class:`Denoise` also carry a per-pixel last-timestamp array, ``(H, W)`` int64,
which they **update in place** and return in the new state (so a call costs
O(events), not O(pixels), even on a 1280x720 sensor): treat the state you pass as
consumed, and take a :func:`copy_state` to keep a snapshot.

Both filters work per pixel across polarities, like tonic. Time that runs
backwards (a camera reset) never suppresses an event: a negative ``t - last``
is treated as "no recent event".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from numba import njit

from .events import EVENT_DTYPE, SensorSize, check_in_sensor
from .filters_spatial import (
    Crop,
    Downsample,
    FilterCount,
    MergePolarity,
    _first_outside,
    check_input,
    check_sensor_size,
    copy_events,
    take,
)

NEVER = np.iinfo(np.int64).min
"""Last-timestamp value of a pixel that has not fired yet."""


class PixelState(NamedTuple):
    """State of a per-pixel filter.

    Attributes:
        last_t_us: ``(H, W)`` int64, the last event time at each pixel, µs
            (:data:`NEVER` before its first event); updated in place.
        events_in, removed: counters, all calls together.
    """

    last_t_us: np.ndarray
    events_in: int = 0
    removed: int = 0


class Filter(Protocol):
    """What :class:`FilterChain` needs from a filter."""

    sensor_size: SensorSize

    @property
    def out_sensor_size(self) -> SensorSize: ...

    def init_state(self) -> Any: ...

    def __call__(
        self, events: np.ndarray, state: Any = None, *, check: bool = True
    ) -> tuple[np.ndarray, Any]: ...


@njit(cache=True)
def _refractory_kernel(t, x, y, last, refractory_us, keep):  # pragma: no cover - numba
    """keep[i] unless the pixel had an event at most ``refractory_us`` before."""
    removed = 0
    for i in range(t.shape[0]):
        lt = last[y[i], x[i]]
        ok = lt == NEVER or t[i] < lt or t[i] - lt > refractory_us
        keep[i] = ok
        removed += not ok
        last[y[i], x[i]] = t[i]
    return removed


@njit(cache=True)
def _denoise_kernel(t, x, y, last, filter_us, diagonal, keep):  # pragma: no cover - numba
    """keep[i] if a neighbour had an event less than ``filter_us`` before."""
    height, width = last.shape
    removed = 0
    for i in range(t.shape[0]):
        xi, yi, ti = x[i], y[i], t[i]
        ok = False
        for dy in range(-1, 2):
            ny = yi + dy
            if ny < 0 or ny >= height:
                continue
            for dx in range(-1, 2):
                nx = xi + dx
                if nx < 0 or nx >= width or (dx == 0 and dy == 0):
                    continue
                if dx != 0 and dy != 0 and not diagonal:
                    continue
                ln = last[ny, nx]
                if ln != NEVER and ln <= ti and ti - ln < filter_us:
                    ok = True
        keep[i] = ok
        removed += not ok
        last[yi, xi] = ti
    return removed


def _pixel_filter(f, events: np.ndarray, state: PixelState | None, kernel, *args):
    """Shared shell of :class:`Refractory` and :class:`Denoise`."""
    name = type(f).__name__
    w, h, npol = f.sensor_size
    state = f.init_state() if state is None else state
    if state.last_t_us.shape != (h, w) or state.last_t_us.dtype != np.int64:
        raise ValueError(
            f"{name}: state holds a {state.last_t_us.dtype} array of shape "
            f"{state.last_t_us.shape}, expected int64 ({h}, {w}) for the {w}x{h} sensor"
        )
    if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
        raise TypeError(f"{name}: events have dtype {getattr(events, 'dtype', None)}")
    t, x, y = events["t"], events["x"], events["y"]
    if _first_outside(x, y, events["p"], w, h, max(npol, 2)) >= 0:  # always: guards memory
        check_in_sensor(events, f.sensor_size, name)
    keep = np.empty(len(events), np.bool_)
    removed = kernel(t, x, y, state.last_t_us, *args, keep)
    out = take(events, keep) if removed else copy_events(events)
    return out, PixelState(state.last_t_us, state.events_in + len(events), state.removed + removed)


class _PixelFilter:
    """``out_sensor_size`` (the input's), ``init_state`` (no pixel has fired) and
    ``__call__`` of :class:`Refractory` and :class:`Denoise`; each names its kernel
    and the kernel's parameters in ``_kernel()``."""

    sensor_size: SensorSize

    @property
    def out_sensor_size(self) -> SensorSize:
        return self.sensor_size

    def init_state(self) -> PixelState:
        return PixelState(np.full(self.sensor_size[1::-1], NEVER, np.int64))

    def _kernel(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __call__(
        self, events: np.ndarray, state: PixelState | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, PixelState]:
        """``events``: ``(N,)`` time-ordered; returns the kept ``(M<=N,)`` and the state.

        The kernel checks every event's bounds whatever ``check`` says (it guards memory).
        """
        kernel, *args = self._kernel()
        return _pixel_filter(self, events, state, kernel, *args)


@dataclass(frozen=True)
class Refractory(_PixelFilter):
    """Per-pixel refractory period, tonic's ``RefractoryPeriod`` semantics.

    An event is kept unless the same pixel (either polarity) had an event, kept
    or not, at most ``refractory_us`` before: kept iff ``t - t_last >
    refractory_us``. Every event restarts its pixel's period, so a pixel firing
    faster than once per ``refractory_us`` stays silent. Differences from
    ``tonic.functional.refractory_period_numpy``: a pixel's first event is always
    kept (tonic starts its memory at ``-refractory`` and so drops a first event at
    ``t <= 0``); an event earlier than its pixel's last (time ran backwards) is
    kept (tonic drops it).
    """

    refractory_us: int
    sensor_size: SensorSize

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size, "Refractory")
        if self.refractory_us < 0:
            raise ValueError(f"Refractory: refractory_us must be >= 0, got {self.refractory_us}")

    def _kernel(self) -> tuple[Any, ...]:
        return _refractory_kernel, int(self.refractory_us)


@dataclass(frozen=True)
class Denoise(_PixelFilter):
    """Background-activity filter: keep an event if a neighbouring pixel (any
    polarity) had an event, kept or not, less than ``filter_time_us`` before
    (``0 <= t - t_neighbour < filter_time_us``); the pixel itself does not count.

    ``neighbours=8`` (default) is jAER's background activity filter;
    ``neighbours=4`` (no diagonals) is ``tonic.functional.denoise_numpy``. One
    more difference from tonic: tonic starts every pixel as if it fired at
    ``t = 0`` and so keeps all events before ``filter_time``; here a pixel that
    has not fired supports nothing.
    """

    filter_time_us: int
    sensor_size: SensorSize
    neighbours: int = 8

    def __post_init__(self) -> None:
        check_sensor_size(self.sensor_size, "Denoise")
        if self.filter_time_us < 0:
            raise ValueError(f"Denoise: filter_time_us must be >= 0, got {self.filter_time_us}")
        if self.neighbours not in (4, 8):
            raise ValueError(f"Denoise: neighbours must be 4 or 8, got {self.neighbours}")

    def _kernel(self) -> tuple[Any, ...]:
        return _denoise_kernel, int(self.filter_time_us), self.neighbours == 8


@dataclass(frozen=True)
class FilterChain:
    """Filters applied in order; each one's ``out_sensor_size`` must be the next
    one's ``sensor_size``. State: a tuple of the filters' states.
    """

    filters: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(self.filters))  # accept a list
        if not self.filters:
            raise ValueError("FilterChain: give at least one filter")
        for a, b in zip(self.filters, self.filters[1:], strict=False):
            if tuple(a.out_sensor_size) != tuple(b.sensor_size):
                raise ValueError(
                    f"FilterChain: {type(a).__name__} outputs a {a.out_sensor_size} sensor but "
                    f"{type(b).__name__} expects {b.sensor_size}"
                )

    @property
    def sensor_size(self) -> SensorSize:
        return self.filters[0].sensor_size

    @property
    def out_sensor_size(self) -> SensorSize:
        return self.filters[-1].out_sensor_size

    def init_state(self) -> tuple:
        return tuple(f.init_state() for f in self.filters)

    def __call__(
        self, events: np.ndarray, state: tuple | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, tuple]:
        """Run every filter; only the first checks its input (the rest get valid events)."""
        state = self.init_state() if state is None else state
        if len(state) != len(self.filters):
            raise ValueError(f"FilterChain: state has {len(state)} parts for {len(self.filters)}")
        new = []
        for i, (f, s) in enumerate(zip(self.filters, state, strict=True)):
            events, s = f(events, s, check=check and i == 0)
            new.append(s)
        return events, tuple(new)

    def stats(self, state: tuple) -> dict[str, int]:
        """Events each filter removed so far, by name (``"Crop"``, ``"Denoise#2"``...)."""
        out: dict[str, int] = {}
        for f, s in zip(self.filters, state, strict=True):
            name = type(f).__name__
            key, k = name, 1
            while key in out:
                k += 1
                key = f"{name}#{k}"
            out[key] = int(s.removed)
        return out


def copy_state(state: Any) -> Any:
    """A deep copy of a filter or chain state (arrays copied), for snapshots."""
    if isinstance(state, np.ndarray):
        return state.copy()
    if isinstance(state, tuple):
        parts = [copy_state(s) for s in state]
        return type(state)(*parts) if hasattr(state, "_fields") else tuple(parts)
    return state


__all__ = [
    "NEVER",
    "Crop",
    "Denoise",
    "Downsample",
    "Filter",
    "FilterChain",
    "FilterCount",
    "MergePolarity",
    "PixelState",
    "Refractory",
    "check_input",
    "copy_state",
]
