"""``spikestream`` with no arguments: the gesture demo on the built-in synthetic default."""

from __future__ import annotations

import pytest

from spikestream.cli import main
from spikestream.commands import main_job

SHORT = "synthetic://gesture?seed=2026&gestures=0,7&gesture_s=2&pause_s=0.5"


def test_headless_prints_the_timeline_and_scores_it(capsys):
    assert main_job.run(SHORT, speed=None, gui=False) == 0
    out = capsys.readouterr().out
    assert "headless" in out and "gesture-synthetic" in out
    assert "labelled gestures: hand clap [0.5-2.5 s], arm roll [3.0-5.0 s]" in out
    assert "accuracy" in out and "onset latency" in out and "real-time factor" in out
    lines = [ln for ln in out.splitlines() if ln.rstrip().endswith(("✓", "✗"))]
    assert lines, "no decision lines"
    assert any("hand clap" in ln and ln.endswith("✓") for ln in lines)


def test_play_returns_the_score_and_stops_after_seconds(capsys):
    score = main_job.play(SHORT, "gesture-synthetic", "numba", None, seconds=1.5)
    out = capsys.readouterr().out
    assert score is not None and score.n == 1  # only the clap began in 1.5 s
    assert score.segments[0].segment.t_end_us == 1_500_000
    assert "150 windows" in out


def test_no_arguments_runs_the_main_job(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(main_job, "run", lambda *a, **k: calls.append((a, k)) or 0)
    assert main([]) == 0
    assert calls == [((), {})]


def test_the_default_is_short_and_labelled():
    from spikestream.streams.open import open_source

    with open_source(main_job.DEFAULT_URI) as src:
        assert tuple(src.sensor_size[:2]) == (128, 128)
        assert len(src.labels) == 3
        assert 10e6 <= src.duration_us <= 20e6


@pytest.mark.parametrize(("env", "platform", "want"), [
    ({}, "linux", False),
    ({"DISPLAY": ":0"}, "linux", True),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "eglfs"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),
    ({}, "darwin", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "win32", False),
])
def test_display_detection(env, platform, want):
    assert main_job.display_available(env, platform) is want


def test_with_a_display_it_opens_the_window(monkeypatch):
    import spikestream.gui as gui

    seen = []
    monkeypatch.setattr(gui, "launch", lambda *a: seen.append(a) or 0)
    monkeypatch.setattr(main_job, "display_available", lambda: True)
    monkeypatch.setattr(main_job, "gui_installed", lambda: True)
    assert main_job.run() == 0
    assert seen == [(main_job.DEFAULT_URI, "gesture-synthetic", "numba", "1", None, None)]
