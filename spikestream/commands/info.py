"""``spikestream info [FILE ...] [--json]``: what is in a recording, and what spikestream is.

Without a file it prints the version, the installed backends' status and the
formats it reads. With files it prints, for each, the sensor size, event count,
duration, event rate (mean and p99 per ms), polarity balance and time range;
``--json`` prints one JSON object per file (one per line).
"""

from __future__ import annotations

import argparse
import json
import platform

from ..streams.formats import formats, sniff_format
from ..streams.stats import StreamStats, stream_stats


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe recordings (or this installation)")
    p.add_argument("files", nargs="*", help="recordings of any known format")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.files:
        print_installation()
        return 0
    for path in args.files:
        fmt = sniff_format(path)
        with fmt.open(path) as src:
            st = stream_stats(src, src.sensor_size)
            counters = dict(src.counters)
        if args.json:
            print(json.dumps({"file": str(path), "format": fmt.name, **st.to_json(),
                              "counters": counters}))
        else:
            print(format_stats(str(path), fmt.name, st))
    return 0


def format_stats(name: str, fmt: str, st: StreamStats) -> str:
    """Human-readable block for one recording."""
    w, h, npol = st.sensor_size
    on_frac = st.on / st.events if st.events else 0.0
    return "\n".join(
        [
            f"{name}",
            f"  format        {fmt}",
            f"  sensor        {w}x{h}, {npol} polarities",
            f"  events        {st.events:,}",
            f"  duration      {st.duration_us / 1e6:.3f} s",
            f"  time range    {st.t_first_us} .. {st.t_last_us} us",
            f"  rate          {st.rate_mean_per_ms:.1f} ev/ms mean, "
            f"{st.rate_p99_per_ms:.0f} ev/ms p99",
            f"  polarity      {st.on:,} ON / {st.off:,} OFF ({on_frac:.1%} ON)",
            f"  x, y range    x {st.x_range[0]}..{st.x_range[1]}, "
            f"y {st.y_range[0]}..{st.y_range[1]}",
        ]
        + ([f"  non-monotonic {st.non_monotonic} timestamps go backwards"]
           if st.non_monotonic else [])
    )


def print_installation() -> None:
    from .._version import __version__

    print(f"spikestream {__version__} (Python {platform.python_version()})")
    print("formats read:")
    for f in formats():
        print(f"  {f.name:<14} {'/'.join(f.suffixes):<18} {f.description}")
