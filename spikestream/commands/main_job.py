"""What ``spikestream`` with no arguments does: the main job on the built-in default.

Until a trained gesture model ships, the main job shows the front door working end
to end with no data and no arguments: the installation summary (``spikestream
info``), then a real-time paced replay of a synthetic DVS128 gesture recording from
the built-in simulator, cut into 10 ms windows, with one line per second of stream
(events, windows, the gesture being performed, pacing lag) and a closing summary.
"""

from __future__ import annotations

import time

from ..streams import open_source
from ..streams.pacing import pace
from ..streams.windowing import Windower
from .info import print_installation

DEFAULT_URI = "synthetic://gesture?seed=1&duration_s=10"
DT_US = 10_000


def run(uri: str = DEFAULT_URI, speed: float | None = 1.0) -> int:
    """Replay ``uri`` paced at ``speed`` (None = as fast as possible) and summarise."""
    print_installation()
    print(f"\nreplaying {uri} at {'max' if speed is None else f'{speed:g}x'} speed, "
          f"{DT_US // 1000} ms windows")
    wall0 = time.monotonic()
    with open_source(uri) as src:
        labels = src.labels
        paced = pace(src, speed)
        win = Windower(DT_US)
        second, ev_sec, win_sec, n_windows, t_first = 0, 0, 0, 0, None

        def flush_line() -> None:
            t_mid = (t_first or 0) + second * 1_000_000 + 500_000
            label = next((s.name for s in labels if s.t_start_us <= t_mid < s.t_end_us), "-")
            print(f"  t={second:>3d}s  {ev_sec:>8,} events  {win_sec:>4d} windows  "
                  f"gesture: {label:<28s} lag {paced.stats.lag_us / 1000:5.1f} ms")

        for chunk in paced:
            for w in win.push(chunk):
                if t_first is None:
                    t_first = w.t_start_us
                while w.t_start_us - t_first >= (second + 1) * 1_000_000:
                    flush_line()
                    second, ev_sec, win_sec = second + 1, 0, 0
                ev_sec += len(w.events)
                win_sec += 1
                n_windows += 1
        for w in win.flush():
            ev_sec += len(w.events)
            win_sec += 1
            n_windows += 1
        if win_sec:
            flush_line()
        events = src.counters["events"]
    wall = time.monotonic() - wall0
    stream_s = n_windows * DT_US / 1e6
    print(f"\n{events:,} events in {n_windows} windows over {stream_s:.2f} s of stream; "
          f"wall {wall:.2f} s; max pacing lag {paced.stats.max_lag_us / 1000:.1f} ms")
    print("labelled gestures: " + ", ".join(
        f"{s.name} [{(s.t_start_us - (t_first or 0)) / 1e6:.1f}-"
        f"{(s.t_end_us - (t_first or 0)) / 1e6:.1f} s]" for s in labels))
    return 0
