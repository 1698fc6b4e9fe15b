"""``SpikeView``: what the hidden layers fire: one activity map per layer and their
firing rates over the last seconds.

Each map shows every neuron's firing rate over the windows since the previous frame
(channels tiled, see :func:`~.activity.tile`), coloured with ``inferno``; the plot
beside them shows each layer's percentage of neurons firing per window, in the
colour of the layer's name.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from .qt import TextClock, class_colours, fixed_time_axis, nice_ceiling, require_qt
from .snapshot import Snapshot
from .worker import TIMELINE_S

pg = require_qt()

_GAP = np.array([30, 32, 40], np.uint8)


def colourise(a: np.ndarray, lut: np.ndarray, vmax: float) -> np.ndarray:
    """``(H, W)`` rates (NaN = gap) -> ``(H, W, 3)`` uint8 through ``lut`` ``(256, 3)``."""
    gap = np.isnan(a)
    v = np.where(gap, 0.0, a) * (255.0 / max(vmax, 1e-9))
    rgb = lut[np.clip(v, 0, 255).astype(np.uint8)]
    rgb[gap] = _GAP
    return rgb


class SpikeView(pg.GraphicsLayoutWidget):
    """Activity maps of the hidden layers (top) and their firing rates (bottom)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.lut = pg.colormap.get("inferno").getLookupTable(nPts=256)[:, :3].astype(np.uint8)
        self._names: tuple[str, ...] | None = None
        self.maps: list[tuple[object, object]] = []
        self.curves: list[object] = []
        self.rate_plot = None
        self._top = 0.0
        self.text_clock = TextClock()

    def _build(self, s: Snapshot) -> None:
        self.clear()
        self.maps, self.curves = [], []
        n = len(s.layers)
        colours = class_colours(n + 3)[3:]
        self.addLabel("hidden-layer spikes · firing rate per neuron (channels tiled)",
                      size="11pt", row=0, col=0, colspan=n + 1)
        for k, (a, c) in enumerate(zip(s.layers, colours, strict=True)):
            label = self.addLabel(a.name, size="9pt", color=c, row=1, col=k)
            box = self.addViewBox(row=2, col=k, lockAspect=True, enableMouse=False)
            box.invertY(True)
            img = pg.ImageItem()
            box.addItem(img)
            self.maps.append((label, img))
        self.rate_plot = self.addPlot(row=1, col=n, rowspan=2)
        self._top = 0.0
        p = self.rate_plot
        p.setLabel("left", "neurons firing", units="%")
        fixed_time_axis(p, TIMELINE_S)
        p.showGrid(x=True, y=True, alpha=0.25)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        for a, c in zip(s.layers, colours, strict=True):
            self.curves.append(p.plot([], [], pen=pg.mkPen(c, width=1.5), name=a.name))
        for k in range(n):
            self.ci.layout.setColumnStretchFactor(k, 2)
        self.ci.layout.setColumnStretchFactor(n, max(2 * n, 3))
        self.ci.layout.setRowStretchFactor(2, 5)

    def show_snapshot(self, s: Snapshot) -> None:
        names = tuple(a.name for a in s.layers)
        if names != self._names:
            self._names = names
            self._build(s)
        text_due = self.text_clock.due(s.state)
        for (label, img), a, curve in zip(self.maps, s.layers, self.curves, strict=True):
            vmax = float(np.nanmax(a.image)) if a.image.size and np.isfinite(a.image).any() \
                else 0.0
            img.setImage(colourise(a.image, self.lut, max(vmax, 0.05)), autoLevels=False,
                         levels=(0, 255))
            if text_due:
                label.setText(f"{a.name} {'x'.join(map(str, a.shape))} · {a.mean_rate:.1%}")
            curve.setData(a.rate_t_s - s.t_s, a.rate * 100.0)
        top = nice_ceiling(max([float(a.rate.max()) * 100.0 for a in s.layers if len(a.rate)]
                               + [1.0]) * 1.05)
        if self.rate_plot is not None and top != self._top:  # fixed axis: drawn rarely
            self._top = top
            self.rate_plot.setYRange(0, top, padding=0)
