"""``Snapshot``: everything the window draws, as one immutable value.

The worker builds a new snapshot a few dozen times a second and hands over only the
latest one (:class:`SnapshotSlot`); the window reads it on its timer and draws it.
Arrays in a snapshot are fresh copies marked read-only, so the worker never writes
into what the GUI is drawing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .activity import LayerActivity

STATES = ("idle", "opening", "playing", "paused", "ended", "error", "stopped")
"""Worker states shown in the window."""


@dataclass(frozen=True)
class DecisionEntry:
    """A change of the decided class (a :class:`~spikestream.runtime.readout.Decision`)
    with the true label at that moment, for the decision timeline.

    Attributes:
        t_s: stream time since the first window, s.
        name: decided class name (or "no gesture").
        confidence: in ``[0, 1]``.
        true_name: the labelled class at ``t_s``, or None (unlabelled source or
            between labelled segments).
    """

    t_s: float
    name: str
    confidence: float
    true_name: str | None = None


def _empty(dtype: type = np.float32) -> np.ndarray:
    a = np.zeros(0, dtype)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Snapshot:
    """The state of the player after its latest window.

    Attributes:
        seq: windows stepped since the pipeline opened (0 before the first).
        state: one of :data:`STATES`.
        message: status text (what happened last, or the error).
        error: the error text when ``state == "error"``.
        source, model, backend, speed: what runs (speed as given: ``"1"``, ``"max"``).
        live: the source is live (UDP, camera): never paced, may drop windows.
        sensor_size: ``(width, height)`` of the source, or None before it opened.
        dt_us: window length, µs.
        t_s: stream time at the end of the latest window since the first window, s.
        window_index: the latest window's index.
        events: ``(H, W, 3)`` uint8 event image (ON/OFF colours, fading trail).
        n_events: events in the latest window.
        event_rate_hz: smoothed input event rate (the readout's).
        layers: hidden layers' activity.
        classes: the model's class names.
        probs: ``(n_classes,)`` smoothed class probabilities.
        label, name, confidence: the decision (label None: "no gesture").
        true_name: the labelled class now (labelled sources), else None.
        labelled: the source carries labels.
        decisions: recent decision changes, oldest first.
        label_names: ``classes`` followed by the labels of the source that are not
            classes of the model (``timeline_true`` indexes it).
        timeline_t_s, timeline_pred, timeline_true: ``(n,)`` stream time, decided class
            (index in ``classes``) and true label (index in ``label_names``) per
            timeline sample; -1: none.
        latency_t_s, latency_us: ``(n,)`` per-window engine latency (input + network +
            readout, wall µs), bucket maxima.
        latency_p50_us, latency_p99_us: over the retained windows.
        rtf: real-time factor (stream seconds per wall second while playing, over the
            last few seconds); None before it can be measured.
        load: engine time per stream time (latency / ``dt_us``); < 1 keeps up.
        dropped: windows dropped by the overload policy (live sources).
        state_resets: resets of the network state (by the user or the readout policy).
        counters: source and windower counters (events, drops...).
    """

    seq: int = 0
    state: str = "idle"
    message: str = ""
    error: str | None = None
    source: str = ""
    model: str = ""
    backend: str = ""
    speed: str = "1"
    live: bool = False
    sensor_size: tuple[int, int] | None = None
    dt_us: int = 0
    t_s: float = 0.0
    window_index: int = -1
    events: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 3), np.uint8))
    n_events: int = 0
    event_rate_hz: float = 0.0
    layers: tuple[LayerActivity, ...] = ()
    classes: tuple[str, ...] = ()
    probs: np.ndarray = field(default_factory=_empty)
    label: int | None = None
    name: str = ""
    confidence: float = 0.0
    true_name: str | None = None
    labelled: bool = False
    label_names: tuple[str, ...] = ()
    decisions: tuple[DecisionEntry, ...] = ()
    timeline_t_s: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    timeline_pred: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    timeline_true: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    latency_t_s: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    latency_us: np.ndarray = field(default_factory=_empty)
    latency_p50_us: float = 0.0
    latency_p99_us: float = 0.0
    rtf: float | None = None
    load: float = 0.0
    dropped: int = 0
    state_resets: int = 0
    counters: dict[str, int] = field(default_factory=dict)


class SnapshotSlot:
    """A lock-protected slot holding only the latest :class:`Snapshot`."""

    def __init__(self, first: Snapshot | None = None) -> None:
        self._lock = threading.Lock()
        self._snap = first or Snapshot()
        self._changed = threading.Condition(self._lock)

    def put(self, snap: Snapshot) -> None:
        with self._lock:
            self._snap = snap
            self._changed.notify_all()

    def get(self) -> Snapshot:
        with self._lock:
            return self._snap

    def wait(self, predicate: Callable[[Snapshot], bool], timeout_s: float) -> Snapshot:
        """Block until ``predicate(snapshot)`` holds or ``timeout_s`` passes; return
        the latest snapshot either way (for scripts and tests)."""
        with self._lock:
            self._changed.wait_for(lambda: predicate(self._snap), timeout_s)
            return self._snap
