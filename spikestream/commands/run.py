"""``spikestream run SOURCE --model M``: the decision timeline of a model on a stream.

Prints one line per decision change (stream time, class, confidence) and a summary;
``--jsonl`` prints one JSON object per decision change (``t_us``, ``label``,
``name``, ``confidence``) and a last summary object (``windows``, ``events``,
``dropped``, ``wall_s``, ``rtf``).

When the source carries labelled gestures (a synthetic source, or a recording with a
DVS Gesture ``_labels.csv`` beside it), the summary also scores the decisions against
them (:func:`spikestream.runtime.timeline.score_timeline`): accuracy (majority decision
per gesture) and onset latency (gesture start to a correct, stable decision), median
and p90 over all the gestures (a never-decided one counts as later than any decided
one; null when not reached); in ``--jsonl`` as ``gestures``, ``accuracy``,
``onset_median_ms``, ``onset_p90_ms`` and ``never_decided``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ._runtime_args import add_runtime_args, open_pipeline


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a model on an event stream and print its decisions")
    add_runtime_args(p, default_speed="1")
    p.add_argument("--jsonl", action="store_true",
                   help="one JSON object per decision change, then a summary object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime.profiler import Profiler
    from ..runtime.timeline import score_timeline, source_labels

    engine, source, speed, filt = open_pipeline(args)
    prof = Profiler()
    out = sys.stdout
    t_wall = time.perf_counter()
    t0: int | None = None
    t_end = 0
    decisions = []
    with source:
        for r in prof.run(engine, source, speed=speed, filt=filt, overload=args.overload):
            if t0 is None:
                t0 = r.t_start_us
            t_end = r.t_end_us
            d = r.decision
            if d is None:
                continue
            decisions.append(d)
            if args.jsonl:
                out.write(json.dumps({"t_us": d.t_us, "label": d.label, "name": d.name,
                                      "confidence": round(d.confidence, 4)}) + "\n")
            else:
                out.write(f"{(d.t_us - t0) / 1e6:9.3f} s  {d.name:<24} "
                          f"{d.confidence:6.1%}\n")
            out.flush()
        labels = source_labels(source, until_us=t_end) if t0 is not None else ()
    wall = time.perf_counter() - t_wall
    rep = prof.report()
    summary = {"windows": rep["windows"], "events": rep["events"], "dropped": rep["dropped"],
               "wall_s": round(wall, 4), "rtf": rep["rtf"]}
    score = score_timeline(decisions, labels) if labels else None
    if score is not None:
        s = score.summary()
        summary.update(gestures=s["segments"], accuracy=s["accuracy"],
                       onset_median_ms=s["onset_ms"]["median"],
                       onset_p90_ms=s["onset_ms"]["p90"], never_decided=s["never_decided"])
    if args.jsonl:
        out.write(json.dumps(summary) + "\n")
    else:
        out.write(f"{summary['windows']} windows, {summary['events']:,} events, "
                  f"{summary['dropped']} dropped, {wall:.2f} s wall (RTF {rep['rtf']})\n")
        if score is not None:
            out.write(score.render() + "\n")
    return 0
