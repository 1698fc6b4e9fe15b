"""The profiler's PNG: a picture of where the time goes (matplotlib, Agg backend).

Three panels: the histogram of per-step latency (log scale) with its p50, p99 and
the real-time budget (``dt_us``); the latency over stream time (bucket maxima, so
no spike is hidden); and each stage's p50 and p99 as horizontal bars.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def plot_profile(prof: Any, path: str, title: str = "", dt_us: int | None = None) -> None:
    """Draw :class:`~.profiler.Profiler` ``prof`` into the PNG ``path``."""

    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(14, 4.4), layout="constrained")
    ax_h, ax_t, ax_s = fig.subplots(1, 3, width_ratios=[1, 1.4, 1])
    step = prof.stages.get("step")
    if step is not None and step.count:
        from .profiler import _BINS_PER_DECADE, _LO_US

        nz = np.flatnonzero(step.hist)
        lo, hi = nz[0], nz[-1] + 2
        edges = _LO_US * 10 ** (np.arange(lo, hi + 1) / _BINS_PER_DECADE)
        ax_h.stairs(step.hist[lo:hi], edges, fill=True, color="tab:blue", alpha=0.7)
        ax_h.set_xscale("log")
        ax_h.xaxis.set_minor_formatter(NullFormatter())
        for q, style in ((0.5, "-"), (0.99, "--")):
            v = step.quantile(q)
            ax_h.axvline(v, color="k", ls=style, lw=1, label=f"p{int(q * 100)} {v:.0f} µs")
        if dt_us:
            ax_h.axvline(dt_us, color="tab:red", lw=1.5, label=f"budget {dt_us} µs")
        ax_h.legend(fontsize=8)
    ax_h.set(title="step latency", xlabel="µs per step", ylabel="steps")
    tl = prof.timeline
    if tl.t:
        ax_t.plot(tl.t, tl.v, lw=0.5, color="tab:blue")
        ax_t.set_yscale("log")
        ax_t.yaxis.set_minor_formatter(NullFormatter())
        if dt_us:
            ax_t.axhline(dt_us, color="tab:red", lw=1.5, label="real-time budget")
            ax_t.legend(fontsize=8, loc="upper right")
    ax_t.set(title="step latency over the stream (max per bucket)", xlabel="stream time (s)",
             ylabel="µs")
    names = [n for n in prof.stages if n != "step"]
    if names:
        y = np.arange(len(names))
        p50 = [prof.stages[n].quantile(0.5) for n in names]
        p99 = [prof.stages[n].quantile(0.99) for n in names]
        ax_s.barh(y + 0.2, p99, height=0.4, color="tab:orange", label="p99")
        ax_s.barh(y - 0.2, p50, height=0.4, color="tab:blue", label="p50")
        ax_s.set_yticks(y, [n.removeprefix("layer:") for n in names], fontsize=8)
        ax_s.invert_yaxis()
        ax_s.set_xscale("log")
        ax_s.legend(fontsize=8)
    ax_s.set(title="per stage", xlabel="µs (decode, filter, window: per chunk)")
    rep = prof.report()
    fig.suptitle(f"{title}   RTF {rep['rtf']}   {rep['events_per_s']} events/s   "
                 f"{rep['windows']} windows, {rep['dropped']} dropped", fontsize=10)
    fig.savefig(path, dpi=110)
