"""Shared timing helpers for the benchmarks (see ../shared/BENCHMARKING.md).

The machine's speed drifts by up to 1.7x over minutes, so implementations are
interleaved in rounds and every figure is a median of per-round medians.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def interleaved(
    impls: dict[str, Callable[[], object]], rounds: int = 3, reps: int = 5, warmup: int = 1
) -> dict[str, list[float]]:
    """Time each callable ``reps`` times per round, rotating through them for
    ``rounds`` rounds. Returns per-implementation lists of per-round medians (s)."""
    for fn in impls.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {k: [] for k in impls}
    names = list(impls)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                impls[name]()
                ts.append(time.perf_counter() - t0)
            out[name].append(float(np.median(ts)))
    return out


def median_of_medians(per_round: list[float]) -> float:
    return float(np.median(per_round))
