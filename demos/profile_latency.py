"""The latency profiling tool on a real recording: where do the milliseconds go?

    python demos/profile_latency.py [RECORDING] [--model M] [--backend numba|torch]
                                    [--out DIR] [--show]

Runs ``spikestream profile`` on RECORDING (default: the busiest DVS128 recording in
``../shared/data``, else a 10 s synthetic gesture recording) with model M (default:
the reference network of ``benchmarks/engine.py`` — 2x32x32 input, conv 16, pool,
conv 32, pool, fc 11 — with random weights firing a few percent, saved to DIR), on
both backends unless one is named. It prints each report, writes
``DIR/profile-<backend>.json`` and ``.png``, and with ``--show`` opens the plots.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spikestream.cli import main as spikestream
from spikestream.runtime import save_model
from spikestream.runtime.testing import random_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "recordings" / "dvs128-aedat4"


def default_recording() -> str:
    busy = sorted(SHARED.glob("dvSave-2024_06_20_*.aedat4"), key=lambda p: p.stat().st_size)
    return str(busy[-1]) if busy else "synthetic://gesture?seed=0&duration_s=10"


def reference_model(out: Path) -> Path:
    m = random_model("lif", seed=0)
    return save_model(out / "reference-lif.safetensors", m.spec, dict(m.tensors))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", nargs="?", default=None)
    ap.add_argument("--model", "-m", default=None)
    ap.add_argument("--backend", choices=["numba", "torch"], default=None)
    ap.add_argument("--out", type=Path, default=Path("profile-out"))
    ap.add_argument("--show", action="store_true", help="open the plots in a window")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    recording = args.recording or default_recording()
    model = args.model or str(reference_model(args.out))
    plots = []
    for backend in [args.backend] if args.backend else ["numba", "torch"]:
        print(f"\n== {backend} ==")
        json_path, png = args.out / f"profile-{backend}.json", args.out / f"profile-{backend}.png"
        rc = spikestream(["profile", recording, "-m", model, "--backend", backend,
                          "--json", str(json_path), "--plot", str(png)])
        if rc:
            return rc
        plots.append(png)
    print("\nplots: " + ", ".join(map(str, plots)))
    if args.show:
        import matplotlib.pyplot as plt

        for png in plots:
            plt.figure(figsize=(15, 4.5))
            plt.imshow(plt.imread(png))
            plt.axis("off")
        plt.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
