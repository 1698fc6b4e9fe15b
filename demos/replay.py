"""Replay a recorded file through a model, in the window or headless, and print the
decision timeline.

    python demos/replay.py RECORDING [--model M] [--backend numba|torch]
                           [--speed 1|2|max] [--seconds S] [--gui]

RECORDING is any file the readers know (``spikestream info`` lists the formats:
AEDAT 2/3/4, Prophesee ``.dat``/``.raw``, N-MNIST ``.bin``, ``.npz``/``.npy``,
``.csv`` ...), or any other source URI. It is paced at real time (``--speed 1``,
the default), twice as fast (``2``) or as fast as possible (``max``). Without
``--model`` the shipped model for the sensor is used (the gesture model for a 128x128
camera, the N-MNIST model for 34x34).

Headless (the default) prints one line per decision change (stream time, gesture,
confidence and, for a labelled recording, the true gesture and ✓/✗), then the
real-time factor and, when the recording is labelled (a DVS Gesture
``<name>_labels.csv`` beside it, or a synthetic source), the accuracy and the onset
latency. ``--gui`` plays it in the window instead (``spikestream.gui.launch``).
"""

from __future__ import annotations

import argparse
import sys

from spikestream.commands.main_job import play
from spikestream.streams.errors import SpikestreamError
from spikestream.streams.pacing import parse_speed


def pick_model(recording: str, model: str | None) -> str:
    """``model``, or the shipped model that takes the recording's sensor."""
    if model:
        return model
    from spikestream.gui.pipeline import choose_model
    from spikestream.streams.open import open_source

    with open_source(recording) as src:
        size = tuple(src.sensor_size)
    return choose_model(None, size, recording)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", help="a recorded file (any format) or a source URI")
    ap.add_argument("--model", "-m", default=None,
                    help="model file or shipped name (default: the one for the sensor)")
    ap.add_argument("--backend", choices=["numba", "torch"], default="numba")
    ap.add_argument("--speed", default="1", help="1 (real time), 2, ... or max")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop after this much stream time")
    ap.add_argument("--gui", action="store_true", help="play it in the window")
    args = ap.parse_args(argv)
    try:
        speed = parse_speed(args.speed)
    except ValueError as e:
        ap.error(f"--speed: {e}")
    try:
        model = pick_model(args.recording, args.model)
        if args.gui:
            from spikestream.gui import launch

            return launch(args.recording, model, args.backend, args.speed, None, args.seconds)
        play(args.recording, model, args.backend, speed, args.seconds)
    except SpikestreamError as e:
        print(f"replay: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
