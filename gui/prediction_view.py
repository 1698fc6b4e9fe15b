"""``PredictionView``: the decided class in large type with its confidence, the true
label beside it (labelled sources), the class probabilities as bars, and a timeline
of past decisions over the true labels.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from .qt import NONE_COLOUR, TextClock, cache_axes, class_colours, fixed_time_axis, require_qt
from .snapshot import Snapshot
from .worker import TIMELINE_S

pg = require_qt()


def strip(indices: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``(n,)`` class indices (-1: none) -> ``(1, n, 3)`` uint8 colours."""
    out = np.empty((1, len(indices), 3), np.uint8)
    out[0] = NONE_COLOUR
    ok = indices >= 0
    out[0, ok] = colours[np.minimum(indices[ok], len(colours) - 1)]
    return out


class PredictionView(QtWidgets.QWidget):
    """Decision, confidence, true label, probability bars and decision timeline."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.decided = QtWidgets.QLabel("–")
        self.decided.setStyleSheet("font-size: 40px; font-weight: bold; color: #ffffff;")
        self.confidence = QtWidgets.QLabel("")
        self.confidence.setStyleSheet("font-size: 18px; color: #d0d4dc;")
        self.truth = QtWidgets.QLabel("")
        self.truth.setStyleSheet("font-size: 18px; color: #9aa3b2;")
        self.truth.setAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
        for label in (self.decided, self.confidence, self.truth):
            # a long class name must not widen the panel (and squeeze the event view)
            label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        head = QtWidgets.QGridLayout()
        head.addWidget(self.decided, 0, 0, 1, 2)
        head.addWidget(self.confidence, 1, 0)
        head.addWidget(self.truth, 1, 1)
        head.setColumnStretch(0, 1)
        head.setColumnStretch(1, 1)

        self.bars_plot = pg.PlotWidget()
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.setXRange(0, 1, padding=0)
        self.bars_plot.getViewBox().invertY(True)
        self.bars_plot.setLabel("bottom", "probability")
        self.bars_plot.hideButtons()
        cache_axes(self.bars_plot)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.bars_plot.addItem(self.bars)

        self.timeline = pg.PlotWidget()
        self.timeline.setMouseEnabled(x=False, y=False)
        self.timeline.setMaximumHeight(110)
        self.timeline.hideButtons()
        fixed_time_axis(self.timeline, TIMELINE_S)
        self.timeline.getViewBox().invertY(True)
        self.timeline.setYRange(0, 1, padding=0)
        self.timeline.getAxis("left").setTicks([[(0.5, "decided")]])
        self.bars_plot.getAxis("left").setTicks([[]])
        self.pred_strip = pg.ImageItem()
        self.true_strip = pg.ImageItem()
        self.timeline.addItem(self.pred_strip)
        self.timeline.addItem(self.true_strip)
        self.history = QtWidgets.QLabel("")
        self.history.setStyleSheet("font-family: monospace; font-size: 12px; color: #9aa3b2;")
        self.history.setTextFormat(QtCore.Qt.PlainText)
        self.history.setSizePolicy(QtWidgets.QSizePolicy.Ignored,
                                   QtWidgets.QSizePolicy.Preferred)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addLayout(head)
        lay.addWidget(self.bars_plot, 3)
        lay.addWidget(self.timeline, 1)
        lay.addWidget(self.history)
        self._classes: tuple[tuple[str, ...], bool] | None = None
        self._colours = np.zeros((1, 3), np.uint8)
        self._decided_colour = ""
        self.text_clock = TextClock()

    def _set_classes(self, s: Snapshot) -> None:
        self._classes = (s.classes, s.labelled)
        n = len(s.classes)
        self.bars_plot.getAxis("left").setTicks([[(k, c) for k, c in enumerate(s.classes)]])
        self.bars_plot.setYRange(-0.5, n - 0.5, padding=0.02)
        ticks = [(0.5, "decided"), (1.5, "true")] if s.labelled else [(0.5, "decided")]
        self.timeline.getAxis("left").setTicks([ticks])
        self.timeline.setYRange(0, 2 if s.labelled else 1, padding=0)
        self.true_strip.setVisible(s.labelled)

    def show_snapshot(self, s: Snapshot) -> None:
        if (s.classes, s.labelled) != self._classes:
            self._set_classes(s)
        names = s.label_names or s.classes
        if len(self._colours) != max(len(names), 1):
            self._colours = np.array(class_colours(max(len(names), 1)), np.uint8)
        cols = self._colours
        r, g, b = (255, 255, 255) if s.label is None else (int(v) for v in cols[s.label])
        colour = f"#{r:02x}{g:02x}{b:02x}"
        self.decided.setText(s.name or "–")
        if colour != self._decided_colour:  # a style sheet change re-polishes: rarely
            self._decided_colour = colour
            self.decided.setStyleSheet(f"font-size: 40px; font-weight: bold; color: {colour};")
        text_due = self.text_clock.due(s.state)
        if text_due:
            self.confidence.setText(f"confidence {s.confidence:.0%} · t {s.t_s:.2f} s")
        if s.labelled:
            mark = "" if s.true_name is None else ("  ✓" if s.true_name == s.name else "  ✗")
            self.truth.setText(f"true: <b>{s.true_name or 'no gesture'}</b>{mark}")
        else:
            self.truth.setText("unlabelled source")
        n = len(s.probs)
        if n:
            # every bar in its class colour (the timeline's legend), the decided one bright
            brushes = [pg.mkBrush(*cols[k], 255 if k == s.label else 110) for k in range(n)]
            self.bars.setOpts(x0=np.zeros(n), y=np.arange(n), width=s.probs, height=0.7,
                              brushes=brushes)
        t = s.timeline_t_s
        if len(t) > 1:
            x0, width = float(t[0]) - s.t_s, max(float(t[-1] - t[0]), 1e-6)
            self.pred_strip.setImage(strip(s.timeline_pred, cols), autoLevels=False,
                                     levels=(0, 255))
            self.pred_strip.setRect(QtCore.QRectF(x0, 0.05, width, 0.9))
            if s.labelled:
                self.true_strip.setImage(strip(s.timeline_true, cols), autoLevels=False,
                                         levels=(0, 255))
                self.true_strip.setRect(QtCore.QRectF(x0, 1.05, width, 0.9))
        lines = [f"{d.t_s:8.2f} s  {d.name:<26} {d.confidence:4.0%}"
                 + ("" if d.true_name is None else f"  (true: {d.true_name})")
                 for d in s.decisions[-4:]]
        if text_due:
            self.history.setText("\n".join(reversed(lines)))
