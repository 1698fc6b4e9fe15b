"""The live DVS gesture demo: a camera (or its stand-ins) -> the gesture model -> window.

    python demos/live_gesture.py [--udp PORT] [--camera URI] [--model M]
                                 [--backend numba|torch] [--seed S]
                                 [--headless] [--seconds N] [--screenshot PNG]

Where the events come from, in this order:

1. ``--udp PORT``: listen for SPIF events on UDP port PORT (a DVS128, 128x128), so
   that ``spikestream send RECORDING udp://127.0.0.1:PORT`` (or a real SPIF sender)
   plays the camera;
2. a USB event camera (``camera://``, through aestream), when one can be opened;
3. otherwise the built-in synthetic camera (``synthetic://gesture?seed=S``): a
   simulated DVS128 watching a person perform the 11 DVS gestures, paced at real
   time, with its true labels beside the decisions. The reason the camera could not
   be used is printed.

The model is the shipped gesture model ``gesture-synthetic`` unless ``--model`` names
another (a shipped name or a ``.safetensors`` file); when it is not installed the demo
says so and how to get it. The window (:mod:`spikestream.gui`) shows the events, the
hidden layers' spikes, the decision with its confidence, the true label and the
latency. ``--headless`` (or a terminal without a display) prints one line per
decision change instead, with the true label of the synthetic camera, and a summary.
``--seconds N`` stops after N seconds of stream (``--screenshot PNG`` saves the
window then; drawn offscreen without a display).
"""

from __future__ import annotations

import argparse
import sys
import time

from spikestream.models import available, resolve
from spikestream.streams.errors import SpikestreamError

GESTURE_MODEL = "gesture-synthetic"
SENSOR = "128x128"
HOW_TO_GET_MODEL = (
    f"the gesture model {GESTURE_MODEL!r} is not installed (models/{GESTURE_MODEL}"
    ".safetensors); train it with  python -m spikestream.training.gesture_recipe  "
    "or pass another model for a 128x128 sensor with --model FILE.safetensors")


def gesture_model(model: str | None, shipped: list[str] | None = None) -> str | None:
    """The model file to run: ``model`` (a name or a path) or the shipped gesture
    model; None (after printing why) when neither exists."""
    if model:
        path = resolve(model)
        from pathlib import Path

        if not Path(path).is_file():
            print(f"live_gesture: error: model {model!r}: no such file or shipped model "
                  f"(shipped: {', '.join(available()) or 'none'})", file=sys.stderr)
            return None
        return path
    if GESTURE_MODEL not in (available() if shipped is None else shipped):
        print(f"live_gesture: error: {HOW_TO_GET_MODEL}", file=sys.stderr)
        return None
    return resolve(GESTURE_MODEL)


def choose_source(udp: int | None, camera: str, seed: int) -> str:
    """The source URI (see the module docstring), printing what was chosen and why."""
    if udp is not None:
        print(f"listening for SPIF events on UDP port {udp} ({SENSOR}); play a recording "
              f"into it with:  spikestream send RECORDING udp://127.0.0.1:{udp}", flush=True)
        return f"udp://0.0.0.0:{udp}?sensor={SENSOR}"
    from spikestream.streams.open import open_source

    try:
        open_source(camera).close()
    except (SpikestreamError, OSError) as e:
        reason = str(e).split(". ")[0]
        print(f"no camera ({reason}); starting the synthetic camera instead", flush=True)
        return f"synthetic://gesture?seed={seed}"
    print(f"using the camera {camera}", flush=True)
    return camera


def run_headless(source: str, model: str, backend: str, seconds: float | None) -> int:
    """Play ``source`` without Qt, printing each decision change and a summary."""
    from spikestream.gui.worker import Worker

    worker = Worker(source, model, backend, "1").start()
    printed_t = -1.0
    samples = agree = 0
    playing_since: float | None = None
    s = worker.latest()
    try:
        while True:
            s = worker.wait(lambda s: s.state in ("ended", "error", "stopped"), 0.05)
            for d in s.decisions:
                if d.t_s > printed_t:
                    printed_t = d.t_s
                    true = "" if d.true_name is None else f"  (true: {d.true_name})"
                    print(f"{d.t_s:9.2f} s  {d.name:<26} {d.confidence:6.1%}{true}",
                          flush=True)
            if s.state == "playing" and s.seq and s.true_name is not None:
                samples += 1
                agree += s.name == s.true_name
            if s.state in ("ended", "error", "stopped"):
                break
            if playing_since is None and s.state == "playing" and s.seq:
                # a live source's clock starts at its first window stepped (not when the
                # socket opened: the first step may wait on numba compiling its kernels)
                playing_since = time.monotonic()
            live_s = 0.0 if playing_since is None else time.monotonic() - playing_since
            if seconds is not None and (s.t_s >= seconds or (s.live and live_s >= seconds)):
                break
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
    if s.error:
        print(f"live_gesture: error: {s.error}", file=sys.stderr)
        return 2
    rtf = "-" if s.rtf is None else f"{s.rtf:.2f}x"
    print(f"{s.seq:,} windows, {s.t_s:.2f} s of stream, {s.dropped} dropped, real-time "
          f"factor {rtf}, latency p50 {s.latency_p50_us:,.0f} us / p99 "
          f"{s.latency_p99_us:,.0f} us")
    if samples:
        print(f"decision = true label in {agree / samples:.0%} of {samples} samples "
              "while a gesture was under way")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--udp", type=int, default=None, metavar="PORT",
                    help="listen for SPIF events on this UDP port")
    ap.add_argument("--camera", default="camera://", help="camera URI (default camera://)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic camera")
    ap.add_argument("--model", "-m", default=None,
                    help=f"model name or file (default: {GESTURE_MODEL})")
    ap.add_argument("--backend", choices=["numba", "torch"], default="numba")
    ap.add_argument("--headless", action="store_true",
                    help="print the decisions instead of opening the window")
    ap.add_argument("--seconds", type=float, default=None, metavar="N",
                    help="stop after N seconds of stream")
    ap.add_argument("--screenshot", default=None, metavar="PNG",
                    help="save a picture of the window after --seconds")
    args = ap.parse_args(argv)
    if args.screenshot and args.seconds is None:
        ap.error("--screenshot needs --seconds N")
    model = gesture_model(args.model)
    if model is None:
        return 2
    source = choose_source(args.udp, args.camera, args.seed)
    headless = args.headless
    if not headless and not args.screenshot:
        from spikestream.gui.qt import has_display

        if not has_display():
            print("no display: running headless (decisions below; --screenshot PNG "
                  "--seconds N draws the window offscreen)", flush=True)
            headless = True
    if headless:
        return run_headless(source, model, args.backend, args.seconds)
    from spikestream.gui import launch
    from spikestream.gui.qt import QtMissing

    try:
        return launch(source, model, args.backend, "1", args.screenshot, args.seconds)
    except QtMissing as e:
        print(f"live_gesture: {e}; running headless", file=sys.stderr)
        return run_headless(source, model, args.backend, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
