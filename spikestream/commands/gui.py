"""``spikestream gui [SOURCE] [--model M]``: the live window over a stream.

Plays SOURCE (a recording, ``udp://HOST:PORT?sensor=WxH``, ``camera://`` or
``synthetic://gesture?...``) in the window of :mod:`spikestream.gui`: events, hidden
layer spikes, the decision with its confidence (and the true label of a labelled
source), latency and real-time factor. Without SOURCE the window opens empty (open a
file, UDP, the camera or the synthetic camera from its toolbar).
``--screenshot out.png --seconds N`` plays N stream seconds, saves a picture of the
whole window and exits (works offscreen: ``QT_QPA_PLATFORM=offscreen``).
"""

from __future__ import annotations

import argparse
import sys

from ..models import available
from ..runtime.backends.base import BACKENDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the live window (events, spikes, decision, latency)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("source", nargs="?", default=None,
                   help="a recording, udp://HOST:PORT?sensor=WxH, camera:// or "
                        "synthetic://gesture?... (default: none, open one in the window)")
    p.add_argument("--model", "-m", default=None,
                   help="model file (.safetensors) or a shipped model's name "
                        f"({', '.join(available()) or 'none shipped'}); default: the "
                        "shipped model that fits the source's sensor")
    p.add_argument("--backend", default="numba", choices=list(BACKENDS),
                   help="compute backend (default: numba)")
    p.add_argument("--speed", default="1",
                   help="replay speed of a recording: 1 (real time), 2x, or max (default: 1)")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="save a screenshot of the window after --seconds and exit")
    p.add_argument("--seconds", type=float, default=None, metavar="N",
                   help="play N stream seconds, then close the window (with --screenshot: "
                        "save it first)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..gui.qt import NoDisplay, QtMissing
    from ..streams.pacing import parse_speed

    try:
        parse_speed(args.speed)
    except ValueError as e:
        print(f"spikestream gui: error: --speed: {e}", file=sys.stderr)
        return 2
    if args.screenshot and args.seconds is None:
        print("spikestream gui: error: --screenshot needs --seconds N", file=sys.stderr)
        return 2
    if args.seconds is not None and args.seconds <= 0:
        print("spikestream gui: error: --seconds must be > 0", file=sys.stderr)
        return 2
    try:
        from ..gui import launch

        return launch(args.source, args.model, args.backend, args.speed, args.screenshot,
                      args.seconds)
    except (QtMissing, NoDisplay) as e:
        print(f"spikestream gui: error: {e}", file=sys.stderr)
        return 2
