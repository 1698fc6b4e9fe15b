"""``spikestream profile SOURCE --model M``: where the time of each step goes.

Runs the source through decode, filter, windowing, the input stage, every layer and
the readout, and prints p50/p99/max per stage, events/s, the real-time factor and
dropped windows; ``--json PATH`` writes the report (``p50_us``, ``p99_us``,
``max_us`` per stage and ``overall``, ``rtf``, ``events_per_s``, ``dropped``) and
``--plot PATH`` a PNG (latency histogram, latency over stream time, stage bars).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._runtime_args import add_runtime_args, open_pipeline


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="per-stage latency of a model on an event stream")
    add_runtime_args(p, default_speed="max")
    p.add_argument("--json", metavar="PATH", help="write the JSON report here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG plot here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime.profiler import Profiler

    engine, source, speed, filt = open_pipeline(args)
    prof = Profiler()
    with source:
        for _ in prof.run(engine, source, speed=speed, filt=filt, overload=args.overload):
            pass
    spec = engine.model.spec
    rep = prof.report(source=str(args.source), model=spec.name, backend=args.backend,
                      dt_us=spec.dt_us, speed=args.speed)
    print(format_report(rep))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=2)
    if args.plot:
        prof.plot(args.plot, title=f"{spec.name} on {Path(args.source).name} ({args.backend})",
                  dt_us=spec.dt_us)
    return 0


def format_report(rep: dict) -> str:
    """The report as a table."""
    lines = [f"{rep['source']}  model {rep['model']}  backend {rep['backend']}  "
             f"dt {rep['dt_us']} µs",
             f"{'stage':<16}{'p50 µs':>10}{'p99 µs':>10}{'max µs':>11}{'count':>9}  per"]
    for name, s in rep["stages"].items():
        lines.append(f"{name:<16}{s['p50_us']:>10.1f}{s['p99_us']:>10.1f}{s['max_us']:>11.1f}"
                     f"{s['count']:>9}  {s['unit']}")
    lines.append(f"{rep['windows']} windows, {rep['events']:,} events, {rep['dropped']} "
                 f"dropped; {rep['events_per_s']:,} events/s; real-time factor {rep['rtf']}")
    return "\n".join(lines)
