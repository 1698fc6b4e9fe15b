"""Options shared by ``spikestream run`` and ``spikestream profile``."""

from __future__ import annotations

import argparse
from typing import Any

from ..models import available
from ..models import resolve as resolve_model
from ..runtime.backends.base import BACKENDS


def add_runtime_args(p: argparse.ArgumentParser, default_speed: str) -> None:
    p.add_argument("source", help="a recording, udp://HOST:PORT, camera:// or synthetic://...")
    p.add_argument("--model", "-m", required=True, type=resolve_model,
                   help="model file (.safetensors) or a shipped model's name "
                        f"({', '.join(available()) or 'none shipped'})")
    p.add_argument("--backend", default="torch", choices=list(BACKENDS),
                   help="compute backend (default: torch)")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    p.add_argument("--speed", default=default_speed,
                   help=f"replay speed of a file: 1 (real time), 2x, ..., or max "
                        f"(default: {default_speed}); live sources are never paced")
    p.add_argument("--overload", choices=["drop_oldest", "block"], default=None,
                   help="when compute falls behind: drop the oldest windows (counted) or "
                        "block the source (default: drop_oldest for live sources, none "
                        "for files)")
    p.add_argument("--denoise-us", type=int, default=None, metavar="US",
                   help="background-activity filter time (µs) before the network")


def open_pipeline(args: argparse.Namespace) -> tuple[Any, Any, float | None, Any]:
    """``(engine, source, speed, filter)`` from the parsed options (source is open)."""
    from ..runtime.engine import Engine
    from ..streams.open import open_source
    from ..streams.pacing import parse_speed

    engine = Engine(args.model, backend=args.backend, device=args.device)
    engine.warm_up()  # compile before the stream starts: no stall on its first windows
    engine.warm_up(timed=True)  # (the profiler's per-layer kernels)
    speed = parse_speed(args.speed)
    source = open_source(args.source)
    filt = None
    if args.denoise_us is not None:
        from ..streams.filters import Denoise

        filt = Denoise(args.denoise_us, source.sensor_size)
    return engine, source, speed, filt
