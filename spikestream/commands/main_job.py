"""What ``spikestream`` with no arguments does: the gesture demo on the built-in default.

The default stream is a synthetic DVS128 gesture recording from the built-in simulator
(:data:`DEFAULT_URI`, ~15 s, three labelled gestures, a seed no training recording
used), run through the shipped gesture model ``gesture-synthetic``:

- with a display (:func:`display_available`) and the ``gui`` extra installed
  (:func:`gui_installed`), it opens the window (:func:`spikestream.gui.launch`);
- otherwise it runs headless (:func:`play`): the stream paced at real time, one line
  per decision change as it happens (stream time, decided gesture, confidence, the
  true gesture at that time and ✓/✗), then the decision timeline's score against
  the synthetic labels (:func:`spikestream.runtime.timeline.score_timeline`):
  accuracy per gesture and onset latency (gesture start to a correct, stable
  decision), and the engine's real-time factor.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Mapping
from contextlib import closing
from typing import TextIO

from ..models import resolve as resolve_model
from ..runtime.timeline import TimelineScore, decision_line, score_timeline, source_labels

DEFAULT_URI = "synthetic://gesture?seed=2026&n_gestures=3&gesture_s=3.5,4.5&pause_s=0.6,1"
"""The built-in default: three synthetic gestures, ~15 s (seed 2026 is no training
recording's seed: those are 0..23)."""
DEFAULT_MODEL = "gesture-synthetic"
DEFAULT_BACKEND = "numba"
_NO_WINDOW_PLATFORMS = ("offscreen", "minimal")


def display_available(env: Mapping[str, str] | None = None,
                      platform: str | None = None) -> bool:
    """Whether a window can be shown.

    ``QT_QPA_PLATFORM=offscreen`` (or ``minimal``) means no; on Linux and other X11
    systems a ``DISPLAY`` or ``WAYLAND_DISPLAY``, or a ``QT_QPA_PLATFORM`` that draws
    without them (``eglfs``, ``linuxfb``, ``vnc`` ...), means yes; macOS and Windows
    always have one.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if qpa.split(":")[0] in _NO_WINDOW_PLATFORMS:
        return False
    if platform in ("darwin", "win32"):
        return True
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return True
    return bool(qpa) and not qpa.startswith(("xcb", "wayland"))


def gui_installed() -> bool:
    """Whether the ``gui`` extra (PySide6 and pyqtgraph) is importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("PySide6", "pyqtgraph"))


def _speed_text(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}"


def play(uri: str, model: str, backend: str = DEFAULT_BACKEND, speed: float | None = 1.0,
         seconds: float | None = None, out: TextIO | None = None) -> TimelineScore | None:
    """Run ``model`` on ``uri`` headless, printing the decision timeline as it happens.

    Args:
        uri: any source :func:`~spikestream.streams.open.open_source` opens.
        model: a shipped model's name or a model file.
        backend: ``"numba"`` or ``"torch"``.
        speed: replay speed (1 = real time); None = as fast as possible.
        seconds: stop after this much stream time (None: the whole stream).
        out: where to print (default: stdout).

    Returns:
        the timeline's score against the source's labelled gestures, or None when the
        source carries no labels.
    """
    from ..runtime.engine import Engine
    from ..runtime.profiler import Profiler
    from ..streams.open import open_source

    out = sys.stdout if out is None else out
    path = resolve_model(model)
    engine = Engine(path, backend=backend)
    engine.warm_up(timed=True)  # compile before the paced stream starts (it is profiled)
    prof = Profiler()
    decisions = []
    t0: int | None = None
    t_end = 0
    wall0 = time.monotonic()
    with open_source(uri) as src:
        w, h = src.sensor_size[:2]
        out.write(f"{src.name}: {w}x{h} sensor, model {engine.model.spec.name} "
                  f"({engine.dt_us // 1000} ms steps, {backend}), speed "
                  f"{_speed_text(speed)}\n")
        out.flush()
        labels = source_labels(src)
        with closing(prof.run(engine, src, speed=speed)) as steps:
            for r in steps:
                if t0 is None:
                    t0 = r.t_start_us
                t_end = r.t_end_us
                if r.decision is not None:
                    decisions.append(r.decision)
                    truth = labels or source_labels(src)
                    out.write(decision_line(r.decision, truth, t0) + "\n")
                    out.flush()
                if seconds is not None and t_end - t0 >= seconds * 1e6:
                    break
        labels = source_labels(src, until_us=t_end) if t0 is not None else ()
    rep = prof.report()
    stream_s = (t_end - (t0 or 0)) / 1e6
    out.write(f"\n{rep['windows']} windows, {rep['events']:,} events, {stream_s:.2f} s of "
              f"stream in {time.monotonic() - wall0:.2f} s wall; real-time factor "
              f"{rep['rtf']}; {rep['dropped']} dropped\n")
    if not labels:
        out.write(f"{len(decisions)} decision changes; the source carries no labels\n")
        return None
    score = score_timeline(decisions, labels)
    out.write("labelled gestures: " + ", ".join(
        f"{s.name} [{(s.t_start_us - (t0 or 0)) / 1e6:.1f}-{(s.t_end_us - (t0 or 0)) / 1e6:.1f}"
        f" s]" for s in labels) + "\n")
    out.write(score.render() + "\n")
    return score


def run(uri: str = DEFAULT_URI, speed: float | None = 1.0, gui: bool | None = None,
        model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND,
        seconds: float | None = None) -> int:
    """The main job: the window when one can be shown (``gui=None``: decide by
    :func:`display_available` and :func:`gui_installed`), else :func:`play`."""
    if gui is None:
        gui = display_available() and gui_installed()
    if gui:
        from ..gui import launch

        return launch(uri, model, backend, _speed_text(speed), None, seconds)
    print("spikestream: the gesture demo, headless (no display or no gui extra; "
          "`pip install spikestream[gui]` and a display open the window)")
    play(uri, model, backend, speed, seconds)
    return 0
