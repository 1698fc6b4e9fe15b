"""``LatencyView``: each window's engine latency against the real-time budget
(``dt_us``), the real-time factor and the dropped windows."""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from .qt import TextClock, fixed_time_axis, nice_ceiling, require_qt
from .snapshot import Snapshot
from .worker import TIMELINE_S

pg = require_qt()


def y_top(latency_us: np.ndarray, dt_us: int) -> float:
    """Top of the latency axis: the budget and most points in view, but not a rare
    spike (the first window's JIT compile, a pause of the OS) squashing the rest."""
    if not len(latency_us):
        return max(float(dt_us), 1.0) * 1.5
    robust = float(np.percentile(latency_us, 98)) * 1.3
    return nice_ceiling(max(robust, float(dt_us) * 1.5, 1.0))


class LatencyView(QtWidgets.QWidget):
    """Latency plot (µs per window, budget line) and the real-time figures."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.figures = QtWidgets.QLabel("")
        self.figures.setStyleSheet("font-size: 13px; color: #d0d4dc;")
        self.figures.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setTitle("engine latency per window (max per point; off-scale peaks clipped)")
        self.plot.setLabel("left", "latency (µs)")
        fixed_time_axis(self.plot, TIMELINE_S)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setYRange(0, 1500, padding=0)
        self.curve = self.plot.plot([], [], pen=pg.mkPen((120, 220, 140), width=1.5))
        self.budget = pg.InfiniteLine(angle=0, pen=pg.mkPen((255, 90, 90), width=1,
                                                           style=pg.QtCore.Qt.DashLine),
                                      label="budget (dt)", labelOpts={"color": (255, 90, 90),
                                                                      "position": 0.1})
        self.plot.addItem(self.budget)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.figures)
        lay.addWidget(self.plot, 1)
        self._dt = 0
        self._top = 0.0
        self.text_clock = TextClock()

    def show_snapshot(self, s: Snapshot) -> None:
        self.curve.setData(s.latency_t_s - s.t_s, s.latency_us)
        if s.dt_us != self._dt:
            self._dt = s.dt_us
            self.budget.setValue(s.dt_us)
        top = y_top(s.latency_us, s.dt_us)
        if top != self._top:
            self._top = top
            self.plot.setYRange(0, top, padding=0)
        if not self.text_clock.due(s.state):
            return
        rtf = "—" if s.rtf is None else f"{s.rtf:.2f}x"
        self.figures.setText(
            f"<b>real-time factor {rtf}</b> (stream s per wall s) · engine load "
            f"{s.load:.0%} of real time<br>latency p50 {s.latency_p50_us:,.0f} µs · p99 "
            f"{s.latency_p99_us:,.0f} µs · budget {s.dt_us:,} µs · <b>dropped "
            f"{s.dropped:,}</b> windows")
