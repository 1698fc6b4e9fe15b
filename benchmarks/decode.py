"""Decode speed of spikestream's readers next to aestream, faery, expelliarmus and tonic.

Usage: python benchmarks/decode.py [--data ../shared/data] [--json] [--rounds 3]

For each format it decodes the same real files from ../shared/data with every
implementation that reads that format correctly, interleaved in rounds (see
benchmarks/_timing.py), and prints events/s and the ratio of ours to the
fastest peer (>= 1 means ours is at least as fast). ``--json`` prints one JSON
object ``{format: {impl: {"events_per_s": ..., "seconds": ..., "ms_per_file": ...},
"ratio_vs_best_peer": ...}}``.
aestream is left out for ``.raw`` (0.6.4 decodes EVT3 timestamps wrongly) and
CSV (broken in 0.6.4).

Two cases measure different things: ``dat`` (one 2,009-event N-CARS file) and
``nmnist`` (50 small files) are dominated by the fixed cost of opening a file,
shown per file; ``dat_large`` is the same N-CARS recording repeated 500 times
into one ~1 M-event file (written to a temporary folder, each copy shifted after
the last), which measures decoding throughput.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, median_of_medians  # noqa: E402

from spikestream.streams.formats import open_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def ours(paths: list[Path]):
    def fn():
        return sum(len(open_file(p).read_all()) for p in paths)

    return fn


def peers(fmt: str, paths: list[Path], sensor: tuple[int, int]) -> dict:
    out = {}
    try:
        import aestream

        if fmt in ("aedat4", "dat"):
            out["aestream"] = lambda: sum(
                len(aestream.FileInput(str(p), sensor).load()) for p in paths
            )
    except ImportError:
        pass
    try:
        import faery

        out["faery"] = lambda: sum(
            len(faery.events_stream_from_file(p).to_array()) for p in paths
        )
    except ImportError:
        pass
    if fmt in ("evt2", "evt3", "dat"):
        try:
            from expelliarmus import Wizard

            w = Wizard(encoding=fmt)
            out["expelliarmus"] = lambda: sum(len(w.read(str(p))) for p in paths)
        except ImportError:
            pass
    if fmt == "aedat4":
        try:
            import aedat  # noqa: F401  (tonic.io.read_aedat4 needs it)
            import tonic.io

            out["tonic"] = lambda: sum(len(tonic.io.read_aedat4(str(p))) for p in paths)
        except ImportError:
            print("(tonic's AEDAT4 reader needs the 'aedat' package: left out)", file=sys.stderr)
    if fmt == "nmnist":
        import tonic.io

        out["tonic"] = lambda: sum(
            len(tonic.io.read_mnist_file(str(p), dtype=tonic.io.events_struct)) for p in paths
        )
    return out


def cases(data: Path, tmp: Path | None = None) -> dict[str, tuple[list[Path], tuple[int, int]]]:
    rec = data / "recordings"
    busy = sorted((rec / "dvs128-aedat4").glob("dvSave-2024_06_20_*.aedat4"))
    out = {
        "aedat4": (busy, (128, 128)),
        "evt2": ([rec / "formats" / "gen3-evt2.raw"], (640, 480)),
        "evt3": ([rec / "formats" / "gen41-evt3.raw"], (1280, 720)),
        "dat": ([rec / "formats" / "ncars-atis.dat"], (128, 128)),
        "nmnist": (sorted((data / "nmnist-1k" / "0").glob("*.bin"))[:50], (34, 34)),
    }
    if tmp is not None:  # built just before it runs (see run): the others run as before
        out["dat_large"] = ([tmp / "ncars-atis-x500.dat"], (128, 128))
    return out


def tiled_dat(src: Path, copies: int, dst: Path) -> Path:
    """``src`` (a DAT file) with its events repeated ``copies`` times, each copy
    shifted in time to start after the previous one ends."""
    data = src.read_bytes()
    end = 0
    while data.startswith(b"%", end):  # header lines, then event type and size bytes
        end = data.index(b"\n", end) + 1
    body = np.frombuffer(data, [("t", "<u4"), ("d", "<u4")], offset=end + 2)
    tiles = np.tile(body, copies)
    span = int(body["t"][-1]) + 1
    tiles["t"] += np.repeat(np.arange(copies, dtype=np.uint32) * np.uint32(span), len(body))
    dst.write_bytes(data[: end + 2] + tiles.tobytes())
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = run(cases(args.data, Path(tmp)), args, args.data)
    if args.json:
        print(json.dumps(report))
    return 0


def run(
    all_cases: dict[str, tuple[list[Path], tuple[int, int]]], args, data: Path
) -> dict[str, dict]:
    report: dict[str, dict] = {}
    for fmt, (paths, sensor) in all_cases.items():
        ncars = data / "recordings" / "formats" / "ncars-atis.dat"
        if fmt == "dat_large" and ncars.exists():
            tiled_dat(ncars, 500, paths[0])
        if not paths or not all(p.exists() for p in paths):
            continue
        n_events = ours(paths)()
        impls = {"spikestream": ours(paths)}
        for name, fn in peers(fmt.removesuffix("_large"), paths, sensor).items():
            try:
                fn()
            except Exception as e:  # a peer that cannot read this file is left out, said so
                print(f"({name} cannot read the {fmt} files: {e}; left out)", file=sys.stderr)
                continue
            impls[name] = fn
        times = interleaved(impls, rounds=args.rounds, reps=args.reps)
        row = {}
        for name, per_round in times.items():
            s = median_of_medians(per_round)
            row[name] = {"events_per_s": n_events / s, "seconds": s,
                         "ms_per_file": s * 1e3 / len(paths)}  # fmt: skip
        peer_rates = [v["events_per_s"] for k, v in row.items() if k != "spikestream"]
        row["events"] = n_events
        row["ratio_vs_best_peer"] = (
            row["spikestream"]["events_per_s"] / max(peer_rates) if peer_rates else None
        )
        report[fmt] = row
        if not args.json:
            print(f"{fmt}: {n_events:,} events in {len(paths)} file(s)")
            for name in times:
                print(f"  {name:<13} {row[name]['events_per_s'] / 1e6:8.1f} M ev/s "
                      f"({row[name]['seconds'] * 1e3:7.2f} ms)")
            if n_events < 50_000 * len(paths):  # small files: what one costs
                per_file = ", ".join(f"{k} {row[k]['ms_per_file'] * 1e3:.0f}" for k in times)
                print(f"  us per file: {per_file}")
            if row["ratio_vs_best_peer"] is not None:
                print(f"  ours / fastest peer = {row['ratio_vs_best_peer']:.2f}")
    return report


if __name__ == "__main__":
    raise SystemExit(main())
