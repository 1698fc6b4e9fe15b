"""Per-step latency of the engine's backends next to snnTorch, Norse and SpikingJelly.

Usage: python benchmarks/engine.py [--data ../shared/data] [--json] [--reps 3]
       [--block 500] [--max-steps N] [--threads 1]

The reference network (2x32x32 input from DVS128 downsampled by 4, conv 2->16 3x3
pad 1, avgpool 2, conv 16->32 3x3 pad 1, avgpool 2, linear 2048->11, LIF with
``beta = 0.9``, threshold 1 and subtractive reset after each weighted layer; random
weights on a 2^-12 grid, conv1 and conv2 scaled for each window length so that
each hidden layer fires about 3 % of its neurons per step: the rates are printed)
runs on the busy DVS128 recordings of ../shared/data back to back, with 1 ms and
10 ms windows, batch 1, state carried, one thread (``torch.set_num_threads``; the
numba kernels are single-threaded). Each timed step includes building the input
from the window's raw events. Implementations run interleaved in blocks of
``--block`` windows, rotating, and the whole stream is run ``--reps`` times (state
reset once before each); a figure is the median of the per-repetition figures
(p99 over all steps). RTF (real-time factor) = stream time / compute time.

Implementations: ``numba`` and ``torch`` (our backends: ``prepare`` + ``step``),
``snntorch``, ``norse``, ``spikingjelly`` (benchmarks/_peers.py). A peer that is not
installed is skipped with a note. The peers are not dependencies of spikestream;
install them beside the CPU torch, pinned so that none replaces it::

    echo "torch==2.13.0" > /tmp/constraints.txt
    pip install snntorch norse spikingjelly -c /tmp/constraints.txt
    pip uninstall -y torchvision torchaudio   # pulled in, and fail to import

``--json`` prints one JSON object (the table goes to stderr): for the 1 ms windows
``{"numba": {"p50_us": ..., "p99_us": ..., "rtf": ...}, "torch": ..., "snntorch":
..., "norse": ..., "spikingjelly": ...}``, plus the same under the key ``"10ms"``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import PEERS  # noqa: E402

from spikestream.runtime.backends.base import create_backend  # noqa: E402
from spikestream.runtime.layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec  # noqa: E402
from spikestream.runtime.model_file import Model  # noqa: E402
from spikestream.runtime.neurons import rule_neuron  # noqa: E402
from spikestream.runtime.spec import InputSpec, ModelSpec, ReadoutSpec  # noqa: E402
from spikestream.streams import open_source  # noqa: E402
from spikestream.streams.windowing import bin_events  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATE = 0.03
IMPLS = ("numba", "torch", "snntorch", "norse", "spikingjelly")


def reference_spec(dt_us: int) -> ModelSpec:
    lif = rule_neuron("lif")
    layers = (
        Conv2dSpec("conv1", 2, 16, (3, 3), (1, 1), (1, 1), neuron=lif),
        Pool2dSpec("pool1", "avg", (2, 2), (2, 2)),
        Conv2dSpec("conv2", 16, 32, (3, 3), (1, 1), (1, 1), neuron=lif),
        Pool2dSpec("pool2", "avg", (2, 2), (2, 2)),
        FlattenSpec("flat"),
        LinearSpec("fc", 32 * 8 * 8, 11, neuron=lif),
    )
    return ModelSpec("benchmark-reference", InputSpec((128, 128, 2), downsample=(4, 4)),
                     dt_us, layers, tuple(f"class{k}" for k in range(11)),
                     ReadoutSpec(kind="count"), {"rule": "lif", "data": "random weights"})


def _grid(w: np.ndarray) -> np.ndarray:
    return (np.round(w * 4096.0) / 4096.0).astype(np.float32)


def _model(spec: ModelSpec, raw: dict[str, np.ndarray], s1: float, s2: float) -> Model:
    scale = {"conv1.weight": s1, "conv2.weight": s2, "fc.weight": 1.0}
    return Model.build(spec, {k: _grid(v * scale[k]) for k, v in raw.items()})


def _rates(model: Model, windows: list, steps: int = 1500) -> tuple[float, float]:
    be = create_backend("numba", model)
    n1 = n2 = 0.0
    for w in windows[:steps]:
        rec = be.step(be.prepare([w.events]), record=True).record
        n1 += rec["conv1"].mean()
        n2 += rec["conv2"].mean()
    k = min(steps, len(windows))
    return n1 / k, n2 / k


def calibrated_model(dt_us: int, windows: list, seed: int = 0) -> tuple[Model, tuple]:
    """Reference model whose conv1 and conv2 fire about :data:`TARGET_RATE` per step
    (geometric bisection of each layer's weight scale, conv1 first)."""
    spec = reference_spec(dt_us)
    rng = np.random.default_rng(seed)
    raw = {
        "conv1.weight": rng.normal(0.1, 0.5, (16, 2, 3, 3)),
        "conv2.weight": rng.normal(0.0, 0.5, (32, 16, 3, 3)),
        "fc.weight": rng.normal(0.0, 0.1, (11, 2048)),
    }
    scales = [1.0, 1.0]
    for layer in (0, 1):
        lo, hi = 1e-3, 1e2
        for _ in range(14):
            mid = float(np.sqrt(lo * hi))
            scales[layer] = mid
            rate = _rates(_model(spec, raw, *scales), windows)[layer]
            lo, hi = (mid, hi) if rate < TARGET_RATE else (lo, mid)
        scales[layer] = float(np.sqrt(lo * hi))
    model = _model(spec, raw, *scales)
    return model, _rates(model, windows)


def busy_stream(data: Path) -> np.ndarray:
    """The busy DVS128 recordings back to back, each shifted to start 1 µs after the
    previous one's last event."""
    files = sorted((data / "recordings" / "dvs128-aedat4").glob("*2024_06_20*.aedat4"))
    if not files:
        sys.exit(f"no busy DVS128 recordings (*2024_06_20*.aedat4) under {data}")
    parts, t_next = [], 0
    for f in files:
        with open_source(f) as src:
            ev = src.read_all().copy()
        ev["t"] += t_next - ev["t"][0]
        t_next = int(ev["t"][-1]) + 1
        parts.append(ev)
    return np.concatenate(parts)


def implementations(model: Model) -> dict[str, tuple[Callable, Callable[[], None]]]:
    out = {}
    for name in ("numba", "torch"):
        be = create_backend(name, model)
        out[name] = ((lambda ev, be=be: be.step(be.prepare([ev]))), be.reset)
    for name, builder in PEERS.items():
        peer = builder(model)
        if peer is None:
            print(f"note: {name} is not installed; skipped (see this script's docstring)",
                  file=sys.stderr)
        else:
            out[name] = peer
    return out


def run(impls: dict, windows: list, reps: int, block: int) -> dict[str, dict[str, float]]:
    """Interleaved timing (see the module docstring); µs per step."""
    names = list(impls)
    events = [w.events for w in windows]
    for step, reset in impls.values():  # warm up: numba compiles, torch allocates
        for ev in events[:200]:
            step(ev)
        reset()
    per_rep: dict[str, list[np.ndarray]] = {k: [] for k in names}
    perf = time.perf_counter
    for r in range(reps):
        times = {k: np.empty(len(events)) for k in names}
        for name in names:
            impls[name][1]()
        for b, start in enumerate(range(0, len(events), block)):
            k = (r + b) % len(names)
            for name in names[k:] + names[:k]:
                step, ts = impls[name][0], times[name]
                for i in range(start, min(start + block, len(events))):
                    t0 = perf()
                    step(events[i])
                    ts[i] = perf() - t0
        for name in names:
            per_rep[name].append(times[name] * 1e6)
    dt_us = windows[0].t_end_us - windows[0].t_start_us
    return {name: {
        "p50_us": float(np.median([np.median(t) for t in reps_])),
        "p99_us": float(np.percentile(np.concatenate(reps_), 99)),
        "rtf": float(dt_us / np.median([t.mean() for t in reps_])),
    } for name, reps_ in per_rep.items()}


def table(title: str, res: dict[str, dict[str, float]]) -> str:
    lines = [title, f"{'impl':<14}{'p50 µs':>10}{'p99 µs':>10}{'RTF':>9}{'p50 / numba':>14}"]
    ref = res.get("numba", {}).get("p50_us")
    for name, r in res.items():
        ratio = f"{r['p50_us'] / ref:.1f}x" if ref else "-"
        lines.append(f"{name:<14}{r['p50_us']:>10.1f}{r['p99_us']:>10.1f}{r['rtf']:>9.1f}"
                     f"{ratio:>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--block", type=int, default=500)
    ap.add_argument("--max-steps", type=int, default=None,
                    help="time at most this many windows per repetition (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = sys.stderr if args.json else sys.stdout
    stream = busy_stream(args.data)
    span_s = (stream["t"][-1] - stream["t"][0]) / 1e6
    print(f"busy DVS128 recordings back to back: {len(stream):,} events, {span_s:.1f} s; "
          f"{args.threads} thread(s)", file=out)
    results: dict[str, dict] = {}
    for dt_us in (1000, 10000):
        windows = bin_events(stream, dt_us)[:args.max_steps]
        model, (r1, r2) = calibrated_model(dt_us, windows)
        impls = implementations(model)
        res = run(impls, windows, args.reps, args.block)
        title = (f"\n{dt_us // 1000} ms windows: {len(windows):,} steps x {args.reps} reps; "
                 f"firing per step: conv1 {100 * r1:.1f} %, conv2 {100 * r2:.1f} %")
        print(table(title, res), file=out)
        results["1ms" if dt_us == 1000 else "10ms"] = res
    if args.json:
        doc = dict(results["1ms"])
        doc["10ms"] = results["10ms"]
        print(json.dumps(doc))


if __name__ == "__main__":
    main()
