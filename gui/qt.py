"""Qt for the window: PySide6 and pyqtgraph (the ``gui`` extra), imported on demand.

:func:`require_qt` imports them and configures pyqtgraph once (row-major images, as
numpy's ``(H, W, 3)``; antialiasing off for speed); without them it raises
:class:`QtMissing` saying how to install the extra.
"""

from __future__ import annotations

from types import ModuleType

INSTALL_HINT = ("the spikestream window needs PySide6 and pyqtgraph: install the gui "
                "extra with  pip install 'spikestream[gui]'  (or: pip install "
                "PySide6-Essentials pyqtgraph)")


class QtMissing(ImportError):
    """PySide6 or pyqtgraph is not installed."""


def require_qt() -> ModuleType:
    """pyqtgraph, configured; raises :class:`QtMissing` with :data:`INSTALL_HINT`."""
    try:
        import pyqtgraph as pg
        import PySide6  # noqa: F401
    except ImportError as e:
        raise QtMissing(f"{INSTALL_HINT} ({e})") from e
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="#111318",
                        foreground="#d0d4dc")
    return pg


def class_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct RGB colours for class ``0 .. n-1`` (a fixed, readable palette)."""
    base = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (255, 187, 120),
            (152, 223, 138), (174, 199, 232), (255, 152, 150), (197, 176, 213)]
    return [base[k % len(base)] for k in range(n)]


NONE_COLOUR = (45, 48, 56)
"""Colour of "no gesture" / unlabelled stretches."""
