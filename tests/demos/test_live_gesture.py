"""demos/live_gesture.py as a program (subprocess, short limits): synthetic camera
headless and in the window (screenshot), UDP fed by ``spikestream send``, and the
message when the gesture model is absent."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "demos" / "live_gesture.py"
LIMIT_S = 90


@pytest.fixture(scope="module")
def dvs_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random STBP model for the 128x128 sensor (the gesture model may not be
    trained yet)."""
    from spikestream.runtime import save_model
    from spikestream.runtime.testing import random_model

    m = random_model("stbp", seed=1)
    path = tmp_path_factory.mktemp("demo-model") / "dvs-stbp.safetensors"
    return str(save_model(path, m.spec, dict(m.tensors)))


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DEMO), *args], capture_output=True, text=True,
                          timeout=LIMIT_S, env={**os.environ, **(env or {})})


def test_synthetic_camera_headless_prints_decisions(dvs_model):
    r = run_demo("--model", dvs_model, "--headless", "--seconds", "2")
    assert r.returncode == 0, r.stderr
    assert "starting the synthetic camera" in r.stdout and "camera drivers" in r.stdout
    lines = r.stdout.splitlines()
    assert any(" s  class" in line for line in lines)  # decision lines
    assert "0 dropped" in r.stdout and "real-time factor" in r.stdout


def test_synthetic_camera_in_the_window_saves_a_screenshot(dvs_model, tmp_path):
    pytest.importorskip("PySide6")
    shot = tmp_path / "live.png"
    r = run_demo("--model", dvs_model, "--seconds", "1", "--screenshot", str(shot),
                 env={"QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_mode_plays_what_spikestream_send_sends(dvs_model, dvs128_files):
    from spikestream.streams import open_source
    from spikestream.streams.sender import send_events  # what `spikestream send` runs

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(DEMO), "--udp", str(port), "--model",
                             dvs_model, "--headless", "--seconds", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def send() -> None:  # until the demo exits: it may bind its port after we start
        while not done.is_set():
            with open_source(dvs128_files[-1]) as rec:
                send_events(rec, port=port, speed=1.0, stop=done)

    tx = threading.Thread(target=send)
    tx.start()
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
    finally:
        done.set()
        proc.kill()
        tx.join(30)
    assert proc.returncode == 0, err
    assert f"UDP port {port}" in out
    summary = [line for line in out.splitlines() if "windows," in line]
    assert summary and not summary[0].startswith("0 windows"), out


def test_the_shipped_gesture_model_is_the_default():
    from spikestream.models import available

    if "gesture-synthetic" not in available():
        pytest.skip("the gesture model is not installed")
    r = run_demo("--headless", "--seconds", "3", "--seed", "0")
    assert r.returncode == 0, r.stderr
    assert "(true: " in r.stdout and "decision = true label in" in r.stdout


def test_absent_gesture_model_is_explained(capsys):
    demo = runpy.run_path(str(DEMO), run_name="demo")
    assert demo["gesture_model"](None, shipped=["nmnist-stbp"]) is None
    err = capsys.readouterr().err
    assert "gesture-synthetic" in err and "not installed" in err and "--model" in err
    assert demo["main"](["--model", "no-such-model", "--headless"]) == 2
    assert "no such file" in capsys.readouterr().err
