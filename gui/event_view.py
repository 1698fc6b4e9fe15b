"""``EventView``: the current events, ON and OFF in two colours with a short trail.

Draws the snapshot's ready-made ``(H, W, 3)`` image (see :mod:`.trail`) at the
sensor's resolution, y down as the camera sees it.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from .qt import TextClock, require_qt
from .snapshot import Snapshot

pg = require_qt()


class EventView(pg.GraphicsLayoutWidget):
    """The event image with a title line (events per window, event rate, sensor)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = self.addLabel("events", size="11pt", col=0, row=0)
        self.box = self.addViewBox(row=1, col=0, lockAspect=True, enableMouse=False)
        self.box.invertY(True)
        self.image = pg.ImageItem()
        self.box.addItem(self.image)
        self._size: tuple[int, int] | None = None
        self.text_clock = TextClock()

    def show_snapshot(self, s: Snapshot) -> None:
        img = s.events
        self.image.setImage(img, autoLevels=False, levels=(0, 255))
        size = (img.shape[1], img.shape[0])
        if size != self._size:
            self._size = size
            self.box.setRange(xRange=(0, size[0]), yRange=(0, size[1]), padding=0.01)
        if s.sensor_size is None:
            self.title.setText("events")
            return
        if not self.text_clock.due(s.state):
            return
        w, h = s.sensor_size
        self.title.setText(
            f"events  <span style='color:#ffd23c'>■ ON</span> "
            f"<span style='color:#4696ff'>■ OFF</span>  ·  window {max(s.window_index, 0):,}: "
            f"{s.n_events:,} events in {s.dt_us / 1000:g} ms  ·  "
            f"{s.event_rate_hz / 1e3:,.0f} kev/s  ·  {w}x{h}")
