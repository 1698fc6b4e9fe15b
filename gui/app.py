"""``launch``: the spikestream window as an application (command line, demos).

``launch(source, model, backend, speed)`` creates the ``QApplication`` (or uses the
running one), the :class:`~.window.MainWindow` over a :class:`~.worker.Worker`, and
plays. With ``screenshot`` and ``seconds`` it plays ``seconds`` of **stream time**
(the recording's or the synthetic camera's clock, so the picture does not depend on
the machine's speed; a live UDP or camera source counts wall time from its first
window stepped, as its stream time is wall time), or until the stream ends or
fails, then saves ``window.grab()`` of the whole window as a PNG, closes the window
(the worker, its reader thread and the source) and returns. A wall-clock limit of
``10 * seconds / speed + 60`` s guards against a stream that never advances.
"""

from __future__ import annotations

import sys
import time

from .qt import choose_platform, require_qt

DEFAULT_SIZE = (1400, 860)


def launch(source: str | None = None, model: str | None = None, backend: str = "numba",
           speed: str = "1", screenshot: str | None = None,
           seconds: float | None = None) -> int:
    """Open the window on ``source`` and play it.

    Args:
        source: a recording, ``udp://HOST:PORT?sensor=WxH``, ``camera://`` or
            ``synthetic://gesture?...``; None: an empty window (open one from it).
        model: a shipped model's name or a model file; None picks one
            (:func:`~.pipeline.choose_model`).
        backend: ``"numba"`` or ``"torch"``.
        speed: replay speed of recordings: ``"1"``, ``"2x"``, ``"max"``.
        screenshot: save a PNG of the window there after ``seconds`` and return.
        seconds: stream seconds to play before the screenshot (or, without
            ``screenshot``, before closing the window).

    Returns:
        0; 2 when playing stopped on an error (which went to stderr and the window).

    Raises:
        QtMissing: PySide6 or pyqtgraph is not installed.
        NoDisplay: no display and no ``screenshot`` (which is drawn offscreen).
    """
    require_qt()
    from PySide6 import QtCore, QtWidgets

    if QtWidgets.QApplication.instance() is None:
        choose_platform(offscreen_ok=screenshot is not None)

    from .window import MainWindow
    from .worker import Worker

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["spikestream"])
    worker = Worker(source, model, backend, speed)
    win = MainWindow(worker, echo_errors=True)
    win.resize(*DEFAULT_SIZE)
    win.show()
    worker.start()
    if seconds is None:
        app.exec()
        dispose(win)
        return 2 if worker.latest().error else 0
    limit = 10 * seconds / _speed(speed) + 60
    t0 = time.monotonic()
    loop = QtCore.QEventLoop()

    playing_since: list[float] = []

    def check() -> None:
        s = worker.latest()
        now = time.monotonic()
        if s.state == "playing" and s.seq and not playing_since:
            playing_since.append(now)  # a live source's clock starts at its first window
        live_s = now - playing_since[0] if playing_since else 0.0
        if (s.t_s >= seconds or s.state in ("ended", "error", "stopped")
                or now - t0 > limit or (s.live and live_s >= seconds)):
            loop.quit()

    poll = QtCore.QTimer()
    poll.timeout.connect(check)
    poll.start(20)
    loop.exec()
    poll.stop()
    win.refresh(force=True)
    app.processEvents()
    failed = worker.latest().error is not None
    if screenshot:
        if not win.grab().save(str(screenshot)):
            print(f"spikestream: error: cannot write the screenshot {screenshot}",
                  file=sys.stderr)
            failed = True
    win.close()
    dispose(win)
    return 2 if failed else 0


def dispose(win: object) -> None:
    """Delete a closed window's Qt objects now, while the interpreter is alive (left to
    the garbage collector at exit, PySide objects can crash the process's shutdown)."""
    import gc

    from PySide6 import QtCore, QtWidgets

    win.deleteLater()  # type: ignore[attr-defined]
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    QtWidgets.QApplication.processEvents()
    gc.collect()


def _speed(text: str) -> float:
    from ..streams.pacing import parse_speed

    s = parse_speed(text)
    return 50.0 if s is None else s
