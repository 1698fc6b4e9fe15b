"""Qt for the window: PySide6 and pyqtgraph (the ``gui`` extra), imported on demand.

:func:`require_qt` imports them and configures pyqtgraph once (row-major images, as
numpy's ``(H, W, 3)``; antialiasing off for speed); without them it raises
:class:`QtMissing` saying how to install the extra.
"""

from __future__ import annotations

import os
import sys
import time
from types import ModuleType

INSTALL_HINT = ("the spikestream window needs PySide6 and pyqtgraph: install the gui "
                "extra with  pip install 'spikestream[gui]'  (or: pip install "
                "PySide6-Essentials pyqtgraph)")


class QtMissing(ImportError):
    """PySide6 or pyqtgraph is not installed."""


def check_signals() -> None:
    """Raise :class:`QtMissing` when this PySide6 loses a reference to ``True`` on
    every ``Signal.emit()`` (PySide6 6.12.0 does: pyqtgraph emits on every redraw, so
    after some seconds to minutes the process dies with "Fatal Python error:
    bool_dealloc"). Costs three emits."""
    from PySide6 import QtCore

    class _Probe(QtCore.QObject):
        sig = QtCore.Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(3):
        probe.sig.emit()
    if sys.getrefcount(True) < before:
        version = getattr(sys.modules.get("PySide6"), "__version__", "?")
        raise QtMissing(f"PySide6 {version} drops a reference to True on every signal "
                        "emit, which crashes a window that runs for a while; install "
                        "another version: pip install 'PySide6-Essentials>=6.6,!=6.12.0'")


class NoDisplay(RuntimeError):
    """No screen to open the window on (and it was not asked for offscreen)."""


def has_display() -> bool:
    """A screen Qt can open a window on: ``QT_QPA_PLATFORM`` chosen by the user, a
    non-Linux desktop, or an X11/Wayland display."""
    return (bool(os.environ.get("QT_QPA_PLATFORM")) or not sys.platform.startswith("linux")
            or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))


def choose_platform(offscreen_ok: bool) -> None:
    """Make sure Qt has a platform before the ``QApplication`` exists: without a
    display, ``offscreen`` when a window need not be seen (a screenshot), else
    :class:`NoDisplay` (Qt itself would abort the process)."""
    if has_display():
        return
    if not offscreen_ok:
        raise NoDisplay("no display to open the window on (DISPLAY and WAYLAND_DISPLAY "
                        "are unset): run it on a desktop, give --screenshot PNG "
                        "--seconds N (drawn offscreen), or set QT_QPA_PLATFORM=offscreen")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"


def require_qt() -> ModuleType:
    """pyqtgraph, configured; raises :class:`QtMissing` with :data:`INSTALL_HINT`."""
    try:
        import pyqtgraph as pg
        import PySide6  # noqa: F401
    except ImportError as e:
        raise QtMissing(f"{INSTALL_HINT} ({e})") from e
    check_signals()
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="#111318",
                        foreground="#d0d4dc")
    return pg


def class_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct RGB colours for class ``0 .. n-1`` (a fixed, readable palette)."""
    base = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (255, 187, 120),
            (152, 223, 138), (174, 199, 232), (255, 152, 150), (197, 176, 213)]
    return [base[k % len(base)] for k in range(n)]


def fixed_time_axis(plot, window_s: float) -> None:
    """A plot's x axis as "seconds before now", fixed to ``[-window_s, 0]``: its ticks
    are drawn once, not every frame as a scrolling stream-time axis would be (data go
    in as ``t - t_now``)."""
    plot.setLabel("bottom", "seconds before now")
    plot.setXRange(-window_s, 0, padding=0)
    plot.getAxis("bottom").enableAutoSIPrefix(False)
    cache_axes(plot)


def cache_axes(plot) -> None:
    """Cache each axis of a ``PlotItem``/``PlotWidget`` as a pixmap: an axis whose
    range does not change is blitted on a redraw, not drawn again (axis text is the
    most expensive thing pyqtgraph paints)."""
    from PySide6 import QtWidgets

    item = plot.getPlotItem() if hasattr(plot, "getPlotItem") else plot
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)


def nice_ceiling(v: float) -> float:
    """The smallest 1, 2 or 5 x 10^k >= ``v`` (> 0): an axis top that changes rarely."""
    import math

    if v <= 0:
        return 1.0
    k = 10.0 ** math.floor(math.log10(v))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * k >= v * (1 - 1e-9):
            return m * k
    return 10.0 * k


TEXT_HZ = 5.0
"""Most updates a second of a view's changing numbers while playing."""


class TextClock:
    """When a view redraws its numbers: at most :data:`TEXT_HZ` times a second while
    playing (a number rewritten 40 times a second is unreadable, and each rich-text
    label re-layout costs about a millisecond), at every frame otherwise (paused,
    single steps)."""

    def __init__(self) -> None:
        self._last = float("-inf")

    def reset(self) -> None:
        """The next :meth:`due` is True (a forced redraw: a screenshot)."""
        self._last = float("-inf")

    def due(self, state: str) -> bool:
        now = time.monotonic()
        if state != "playing" or now - self._last >= 1.0 / TEXT_HZ:
            self._last = now
            return True
        return False


NONE_COLOUR = (45, 48, 56)
"""Colour of "no gesture" / unlabelled stretches."""
