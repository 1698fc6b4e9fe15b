"""``Worker``: the engine's thread behind the window (no Qt: it runs headless too).

The worker opens a source and a model (:mod:`.pipeline`), takes the source's windows
from a reader thread (:mod:`.feed`), paces a recording at 1x, 2x... or as fast as
possible (:mod:`.clock`; live sources are never paced), steps the
:class:`~spikestream.runtime.engine.Engine` (with ``record=True`` on one window per
:data:`RECORD_EVERY_US` of stream time, for the spike view) and publishes only
the latest :class:`~.snapshot.Snapshot` into a lock-protected slot, at most
``publish_hz`` times a second (and after every single step or change of state).
Commands (play, pause, step, speed, reset, open another source, model or backend)
come from any thread through a queue; the worker handles them between windows and
while it waits for the next window to be due, so it never waits long on anything.
:meth:`Worker.close` stops it, stops the reader and closes the source.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..streams.errors import SpikestreamError
from ..streams.pacing import parse_speed
from .activity import ActivityMeter, hidden_layers
from .clock import StreamClock
from .feed import END
from .history import Ring
from .pipeline import Pipeline, open_pipeline
from .snapshot import DecisionEntry, Snapshot, SnapshotSlot
from .trail import EventTrail

RECORD_EVERY_US = 4000
"""Hidden-layer spikes are recorded (``Engine.step(record=True)``) for one window per
this much stream time: recording every layer of every 1 ms window costs about as much
as the step itself (numba backend), and a map drawn at 30 fps needs no more."""
TIMELINE_S = 10.0
"""Stream seconds of history kept for the timelines."""
PLOT_POINTS = 400
"""Most points per timeline in a snapshot."""
_POLL_S = 0.05


class Worker:
    """The engine loop on its own thread (see the module docstring).

    Args:
        source: URI or path to open first (None: wait for :meth:`open`).
        model: model name or file (None: :func:`~.pipeline.choose_model` picks).
        backend: ``"numba"`` or ``"torch"``.
        speed: replay speed of recordings: ``"1"``, ``"2x"``, ``"max"``...
        playing: start playing (else paused: :meth:`step` or :meth:`play`).
        publish_hz: most snapshots per second while playing.
        trail_ms: fade time of the event view.
    """

    def __init__(self, source: str | None = None, model: str | None = None,
                 backend: str = "numba", speed: str = "1", *, playing: bool = True,
                 publish_hz: float = 60.0, trail_ms: float = 30.0) -> None:
        self.speed_text = str(speed)
        self._clock = StreamClock(parse_speed(self.speed_text))
        self.source_uri, self.model, self.backend = source, model, backend
        self.playing = playing
        self.publish_s = 1.0 / publish_hz
        self.trail_us = int(trail_ms * 1000)
        self.slot = SnapshotSlot()
        self.pipeline: Pipeline | None = None
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="spikestream-gui-worker",
                                        daemon=True)
        self._state, self._message, self._error = "idle", "", None
        self._fresh_stream()

    # commands (any thread) -------------------------------------------------
    def start(self) -> Worker:
        self._thread.start()
        if self.source_uri:
            self.open(self.source_uri)
        return self

    def open(self, source: str | None = None, model: str | None = None,
             backend: str | None = None) -> None:
        """(Re)open with a new source, model or backend (the others stay); a recording
        starts again from its beginning."""
        self._commands.put(("open", (source, model, backend)))

    def play(self) -> None:
        """Play (after the end of a recording: again from its beginning)."""
        self._commands.put(("play", None))

    def pause(self) -> None:
        self._commands.put(("pause", None))

    def step(self, n: int = 1) -> None:
        """Pause, then advance exactly ``n`` windows."""
        self._commands.put(("step", int(n)))

    def set_speed(self, speed: str) -> None:
        """``"1"``, ``"2x"``, ``"max"``...; raises ValueError here on a bad speed."""
        parse_speed(speed)
        self._commands.put(("speed", str(speed)))

    def reset_state(self) -> None:
        """Zero the network state and the readout's memory."""
        self._commands.put(("reset", None))

    def latest(self) -> Snapshot:
        """The latest snapshot (never blocks for long)."""
        return self.slot.get()

    def wait(self, predicate: Callable[[Snapshot], bool], timeout_s: float = 10.0) -> Snapshot:
        """Wait until the latest snapshot satisfies ``predicate`` (or the timeout)."""
        return self.slot.wait(predicate, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the worker, its reader thread, and close the source."""
        self._stopping = True
        self._commands.put(("stop", None))
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        else:
            self._close_pipeline()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # the loop (worker thread) ----------------------------------------------
    def _main(self) -> None:
        try:
            while not self._stopping:
                self._handle_commands(0.0 if self._busy() else _POLL_S)
                if self._busy() and not self._stopping:
                    self._advance()
        except BaseException as e:  # a bug: show it rather than die silently
            traceback.print_exc(file=sys.stderr)
            self._set_state("error", f"{type(e).__name__}: {e}", error=True)
        finally:
            self._close_pipeline()
            self._set_state("stopped", "stopped")

    def _busy(self) -> bool:
        return (self.pipeline is not None and self._state in ("playing", "paused")
                and (self.playing or self._steps > 0))

    def _handle_commands(self, wait_s: float) -> None:
        try:
            cmd, arg = self._commands.get(timeout=wait_s) if wait_s > 0 \
                else self._commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._do(cmd, arg)
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return

    def _do(self, cmd: str, arg: Any) -> None:
        if cmd == "stop":
            self._stopping = True
        elif cmd == "open":
            source, model, backend = arg
            if source is not None:
                self.source_uri = source
            if model is not None:
                self.model = model or None
            if backend is not None:
                self.backend = backend
            self._open()
        elif cmd == "play" and self._state == "ended":
            self.playing = True
            self._open()  # play after the end: the recording again from its beginning
        elif cmd in ("play", "pause"):
            self.playing = cmd == "play"
            self._steps = 0
            self._clock.unanchor()
            self._rtf.clear()
            if self._state in ("playing", "paused"):
                self._set_state("playing" if self.playing else "paused", cmd)
        elif cmd == "step":
            self.playing = False
            self._steps += arg
            self._clock.unanchor()
            if self._state in ("playing", "paused"):
                self._set_state("paused", "single step")
        elif cmd == "speed":
            self.speed_text = arg
            self._clock.set_speed(parse_speed(arg))
            self._rtf.clear()
            self._publish(force=True, message=f"speed {arg}")
        elif cmd == "reset":
            if self.pipeline is not None:
                self.pipeline.engine.reset()
                self._user_resets += 1
                self._publish(force=True, message="network state reset")

    # opening ---------------------------------------------------------------
    def _close_pipeline(self) -> None:
        p, self.pipeline = self.pipeline, None
        if p is not None:
            p.close()

    def _fresh_stream(self) -> None:
        self._seq = 0
        self._steps = 0
        self._pending: Any = None
        self._t0_us: int | None = None
        self._last: Any = None
        self._user_resets = 0
        self._decisions: deque[DecisionEntry] = deque(maxlen=64)
        self._rtf: deque[tuple[float, float]] = deque()
        self._last_pub = 0.0
        self._trail: EventTrail | None = None
        self._meter: ActivityMeter | None = None
        self._lat = self._pred = self._true = Ring(1)
        self._true_name: str | None = None
        self._truth_names: list[str] = []
        self._record_every = 1

    def _open(self) -> None:
        self._close_pipeline()
        self._fresh_stream()
        if not self.source_uri:
            self._set_state("idle", "no source: open a file, UDP, camera or synthetic")
            return
        self._set_state("opening", f"opening {self.source_uri}")
        try:
            p = open_pipeline(self.source_uri, self.model, self.backend)
        except SpikestreamError as e:
            self._set_state("error", str(e), error=True)
            return
        except (ValueError, OSError, ImportError) as e:
            self._set_state("error", f"{self.source_uri}: {type(e).__name__}: {e}", error=True)
            return
        spec = p.engine.model.spec
        self.pipeline = p
        cap = int(min(max(TIMELINE_S * 1e6 / spec.dt_us, 64), 20_000))
        self._trail = EventTrail(p.source.sensor_size, max(self.trail_us, spec.dt_us))
        self._meter = ActivityMeter(hidden_layers(spec), cap)
        self._lat, self._pred, self._true = Ring(cap), Ring(cap, np.int16), Ring(cap, np.int16)
        self._truth_names = list(spec.classes)
        self._record_every = max(1, round(RECORD_EVERY_US / spec.dt_us))
        self._clock.unanchor()
        self._set_state("playing" if self.playing else "paused",
                        f"{spec.name} on {p.source.name} ({self.backend})")

    # stepping --------------------------------------------------------------
    def _advance(self) -> None:
        p = self.pipeline
        assert p is not None
        w = self._pending
        if w is None:
            try:
                w = p.feed.get(_POLL_S)
            except SpikestreamError as e:
                self._set_state("error", str(e), error=True)
                return
            if w is None:
                self._publish()
                return
            if w is END:
                self._set_state("ended", "end of stream")
                return
        if self._steps == 0 and not p.feed.live:
            wait = self._clock.wait_s(w.t_end_us)
            if wait > 0:
                self._pending = w
                self._handle_commands(min(wait, _POLL_S))
                return
        self._pending = None
        self._step(w)
        if self._steps > 0:
            self._steps -= 1
            self._publish(force=True)
        else:
            self._publish()

    def _step(self, w: Any) -> None:
        p = self.pipeline
        assert p is not None and self._trail is not None and self._meter is not None
        record = self._steps > 0 or self._seq % self._record_every == 0
        r = p.engine.step(w, record=record)
        lat = r.latency_us
        if self._t0_us is None:
            self._t0_us = w.t_start_us
        t_s = (w.t_end_us - self._t0_us) * 1e-6
        self._trail.add(w.events)
        self._meter.add(r.record, t_s)
        self._lat.append(t_s, lat["input"] + lat["network"] + lat["readout"])
        pred = r.prediction
        self._pred.append(t_s, -1 if pred.label is None else pred.label)
        if self._seq % 64 == 0:
            p.truth.refresh()  # an unbounded synthetic camera's gestures so far
        true = p.truth.at(w.t_end_us - 1)
        self._true_name = true
        self._true.append(t_s, -1 if true is None else self._truth_index(true))
        if r.decision is not None:
            d = r.decision
            self._decisions.append(DecisionEntry(t_s, d.name, d.confidence, true))
        self._last = r
        self._seq += 1

    def _truth_index(self, name: str) -> int:
        """Index of a true label in ``classes + extra_labels`` (adding it there)."""
        names = self._truth_names
        if name not in names:
            names.append(name)
        return names.index(name)

    # publishing ------------------------------------------------------------
    def _set_state(self, state: str, message: str, error: bool = False) -> None:
        self._state, self._message = state, message
        self._error = message if error else None
        self._publish(force=True)

    def _publish(self, force: bool = False, message: str | None = None) -> None:
        now = time.monotonic()
        if message is not None:
            self._message = message
        if not force and now - self._last_pub < self.publish_s:
            return
        self._last_pub = now
        self.slot.put(self._snapshot(now))

    def _snapshot(self, now: float) -> Snapshot:
        p, r = self.pipeline, self._last
        base = dict(seq=self._seq, state=self._state, message=self._message, error=self._error,
                    source=self.source_uri or "", backend=self.backend, speed=self.speed_text,
                    model=self.model or "(default)")
        if p is None:
            return Snapshot(**base)
        spec = p.engine.model.spec
        base.update(model=spec.name, live=p.feed.live, dt_us=spec.dt_us,
                    sensor_size=tuple(p.source.sensor_size[:2]), classes=spec.classes,
                    labelled=p.truth.labelled)
        if r is None or self._trail is None or self._meter is None:
            return Snapshot(**base)
        t_s = (r.t_end_us - (self._t0_us or 0)) * 1e-6
        since = t_s - TIMELINE_S
        if self.playing and self._state == "playing":
            self._rtf.append((now, t_s))
            while len(self._rtf) > 2 and now - self._rtf[0][0] > 3.0:
                self._rtf.popleft()
        rtf = None
        if len(self._rtf) >= 2 and self._rtf[-1][0] - self._rtf[0][0] > 0.2:
            (w0, s0), (w1, s1) = self._rtf[0], self._rtf[-1]
            rtf = (s1 - s0) / (w1 - w0)
        lat_t, lat = self._lat.tail(PLOT_POINTS, "max", since)
        _, lat_all = self._lat.ordered()
        tl_t, tl_pred = self._pred.tail(PLOT_POINTS, "last", since)
        _, tl_true = self._true.tail(PLOT_POINTS, "last", since)
        pred = r.prediction
        p50, p99 = (np.percentile(lat_all[-2000:], [50, 99]) if len(lat_all) else (0.0, 0.0))
        counters = dict(p.feed.counters)
        counters.update({f"engine_{k}": v for k, v in p.engine.counters.items()})
        return Snapshot(
            **base, t_s=t_s, window_index=r.index, events=_ro(self._trail.render(r.t_end_us)),
            n_events=r.n_events, event_rate_hz=pred.event_rate_hz, layers=self._meter.take(
                PLOT_POINTS, since), probs=_ro(np.array(pred.probs, np.float32)),
            label=pred.label, name=pred.name, confidence=pred.confidence,
            true_name=self._true_name, label_names=tuple(self._truth_names),
            decisions=tuple(self._decisions),
            timeline_t_s=_ro(tl_t), timeline_pred=_ro(tl_pred), timeline_true=_ro(tl_true),
            latency_t_s=_ro(lat_t), latency_us=_ro(lat), latency_p50_us=float(p50),
            latency_p99_us=float(p99), rtf=rtf,
            load=float(lat_all[-2000:].mean() / spec.dt_us) if len(lat_all) else 0.0,
            dropped=p.feed.dropped,
            state_resets=self._user_resets + p.engine.counters["state_resets"],
            counters=counters)


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
