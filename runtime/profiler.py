"""The latency profiler: where the microseconds of each step go, in bounded memory.

:meth:`Profiler.run` runs a source through the whole pipeline, timing each stage:
``decode`` (reading the source, per chunk), ``filter`` (optional streaming filter,
per chunk), ``window`` (the windower, per chunk), then per step ``input`` (the input
stage), each layer (``layer:<name>``), ``readout``, and ``step`` (input + network +
readout: what one window costs the engine). Latencies go into log-binned histograms
(1 % resolution, constant memory for any stream length) and a decimated timeline
that keeps each bucket's maximum, so a plot of an hour still shows every spike.
:meth:`Profiler.report` gives p50/p99/max per stage, events/s, real-time factor and
dropped windows as a JSON-ready dict; :meth:`Profiler.plot` draws it (matplotlib Agg).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..streams.windowing import EventWindow, Windower
from .engine import Engine

_BINS_PER_DECADE = 230  # bin width ~1 %
_LO_US = 1e-3


class LatencyStats:
    """Histogram of latencies in µs with exact count, mean and max; memory is fixed."""

    def __init__(self) -> None:
        self.hist = np.zeros(_BINS_PER_DECADE * 12, np.int64)  # 1 ns .. 1000 s
        self.count = 0
        self.total_us = 0.0
        self.max_us = 0.0

    def add(self, us: float) -> None:
        self.count += 1
        self.total_us += us
        if us > self.max_us:
            self.max_us = us
        k = int(math.log10(max(us, _LO_US) / _LO_US) * _BINS_PER_DECADE)
        self.hist[min(k, len(self.hist) - 1)] += 1

    def quantile(self, q: float) -> float:
        """Upper edge of the bin holding quantile ``q`` (clipped to the max seen)."""
        if not self.count:
            return 0.0
        k = int(np.searchsorted(np.cumsum(self.hist), q * self.count, side="left"))
        return min(_LO_US * 10 ** ((k + 1) / _BINS_PER_DECADE), self.max_us)

    def summary(self) -> dict[str, float]:
        return {"p50_us": round(self.quantile(0.5), 3), "p99_us": round(self.quantile(0.99), 3),
                "max_us": round(self.max_us, 3),
                "mean_us": round(self.total_us / self.count, 3) if self.count else 0.0,
                "count": self.count}


class Timeline:
    """``(t, value)`` samples decimated to at most ``max_points`` bucket maxima."""

    def __init__(self, max_points: int = 4096) -> None:
        self.max_points = max_points
        self.t: list[float] = []
        self.v: list[float] = []
        self.stride = 1
        self._n = 0

    def add(self, t: float, v: float) -> None:
        if self._n % self.stride == 0:
            self.t.append(t)
            self.v.append(v)
        elif v > self.v[-1]:
            self.v[-1] = v
        self._n += 1
        if len(self.t) >= self.max_points:
            self.t = self.t[::2]
            self.v = [max(a, b) for a, b in zip(self.v[::2], self.v[1::2] + [0.0], strict=False)]
            self.stride *= 2


class Profiler:
    """Per-stage latency statistics of one run (see the module docstring)."""

    CHUNK_STAGES = ("decode", "filter", "window")

    def __init__(self) -> None:
        self.stages: dict[str, LatencyStats] = {}
        self.timeline = Timeline()
        self.windows = self.events = self.dropped = 0
        self.t_first_us: int | None = None
        self.t_last_us = 0
        self.wall_s = 0.0

    def add(self, stage: str, us: float) -> None:
        s = self.stages.get(stage)
        if s is None:
            s = self.stages[stage] = LatencyStats()
        s.add(us)

    def add_step(self, r: Any) -> None:
        """Take a :class:`~.engine.StepResult` (stepped with ``timed=True``)."""
        lat = r.latency_us
        for k, v in lat.items():
            if k != "network":
                self.add(k, v)
        step = lat["input"] + lat["network"] + lat["readout"]
        self.add("step", step)
        if self.t_first_us is None:
            self.t_first_us = r.t_start_us
        self.t_last_us = r.t_end_us
        self.timeline.add((r.t_end_us - self.t_first_us) * 1e-6, step)
        self.windows += 1
        self.events += r.n_events
        self.dropped = r.dropped

    @property
    def stream_s(self) -> float:
        return 0.0 if self.t_first_us is None else (self.t_last_us - self.t_first_us) * 1e-6

    def report(self, **extra: Any) -> dict[str, Any]:
        """JSON-ready report: ``stages`` (p50/p99/max/mean µs, count, unit), ``overall``
        (the ``step`` stage), ``rtf``, ``events_per_s``, ``dropped``... plus ``extra``."""
        stages = {}
        for name, s in self.stages.items():
            stages[name] = {**s.summary(), "unit": "chunk" if name in self.CHUNK_STAGES
                            else "step"}
        wall = self.wall_s
        return {
            **extra,
            "windows": self.windows, "events": self.events, "dropped": self.dropped,
            "wall_s": round(wall, 6), "stream_s": round(self.stream_s, 6),
            "rtf": round(self.stream_s / wall, 3) if wall > 0 else None,
            "events_per_s": round(self.events / wall, 1) if wall > 0 else None,
            "overall": stages.get("step", LatencyStats().summary()),
            "stages": stages,
        }

    def run(self, engine: Engine, source: Iterable[np.ndarray], *, speed: float | None = None,
            filt: Any = None, overload: str | None = None) -> Iterator[Any]:
        """Run ``source`` through ``engine`` with every stage timed into this profiler.

        Args:
            engine: the engine (its state carries on from wherever it is).
            source: a Source or iterable of event chunks.
            speed: pace the source (1 = real time); None = as fast as possible.
            filt: optional streaming filter ``filt(events, state) -> (events, state)``
                with ``init_state()`` (e.g. ``spikestream.streams.filters.Denoise``).
            overload: overload policy for :meth:`Engine.run` (default: a live source
                drops the oldest windows).

        Yields:
            each :class:`~.engine.StepResult`; :meth:`report` afterwards.
        """
        name = str(getattr(source, "name", "<stream>"))
        engine.check_source(source)
        chunks: Iterable[np.ndarray] = _timed(iter(source), self, "decode")
        live = getattr(source, "live", False)
        if speed is not None and not live:
            from ..streams.pacing import pace

            chunks = pace(chunks, speed)
        if overload is None and live:
            overload = "drop_oldest"
        t0 = time.perf_counter()
        try:
            for r in engine.run(_windows(chunks, engine, self, filt, name),
                                overload=overload, timed=True):  # type: ignore[arg-type]
                self.add_step(r)
                yield r
        finally:
            self.wall_s = time.perf_counter() - t0

    def plot(self, path: str, title: str = "", dt_us: int | None = None) -> None:
        """Write a PNG: step-latency histogram, latency over stream time, and each
        stage's p50/p99."""
        from .profile_plot import plot_profile

        plot_profile(self, path, title, dt_us)


def _timed(it: Iterator[np.ndarray], prof: Profiler, stage: str) -> Iterator[np.ndarray]:
    while True:
        t0 = time.perf_counter()
        try:
            chunk = next(it)
        except StopIteration:
            return
        prof.add(stage, (time.perf_counter() - t0) * 1e6)
        yield chunk


def _windows(chunks: Iterable[np.ndarray], engine: Engine, prof: Profiler, filt: Any,
             name: str) -> Iterator[EventWindow]:
    windower = Windower(engine.dt_us, source=name)
    state = None if filt is None else filt.init_state()
    perf = time.perf_counter
    for chunk in chunks:
        if filt is not None:
            t0 = perf()
            chunk, state = filt(chunk, state)
            prof.add("filter", (perf() - t0) * 1e6)
        t0 = perf()
        batch = list(windower.push(chunk))
        prof.add("window", (perf() - t0) * 1e6)
        yield from batch
    yield from windower.flush()
