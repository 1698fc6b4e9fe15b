"""demos/replay.py: replay recorded files headless and print the decision timeline."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from spikestream.streams.synthetic.recording import write_recording

DEMO = Path(__file__).resolve().parents[2] / "demos" / "replay.py"


@pytest.fixture(scope="module")
def demo():
    return runpy.run_path(str(DEMO), run_name="demo")


def test_replays_a_real_dvs128_recording(demo, dvs128_files, capsys):
    rec = str(dvs128_files[0])
    assert demo["main"]([rec, "--speed", "max", "--seconds", "2"]) == 0
    out = capsys.readouterr().out
    assert "128x128 sensor, model gesture-synthetic" in out
    assert "200 windows" in out and "real-time factor" in out
    assert "the source carries no labels" in out


def test_replays_a_labelled_synthetic_file_with_accuracy(demo, tmp_path, capsys):
    w = write_recording(tmp_path, "rec", seed=2027, gestures=[3, 8], gesture_s=1.5,
                        pause_s=0.4)
    assert w.labels_path.is_file()
    assert demo["main"]([str(w.events_path), "--speed", "max", "--backend", "torch"]) == 0
    out = capsys.readouterr().out
    assert "labelled gestures: right arm clockwise" in out
    assert "accuracy" in out and "of 2 gestures" in out and "onset latency" in out


def test_paced_at_real_time_as_a_script(tmp_path, monkeypatch, capsys):
    import time

    w = write_recording(tmp_path, "rec", seed=2028, gestures=[1], gesture_s=1.0,
                        pause_s=0.2)
    monkeypatch.setattr(sys, "argv", [str(DEMO), str(w.events_path), "--seconds", "0.5"])
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(DEMO), run_name="__main__")
    assert e.value.code == 0
    assert time.monotonic() - t0 >= 0.4  # paced at speed 1, not as fast as possible
    assert "50 windows" in capsys.readouterr().out


def test_gui_flag_opens_the_window(demo, dvs128_files, monkeypatch):
    import spikestream.gui as gui

    seen = []
    monkeypatch.setattr(gui, "launch", lambda *a: seen.append(a) or 0)
    assert demo["main"]([str(dvs128_files[0]), "--gui", "--speed", "2", "--seconds", "1"]) == 0
    (args,) = seen
    assert args[0] == str(dvs128_files[0]) and args[2:] == ("numba", "2", None, 1.0)
    assert args[1].endswith("gesture-synthetic.safetensors")


def test_a_bad_file_is_a_clear_error(demo, tmp_path, capsys):
    assert demo["main"]([str(tmp_path / "nope.aedat4"), "-m", "gesture-synthetic"]) == 2
    assert "nope.aedat4" in capsys.readouterr().err
