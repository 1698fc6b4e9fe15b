"""The Qt window of spikestream: events, spikes, the decision and its latency, live.

``launch(source, model, backend, speed, screenshot, seconds)`` opens the window (see
:mod:`.app`); :class:`~.worker.Worker` is the engine's thread behind it, usable
without Qt. Qt (PySide6 + pyqtgraph, the ``gui`` extra) is imported only when a
window is made.
"""

from __future__ import annotations


def launch(source: str | None = None, model: str | None = None, backend: str = "numba",
           speed: str = "1", screenshot: str | None = None,
           seconds: float | None = None) -> int:
    """Open the window and play ``source``; see :func:`spikestream.gui.app.launch`."""
    from .app import launch as _launch

    return _launch(source, model, backend, speed, screenshot, seconds)


__all__ = ["launch"]
