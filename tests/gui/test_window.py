"""The window (pytest-qt, offscreen): every source kind, a real recording with a
prediction, the controls, screenshots, and a clean close."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from spikestream.gui.window import MainWindow  # noqa: E402
from spikestream.gui.worker import Worker  # noqa: E402

FINAL = ("ended", "error", "stopped")


def open_window(qtbot, source: str | None, model: str | None, speed: str = "max",
                playing: bool = True) -> MainWindow:
    worker = Worker(source, model, "numba", speed, playing=playing)
    win = MainWindow(worker)
    qtbot.addWidget(win)
    win.resize(1400, 860)
    win.show()
    worker.start()
    return win


def wait_for(qtbot, win: MainWindow, predicate, timeout_s: float = 30.0):
    """Let the Qt loop run (the window redraws) until the snapshot satisfies it."""
    qtbot.waitUntil(lambda: predicate(win.worker.latest()), timeout=int(timeout_s * 1000))
    win.refresh(force=True)
    return win.worker.latest()


def button(win: MainWindow, text: str) -> QtWidgets.QPushButton:
    found = [b for b in win.findChildren(QtWidgets.QPushButton) if b.text() == text]
    assert len(found) == 1, f"no single {text!r} button"
    return found[0]


def click(qtbot, win: MainWindow, text: str) -> None:
    qtbot.mouseClick(button(win, text), QtCore.Qt.LeftButton)


def save(win: MainWindow, artifacts: list[Path], name: str) -> QtGui.QImage:
    img = win.grab().toImage()
    for folder in artifacts:
        assert img.save(str(folder / name))
    return img


def close(win: MainWindow) -> None:
    win.close()
    assert not win.worker.alive
    assert win.worker.latest().state == "stopped"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_recording_shows_events_spikes_prediction_and_latency(
        qtbot, busy_dvs128_files, dvs_model, artifacts, no_thread_left):
    before = {t.ident for t in threading.enumerate()}
    win = open_window(qtbot, str(busy_dvs128_files[0]), dvs_model)
    s = wait_for(qtbot, win, lambda s: s.t_s >= 1.5 or s.state in FINAL, 60)
    assert s.state == "playing", s.message
    assert not win.banner.isVisible()
    shown = win.events.image.image
    assert shown.shape == (128, 128, 3) and shown.any()  # the events at sensor resolution
    on, off = shown[..., 0] > shown[..., 2], shown[..., 2] > shown[..., 0]
    assert on.any() and off.any()  # both polarities, two colours
    assert win.prediction.decided.text() == s.name and s.name  # the decision in large type
    assert "confidence" in win.prediction.confidence.text()
    assert win.prediction.truth.text() == "unlabelled source"
    assert [lbl.text.split()[0] for lbl, _ in win.spikes.maps] == ["conv1", "conv2"]
    assert all(img.image is not None and img.image.any() for _, img in win.spikes.maps)
    assert all(len(c.getData()[0]) > 0 for c in win.spikes.curves)  # rates over time
    assert len(win.latency.curve.getData()[0]) > 0
    assert "real-time factor" in win.latency.figures.text()
    assert "dropped 0" in win.latency.figures.text().replace("<b>", "")
    assert win.frames > 1  # the timer redraws
    img = save(win, artifacts, "gui-dvs128.png")
    assert img.width() >= 1000 and img.height() >= 600
    close(win)
    assert {t.ident for t in threading.enumerate()} <= before  # no thread left behind


def test_open_file_pause_step_reset_speed_buttons(qtbot, monkeypatch, dvs128_files, dvs_model,
                                                  no_thread_left):
    win = open_window(qtbot, None, dvs_model)
    try:
        monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                            lambda *a, **k: (str(dvs128_files[-1]), ""))
        click(qtbot, win, "Open file…")
        s = wait_for(qtbot, win, lambda s: s.seq > 100 or s.state in FINAL)
        assert s.source == str(dvs128_files[-1]) and s.state == "playing", s.message
        click(qtbot, win, "Pause")
        s = wait_for(qtbot, win, lambda s: s.state == "paused")
        qtbot.wait(200)
        n = win.worker.latest().seq
        assert n == s.seq  # paused: nothing moves
        click(qtbot, win, "Step")
        s = wait_for(qtbot, win, lambda s: s.seq > n)
        qtbot.wait(200)
        assert win.worker.latest().seq == n + 1 and s.state == "paused"  # exactly one
        assert f"window {s.window_index:,}:" in win.events.title.text
        click(qtbot, win, "Reset state")
        s = wait_for(qtbot, win, lambda s: s.state_resets >= 1)
        engine = win.worker.pipeline.engine
        snap = engine.snapshot()
        assert all(not np.any(v) for k, v in snap.items() if not k.startswith("readout."))
        assert not snap["readout.smoothed"].any()
        win.speed.setCurrentText("2x")
        s = wait_for(qtbot, win, lambda s: s.speed == "2")
        click(qtbot, win, "Play")
        wait_for(qtbot, win, lambda s: s.state == "playing" and s.seq > n + 10)
    finally:
        close(win)


def test_synthetic_gestures_show_the_true_label(qtbot, dvs_model, artifacts, no_thread_left):
    from spikestream.models import available

    model = "gesture-synthetic" if "gesture-synthetic" in available() else dvs_model
    win = open_window(qtbot, None, model)
    wait_for(qtbot, win, lambda s: s.state == "idle")
    click(qtbot, win, "Synthetic")
    s = wait_for(qtbot, win, lambda s: s.t_s >= 2.5 or s.state in FINAL, 60)
    assert s.state == "playing" and s.source.startswith("synthetic://gesture"), s.message
    assert s.labelled and (s.timeline_true >= 0).any()
    assert win.prediction.truth.text().startswith("true: ")
    assert win.prediction.true_strip.isVisible()
    save(win, artifacts, "gui-synthetic.png")
    close(win)


def test_udp_source_plays_and_releases_its_port(qtbot, monkeypatch, dvs128_files, dvs_model,
                                                no_thread_left):
    from spikestream.streams import open_source
    from spikestream.streams.sender import send_events

    port = free_port()
    win = open_window(qtbot, None, dvs_model)
    stop = threading.Event()
    try:
        monkeypatch.setattr(QtWidgets.QInputDialog, "getText",
                            lambda *a, **k: (f"127.0.0.1:{port}?sensor=128x128", True))
        click(qtbot, win, "UDP…")
        s = wait_for(qtbot, win, lambda s: s.state in ("playing", *FINAL))
        assert s.state == "playing" and s.live, s.message
        with open_source(dvs128_files[-1]) as rec:
            tx = threading.Thread(target=send_events, args=(rec,),
                                  kwargs={"port": port, "speed": 1.0, "stop": stop})
            tx.start()
            try:
                s = wait_for(qtbot, win, lambda s: s.seq > 50 and s.n_events > 0, 20)
            finally:
                stop.set()
                tx.join(10)
        assert "live" in win.status.text() and win.events.image.image.any()
    finally:
        close(win)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))  # EADDRINUSE if the window kept the port


def test_camera_without_drivers_shows_an_error_not_a_crash(qtbot, dvs_model,
                                                           no_thread_left):
    win = open_window(qtbot, None, dvs_model)
    click(qtbot, win, "Camera")
    s = wait_for(qtbot, win, lambda s: s.state == "error")
    assert win.banner.isVisible() and "driver" in win.banner.text()
    assert "error" in win.status.text()
    assert "driver" in s.error
    close(win)


def test_model_and_backend_choosers(qtbot, dvs128_files, dvs_model, no_thread_left):
    win = open_window(qtbot, str(dvs128_files[0]), dvs_model)
    try:
        names = [win.model_box.itemText(k) for k in range(win.model_box.count())]
        assert "nmnist-stbp" in names and dvs_model in names
        backends = {win.backend_box.itemText(k) for k in range(win.backend_box.count())}
        assert backends == {"torch", "numba"}
        wait_for(qtbot, win, lambda s: s.seq > 10 or s.state in FINAL)
        win.backend_box.textActivated.emit("torch")
        s = wait_for(qtbot, win, lambda s: s.backend == "torch" and s.seq > 10
                     or s.state in FINAL, 60)
        assert s.backend == "torch" and s.state == "playing", s.message
        win.model_box.textActivated.emit("nmnist-stbp")  # a 34x34 model: clear error
        s = wait_for(qtbot, win, lambda s: s.state == "error")
        assert "34x34" in s.error and win.banner.isVisible()
    finally:
        close(win)


def test_screenshot_command(qtbot, dvs128_files, dvs_model, tmp_path, artifacts):
    from spikestream.cli import main

    out = tmp_path / "shot.png"
    rc = main(["gui", str(dvs128_files[-1]), "--model", dvs_model, "--speed", "max",
               "--screenshot", str(out), "--seconds", "0.5"])
    assert rc == 0
    img = QtGui.QImage(str(out))
    assert not img.isNull() and img.width() >= 1000
    assert not any(w.isVisible() for w in QtWidgets.QApplication.topLevelWidgets())


def test_screenshot_needs_seconds_and_no_display_is_explained(monkeypatch, capsys):
    from spikestream.cli import main
    from spikestream.gui.qt import NoDisplay, choose_platform

    assert main(["gui", "x.aedat4", "--screenshot", "a.png"]) == 2
    assert "--seconds" in capsys.readouterr().err
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(NoDisplay, match="no display"):
        choose_platform(offscreen_ok=False)
    choose_platform(offscreen_ok=True)
    import os

    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"


def test_a_pyside_that_leaks_true_on_emit_is_refused(monkeypatch):
    import sys

    from spikestream.gui.qt import QtMissing, check_signals

    check_signals()  # the installed PySide6 keeps its references
    counts = iter([100, 97])  # as PySide6 6.12.0: one reference to True lost per emit
    monkeypatch.setattr(sys, "getrefcount", lambda obj: next(counts))
    with pytest.raises(QtMissing, match="!=6.12.0"):
        check_signals()
