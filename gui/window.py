"""``MainWindow``: the player's controls around the four views, drawn from snapshots.

The toolbar opens a file, a UDP stream, the camera or the synthetic camera; plays,
pauses, single-steps, sets the speed and resets the network state; chooses the model
(shipped names, automatic, or a file) and the backend. Every control only sends a
command to the :class:`~.worker.Worker`; a ``QTimer`` (:data:`FPS`) draws the worker's
latest snapshot when it changed, so the window never waits on the engine. Errors
(a camera without drivers, a model for another sensor...) show in a red banner and in
the status bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from ..models import available
from ..runtime.backends.base import BACKENDS
from .event_view import EventView
from .latency_view import LatencyView
from .prediction_view import PredictionView
from .snapshot import Snapshot
from .spike_view import SpikeView
from .worker import Worker

SPEEDS = ("1x", "2x", "max")
AUTO_MODEL = "(automatic)"
MODEL_FILE = "model file…"
FPS = 40
"""Redraw timer rate (Hz): a little above the 30 fps goal, as a timer fires late."""


class MainWindow(QtWidgets.QMainWindow):
    """The spikestream window over a :class:`Worker` (which it closes on close).

    Args:
        worker: the engine's worker (started or not).
        echo_errors: also print each new error to stderr (the command line).
    """

    def __init__(self, worker: Worker, echo_errors: bool = False) -> None:
        super().__init__()
        self.worker = worker
        self.echo_errors = echo_errors
        self.setWindowTitle("spikestream")
        self.setStyleSheet("QMainWindow, QWidget { background: #111318; color: #d0d4dc; }"
                           "QToolBar { spacing: 4px; } QComboBox, QPushButton, QToolButton "
                           "{ background: #23262e; padding: 3px 8px; border: 1px solid #3a3f4b; }")
        self.events = EventView()
        self.spikes = SpikeView()
        self.prediction = PredictionView()
        self.latency = LatencyView()
        self.banner = QtWidgets.QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #5c1a1a; color: #ffdede; padding: 6px; "
                                  "font-size: 13px;")
        self.banner.hide()
        left = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        left.addWidget(self.events)
        left.addWidget(self.spikes)
        left.setSizes([560, 300])
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        right.addWidget(self.prediction)
        right.addWidget(self.latency)
        right.setSizes([560, 300])
        self.split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        self.split.addWidget(left)
        self.split.addWidget(right)
        self.split.setSizes([620, 780])
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(self.split, 1)
        self.setCentralWidget(central)
        self._build_toolbar()
        self.status = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.status, 1)
        self._shown: Snapshot | None = None
        self._last_error: str | None = None
        self._status_red = False
        self.frames = 0
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(int(1000 / FPS))

    # controls ----------------------------------------------------------------
    def _build_toolbar(self) -> None:
        tb = self.addToolBar("controls")
        tb.setMovable(False)
        w = self.worker

        def button(text: str, slot: Callable[[], object], tip: str) -> QtWidgets.QPushButton:
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            tb.addWidget(b)
            return b

        button("Open file…", self.choose_file, "open a recording (.aedat4, .dat, .raw, .bin…)")
        button("UDP…", self.choose_udp, "listen for SPIF events on a UDP port")
        button("Camera", lambda: self.open_source("camera://"), "open a USB event camera")
        button("Synthetic", lambda: self.open_source("synthetic://gesture?seed=0"),
               "the built-in synthetic DVS gesture camera")
        tb.addSeparator()
        self.play_button = button("Play", w.play, "play")
        button("Pause", w.pause, "pause")
        button("Step", lambda: w.step(1), "advance exactly one window")
        self.speed = QtWidgets.QComboBox()
        self.speed.addItems(SPEEDS)
        sp = w.speed_text.lower().rstrip("x")
        self.speed.setCurrentText("max" if sp == "max" else f"{sp}x")
        self.speed.currentTextChanged.connect(self.set_speed)
        tb.addWidget(QtWidgets.QLabel(" speed "))
        tb.addWidget(self.speed)
        button("Reset state", w.reset_state, "zero the network state and the readout")
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" model "))
        self.model_box = QtWidgets.QComboBox()
        self.model_box.addItems([AUTO_MODEL, *available(), MODEL_FILE])
        if w.model:
            if self.model_box.findText(w.model) < 0:
                self.model_box.insertItem(self.model_box.count() - 1, w.model)
            self.model_box.setCurrentText(w.model)
        self.model_box.textActivated.connect(self.choose_model)
        tb.addWidget(self.model_box)
        tb.addWidget(QtWidgets.QLabel(" backend "))
        self.backend_box = QtWidgets.QComboBox()
        self.backend_box.addItems(list(BACKENDS))
        self.backend_box.setCurrentText(w.backend)
        self.backend_box.textActivated.connect(lambda b: w.open(backend=b))
        tb.addWidget(self.backend_box)

    def open_source(self, uri: str) -> None:
        self.worker.open(source=uri)

    def choose_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open an event recording")
        if path:
            self.open_source(path)

    def choose_udp(self) -> None:
        text, ok = QtWidgets.QInputDialog.getText(
            self, "Listen on UDP", "HOST:PORT?sensor=WIDTHxHEIGHT (SPIF events)",
            text="127.0.0.1:3333?sensor=128x128")
        if ok and text.strip():
            t = text.strip()
            self.open_source(t if t.startswith("udp://") else f"udp://{t}")

    def choose_model(self, name: str) -> None:
        if name == MODEL_FILE:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Choose a model file", filter="spikestream models (*.safetensors)")
            if not path:
                return
            self.model_box.insertItem(self.model_box.count() - 1, path)
            self.model_box.setCurrentText(path)
            name = path
        self.worker.open(model="" if name == AUTO_MODEL else name)

    def set_speed(self, text: str) -> None:
        self.worker.set_speed(text.rstrip("x") if text != "max" else "max")

    # drawing -----------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Draw the worker's latest snapshot if it changed (the timer's slot)."""
        s = self.worker.latest()
        if s is self._shown and not force:
            return
        self._shown = s
        self.frames += 1
        if force:  # every number up to date (a screenshot)
            for view in (self.events, self.prediction, self.spikes, self.latency):
                view.text_clock.reset()
        if s.seq or s.sensor_size is not None:
            self.events.show_snapshot(s)
            self.prediction.show_snapshot(s)
            self.spikes.show_snapshot(s)
            self.latency.show_snapshot(s)
        self._show_state(s)

    def _show_state(self, s: Snapshot) -> None:
        if s.error:
            self.banner.setText(f"⚠ {s.error}")
            self.banner.show()
            if s.error != self._last_error and self.echo_errors:
                print(f"spikestream: error: {s.error}", file=sys.stderr, flush=True)
        else:
            self.banner.hide()
        self._last_error = s.error
        live = "live" if s.live else f"speed {s.speed}"
        self.status.setText(f"{s.state} · {s.source or 'no source'} · model {s.model} · "
                            f"{s.backend} · {live} · {s.message}")
        if bool(s.error) != self._status_red:  # a style sheet change re-polishes: rarely
            self._status_red = bool(s.error)
            self.status.setStyleSheet("color: #ff8080;" if s.error else "")

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.timer.stop()
        self.worker.close()
        super().closeEvent(event)
