"""Redraw rate of the window while a ~1 Mev/s stream plays in real time.

Usage: python benchmarks/gui_fps.py [--data ../shared/data] [--rate-mev 1.0]
       [--seconds 8] [--model M] [--backend numba|torch] [--dt-ms 10] [--json]

The stream: the busy DVS128 recordings of ../shared/data back to back,
time-compressed so that their mean event rate is ``--rate-mev`` Mev/s (the busy files
hold ~50 kev/s, so 1 Mev/s is a ~20x denser scene: each window carries ~20x the
events of the real recording) and repeated to last the measurement, written to a
temporary ``.npz`` and played at 1x (real time) by the window's worker
(:mod:`spikestream.gui`), offscreen unless a display is there. The model:
``--model`` (a shipped name or a file), else the shipped ``gesture-synthetic`` when
installed, else a random STBP network of the same shape as the gesture model (128x128
downsampled 4x, conv 8, pool, conv 16, pool, fc 11) with ``--dt-ms`` windows.

After a warm-up of 2 s it measures, over ``--seconds`` of wall time: frames drawn per
second (the window redraws on its ``QTimer`` when a new snapshot is there: the goal
is >= 30), the time one refresh costs (mean, p99; Python side) and the GUI thread's CPU time
per frame (refresh + paint: the headroom, whatever else loads the machine), the
event rate
the engine consumed (stream rate x real-time factor), the engine's real-time factor
(stream s per wall s; 1.0 = keeps up with the 1x pacing), its load (engine time
per stream time) and dropped windows. Timing on a shared 2-core machine drifts: run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def dense_recording(data: Path, rate_mev: float, min_s: float,
                    out: Path) -> tuple[Path, float, int]:
    """The busy recordings back to back, time-compressed to ``rate_mev`` Mev/s and
    repeated to last at least ``min_s``; returns ``(path, stream seconds, events)``."""
    from spikestream.streams import open_source
    from spikestream.streams.writers import save_events

    files = sorted((data / "recordings" / "dvs128-aedat4").glob("dvSave-2024_06_20_*.aedat4"))
    if not files:
        raise SystemExit(f"gui_fps: no busy DVS128 recordings under {data}")
    parts, t_end = [], 0
    for f in files:
        with open_source(f) as src:
            ev = np.concatenate(list(src))
        ev["t"] -= ev["t"][0] - t_end
        t_end = int(ev["t"][-1]) + 1
        parts.append(ev)
    one = np.concatenate(parts)
    k = rate_mev * 1e6 / (len(one) / (t_end * 1e-6))  # time compression
    one["t"] = (one["t"] / k).astype(np.int64)
    span = int(one["t"][-1]) + 1
    reps = max(1, int(np.ceil(min_s * 1e6 / span)))
    ev = np.concatenate([one] * reps)
    ev["t"] += np.repeat(np.arange(reps, dtype=np.int64) * span, len(one))
    path = save_events(out / "dense.npz", ev, (128, 128, 2))
    return path, float(ev["t"][-1]) * 1e-6, len(ev)


def default_model(backend_dt_ms: float, out: Path) -> str:
    from spikestream.models import available, resolve

    if "gesture-synthetic" in available():
        return resolve("gesture-synthetic")
    from spikestream.runtime import save_model
    from spikestream.runtime.testing import random_model

    m = random_model("stbp", seed=0, dt_us=int(backend_dt_ms * 1000))
    return str(save_model(out / "random-stbp.safetensors", m.spec, dict(m.tensors)))


def measure(source: str, model: str, backend: str, seconds: float) -> dict:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from spikestream.gui.qt import require_qt

    require_qt()
    from PySide6 import QtWidgets

    from spikestream.gui.app import dispose
    from spikestream.gui.window import MainWindow
    from spikestream.gui.worker import Worker

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["gui_fps"])
    worker = Worker(source, model, backend, "1")
    win = MainWindow(worker)
    win.resize(1400, 860)
    costs: list[float] = []

    def timed_refresh() -> None:
        t0 = time.perf_counter()
        n = win.frames
        win.refresh()
        if win.frames > n:
            costs.append(time.perf_counter() - t0)

    win.timer.timeout.disconnect()
    win.timer.timeout.connect(timed_refresh)
    win.show()
    worker.start()

    def run_for(wall_s: float) -> None:
        end = time.monotonic() + wall_s
        while time.monotonic() < end and worker.latest().state not in ("ended", "error"):
            app.processEvents()
            time.sleep(0.002)

    t_open = time.monotonic()
    while worker.latest().seq == 0 and time.monotonic() - t_open < 60:
        run_for(0.05)
    run_for(2.0)  # warm-up: numba compiled, the pacing settled
    s0, f0, c0, t0 = worker.latest(), win.frames, len(costs), time.monotonic()
    cpu0 = time.thread_time()  # the GUI thread's CPU time: refresh + paint + events
    run_for(seconds)
    s1, f1, t1 = worker.latest(), win.frames, time.monotonic()
    cpu = time.thread_time() - cpu0
    timer_hz = 1000.0 / win.timer.interval()
    win.close()
    dispose(win)
    if s1.error:
        raise SystemExit(f"gui_fps: {s1.error}")
    wall = t1 - t0
    cost = np.array(costs[c0:]) * 1e3
    return {
        "fps": (f1 - f0) / wall,
        "timer_hz": timer_hz,
        "gui_cpu_ms_per_frame": cpu * 1e3 / max(f1 - f0, 1),
        "gui_cpu_share": cpu / wall,
        "redraw_ms_mean": float(cost.mean()) if len(cost) else None,
        "redraw_ms_p99": float(np.percentile(cost, 99)) if len(cost) else None,
        "engine_rtf": (s1.t_s - s0.t_s) / wall,
        "engine_load": s1.load,
        "latency_p50_us": s1.latency_p50_us,
        "latency_p99_us": s1.latency_p99_us,
        "dropped": s1.dropped,
        "wall_s": wall,
        "state": s1.state,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rate-mev", type=float, default=1.0, help="stream event rate, Mev/s")
    ap.add_argument("--seconds", type=float, default=8.0, help="wall seconds measured")
    ap.add_argument("--model", "-m", default=None)
    ap.add_argument("--backend", choices=["numba", "torch"], default="numba")
    ap.add_argument("--dt-ms", type=float, default=10.0,
                    help="window of the random stand-in model, ms (default 10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gui-fps-") as tmp:
        out = Path(tmp)
        path, stream_s, n = dense_recording(args.data, args.rate_mev, args.seconds + 5, out)
        if args.model:
            from spikestream.models import resolve

            model = resolve(args.model)
        else:
            model = default_model(args.dt_ms, out)
        r = measure(str(path), model, args.backend, args.seconds)
    r.update(model=Path(model).stem, backend=args.backend, stream_events=n,
             stream_s=round(stream_s, 2),
             event_rate_mev_s=n / stream_s * r["engine_rtf"] / 1e6)  # as stepped
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"model {r['model']} ({args.backend}), stream {n:,} events over {stream_s:.1f} s "
          f"at 1x ({n / stream_s / 1e6:.2f} Mev/s)")
    print(f"GUI redraws        {r['fps']:6.1f} fps   (goal >= 30; the timer runs at "
          f"{r['timer_hz']:.0f} Hz)")
    if r["redraw_ms_mean"] is not None:
        print(f"one redraw         {r['redraw_ms_mean']:6.1f} ms mean, "
              f"{r['redraw_ms_p99']:.1f} ms p99")
    print(f"GUI thread CPU     {r['gui_cpu_ms_per_frame']:6.1f} ms per frame (refresh + paint; "
          f"{r['gui_cpu_share']:.0%} of a core): {1000 / r['gui_cpu_ms_per_frame']:.0f} fps "
          "if the GUI thread had a core to itself")
    print(f"events stepped     {r['event_rate_mev_s']:6.2f} Mev/s")
    print(f"engine RTF         {r['engine_rtf']:6.2f}x  (1.00 = keeps up with real time), "
          f"load {r['engine_load']:.0%}, latency p50 {r['latency_p50_us']:,.0f} us / p99 "
          f"{r['latency_p99_us']:,.0f} us, {r['dropped']} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
