"""The Engine: the one place that owns a model's state across the steps of a stream.

``Engine(model, backend="torch")`` loads the model (a path or a
:class:`~.model_file.Model`), creates the backend by name and a
:class:`~.readout.Readout` per stream. :meth:`Engine.step` advances one
``dt_us`` window; :meth:`Engine.run` windows a source (or takes windows) and steps
through it lazily, in bounded memory; :meth:`reset`, :meth:`snapshot` and
:meth:`restore` manage the state explicitly. A live source runs through a bounded
queue with an explicit, counted overload policy (:mod:`.overload`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from ..streams.events import EVENT_DTYPE
from ..streams.windowing import EventWindow, Windower
from .backends.base import Backend, create_backend
from .errors import ModelError
from .model_file import Model, load_model
from .overload import OverloadPolicy, threaded
from .readout import Decision, Prediction, Readout

_perf = time.perf_counter


class StepResult(NamedTuple):
    """What one step of one stream produced.

    Attributes:
        index, t_start_us, t_end_us: the window (µs).
        n_events: input events in the window.
        output: ``(n_out,)`` the output layer's output.
        scores: ``(n_classes,)`` this step's class scores (see :mod:`.readout`).
        prediction: the readout's prediction after this step.
        decision: a :class:`Decision` when the decided class changed, else None.
        dropped: windows dropped by the overload policy so far in this run.
        latency_us: ``input``, ``network``, ``readout`` wall µs (and each layer's,
            keyed ``layer:<name>``, when stepped with ``timed=True``); one dict shared
            by the streams of a batch step.
        stream: index of the stream in the batch.
        record: per-layer arrays of this stream when stepped with ``record=True``.
    """

    index: int
    t_start_us: int
    t_end_us: int
    n_events: int
    output: np.ndarray
    scores: np.ndarray
    prediction: Prediction
    decision: Decision | None
    dropped: int
    latency_us: dict[str, float]
    stream: int = 0
    record: dict[str, np.ndarray] | None = None


class Engine:
    """Run a model over event windows, carrying its state.

    Args:
        model: a :class:`Model` or the path of a model file.
        backend: backend name (``"torch"``, ``"numba"``), see :mod:`.backends.base`.
        device: backend device (``"cpu"``, ``"cuda"``); None = the backend's default.
        batch: independent streams stepped together (:meth:`step_batch`).
        readout: overrides of the model's readout settings (e.g. ``{"tau_ms": 100}``).
        backend_options: passed to the backend (torch: ``threads``).
    """

    def __init__(self, model: Model | str | os.PathLike[str], backend: str = "torch",
                 device: str | None = None, batch: int = 1,
                 readout: dict[str, Any] | None = None,
                 backend_options: dict[str, Any] | None = None) -> None:
        self.model = model if isinstance(model, Model) else load_model(model)
        spec = self.model.spec
        self.dt_us = spec.dt_us
        self.batch = batch
        self.backend: Backend = create_backend(backend, self.model, batch=batch, device=device,
                                                **(backend_options or {}))
        self.readouts = [Readout.for_model(spec, **(readout or {})) for _ in range(batch)]
        self.counters: Counter[str] = Counter()
        self.dropped = 0
        self.windower: Windower | None = None  # the last run's (its counters: gaps...)

    # stepping ---------------------------------------------------------------
    def step(self, window: EventWindow, record: bool = False,
             timed: bool = False) -> StepResult:
        """Advance the (single) stream by one window of ``dt_us``."""
        if self.batch != 1:
            raise ValueError(f"this engine steps {self.batch} streams: use step_batch")
        return self.step_batch([window], record, timed)[0]

    def step_batch(self, windows: Sequence[EventWindow], record: bool = False,
                   timed: bool = False) -> list[StepResult]:
        """Advance each of the ``batch`` streams by its window (one per stream)."""
        if len(windows) != self.batch:
            raise ValueError(f"expected {self.batch} windows (one per stream), "
                             f"got {len(windows)}")
        for w in windows:
            if w.t_end_us - w.t_start_us != self.dt_us:
                raise ValueError(f"window {w.index} spans {w.t_end_us - w.t_start_us} µs; "
                                 f"model {self.model.spec.name!r} steps {self.dt_us} µs")
        t0 = _perf()
        x = self.backend.prepare([w.events for w in windows])
        t1 = _perf()
        out = self.backend.step(x, record=record, timed=timed)
        t2 = _perf()
        updates = []
        for b, w in enumerate(windows):
            upd = self.readouts[b].update(out.output[b], len(w.events), w.t_end_us)
            if upd[1].reset_state:
                self._reset_stream(b)
            updates.append(upd)
        t3 = _perf()
        lat = {"input": (t1 - t0) * 1e6, "network": (t2 - t1) * 1e6, "readout": (t3 - t2) * 1e6}
        if out.layer_us:
            lat.update({f"layer:{k}": v for k, v in out.layer_us.items()})
        results = []
        n_events = 0
        for b, (w, (scores, pred, decision)) in enumerate(zip(windows, updates, strict=True)):
            rec = None if out.record is None else {k: v[b] for k, v in out.record.items()}
            n = len(w.events)
            n_events += n
            results.append(StepResult(w.index, w.t_start_us, w.t_end_us, n, out.output[b],
                                      scores, pred, decision, self.dropped, lat, b, rec))
        c = self.counters
        c["events"] += n_events
        c["windows"] += len(windows)
        c["steps"] += 1
        return results

    def _reset_stream(self, b: int) -> None:
        self.counters["state_resets"] += 1
        if self.batch == 1:
            self.backend.reset()
            return
        snap = self.backend.snapshot()
        for v in snap.values():
            v[b] = 0.0
        self.backend.restore(snap)

    # streams ----------------------------------------------------------------
    def run(self, stream: Iterable[Any], *, overload: OverloadPolicy | None = None,
            queue_windows: int = 64, record: bool = False,
            timed: bool = False) -> Iterator[StepResult]:
        """Step through a whole stream, lazily (bounded memory for any length).

        Args:
            stream: a :class:`~spikestream.streams.Source` or any iterable of event
                chunks (windowed here with the model's ``dt_us``), or an iterable of
                :class:`EventWindow`.
            overload: ``"drop_oldest"`` or ``"block"``: window the stream on a reader
                thread through a queue of ``queue_windows`` (drops are counted in
                ``StepResult.dropped``). Default: ``"drop_oldest"`` for a live source,
                none (pull, nothing dropped) otherwise.
            record, timed: passed to :meth:`step`.
        """
        if self.batch != 1:
            raise ValueError("run() steps one stream; use step_batch for a batch")
        self.check_source(stream)
        if overload is None and getattr(stream, "live", False):
            overload = "drop_oldest"
        windows = self._as_windows(stream)
        self.dropped = 0
        if overload is None:
            for w in windows:
                yield self.step(w, record, timed)
            return
        for w, dropped in threaded(windows, queue_windows, overload):
            self.counters["dropped"] += dropped - self.dropped
            self.dropped = dropped
            yield self.step(w, record, timed)

    def _as_windows(self, stream: Iterable[Any]) -> Iterator[EventWindow]:
        it = iter(stream)
        first = next(it, None)
        if first is None:
            return iter(())
        rest = chain([first], it)
        if isinstance(first, EventWindow):
            return rest  # type: ignore[return-value]
        if isinstance(first, np.ndarray):
            name = getattr(stream, "name", "<stream>")
            self.windower = Windower(self.dt_us, source=str(name))
            return self.windower.stream(rest)
        raise TypeError(f"run() takes event chunks or EventWindows, got {type(first).__name__}")

    def check_source(self, stream: Any) -> None:
        """Raise :class:`ModelError` if ``stream`` has a ``sensor_size`` other than the
        model's ``input.sensor_size`` (width and height)."""
        size = getattr(stream, "sensor_size", None)
        want = self.model.spec.input.sensor_size
        if size is not None and tuple(size[:2]) != tuple(want[:2]):
            raise ModelError(
                getattr(stream, "name", "source"), f"sensor is {size[0]}x{size[1]} but model "
                f"{self.model.spec.name!r} expects {want[0]}x{want[1]} (its input.sensor_size)")

    # state ------------------------------------------------------------------
    def warm_up(self, timed: bool = False) -> None:
        """Compile the backend's kernels now rather than on a stream's first window.

        numba compiles each kernel on its first call (about 0.5 s each, seconds on a
        cold cache), which would stall a paced or live stream at its start. This steps
        one window holding one event of each polarity at pixel (0, 0) (with ``timed``:
        the profiler's per-layer kernels), then puts the network and readout state and
        the counters back as they were.
        """
        snap = self.snapshot()
        counters = self.counters.copy()
        ev = np.zeros(2, EVENT_DTYPE)
        ev["p"] = (0, 1)
        self.step_batch([EventWindow(0, self.dt_us, ev, 0)] * self.batch, timed=timed)
        self.restore(snap)
        self.counters = counters

    def reset(self) -> None:
        """Zero the network state and forget the readouts' history."""
        self.backend.reset()
        for r in self.readouts:
            r.reset()

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copy of the whole state: the backend's arrays, and ``readout.<field>``
        arrays ``(B, ...)`` of the readouts (smoothed scores, first spike, previous output,
        scalars)."""
        snap = self.backend.snapshot()
        states = [r.get_state() for r in self.readouts]
        for k in states[0]:
            snap[f"readout.{k}"] = np.stack([s[k] for s in states])
        return snap

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        """Set the state from :meth:`snapshot` (``ValueError`` on a missing key or a
        shape mismatch; nothing is resized)."""
        keys = ("readout.smoothed", "readout.first", "readout.previous", "readout.scalars")
        missing = [k for k in keys if k not in snap]
        if missing:
            raise ValueError(f"snapshot lacks {missing}")
        self.backend.restore({k: v for k, v in snap.items() if not k.startswith("readout.")})
        for b, r in enumerate(self.readouts):
            r.set_state({k.removeprefix("readout."): snap[k][b] for k in keys})
