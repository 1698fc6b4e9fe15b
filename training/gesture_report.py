"""Measure ``models/gesture-synthetic`` on the held-out recordings and write its card
(:mod:`.gesture_card`).

    python -m spikestream.training.gesture_report [--model models/gesture-synthetic.safetensors]

- offline: the training forward (:class:`~.network.SpikingNet`) on clips of the held-out
  test recordings, cut at random offsets with their ends uniform inside the gestures;
  a clip is right when the readout-smoothed output's argmax at its last step is the
  gesture's class;
- streaming: each held-out test recording replayed whole through the runtime's
  :class:`~spikestream.runtime.engine.Engine` (torch and numba backends), the state
  carried across the whole stream and never reset, its decisions scored against the
  labels by :func:`~spikestream.runtime.timeline.score_timeline` (accuracy by majority
  decision per gesture, onset latency).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..runtime.model_file import load_model, save_model
from ..runtime.readout import vote_means
from ..runtime.timeline import TimelineScore
from .gesture_card import render
from .gesture_clips import cut_clips
from .gesture_recipe import MODEL_NAME, Recipe, bin_recordings, clip_accuracy
from .gesture_streaming import (
    StreamOutputs,
    evidence_by_age,
    score_outputs,
    stream_outputs,
)
from .network import SpikingNet
from .rules import get_rule
from .synthetic_gestures import synthetic_gesture_dataset


class ClassScores(torch.nn.Module):
    """A training network whose output is scored per class as the runtime's readout
    scores it: for a voting readout the mean of each class's output neurons (an
    ensemble's members), else the output itself."""

    def __init__(self, net: SpikingNet) -> None:
        super().__init__()
        self.net, self.spec = net, net.spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.spec.readout.kind != "voting":
            return out
        return vote_means(out, len(self.spec.classes), self.spec.readout)


def _net(model: str | Path) -> tuple[ClassScores, float]:
    """The training network of a model file (class scores out), and the training
    smoothing factor."""
    m = load_model(model)
    s = m.spec.provenance.get("rule_settings", {})
    rule = get_rule("stbp", **{k: v for k, v in s.items() if k != "rule"})
    tau_ms = m.spec.provenance.get("recipe", {}).get("tau_ms", m.spec.readout.tau_ms)
    return (ClassScores(SpikingNet.from_model(m, rule)),
            math.exp(-m.spec.dt_us / (tau_ms * 1000)))


def offline_accuracy(model: str | Path, recipe: Recipe, seed: int = 12345
                     ) -> dict[str, float | int]:
    """Offline accuracies of the training forward on the held-out test recordings.

    - ``gesture_accuracy``: each test recording run whole (state carried), each
      labelled gesture classified by the argmax of the output summed over it;
    - ``clip_accuracy``: clips cut at random offsets (ends uniform in the gestures),
      the argmax of the smoothed output at the clip's last step.
    """
    net, alpha = _net(model)
    streams = bin_recordings(recipe, "test", log=lambda _: None)
    right = total = 0
    with torch.no_grad():
        for st in streams:
            out = net(torch.from_numpy(st.frames.astype(np.float32))[:, None])[:, 0]
            for seg in st.segments:
                k0, k1 = seg.t_start_us // st.dt_us, -(-seg.t_end_us // st.dt_us)
                right += int(out[k0:k1].sum(0).argmax()) == seg.label
                total += 1
    clips = cut_clips(streams, recipe.clip_spec(eval_clips=True), seed, recipe.input_spec(),
                      net.spec.classes)
    acc, _ = clip_accuracy(net, clips, alpha)
    return {"gesture_accuracy": round(right / max(total, 1), 4), "gestures": total,
            "clip_accuracy": round(acc, 4), "clips": len(clips)}


def per_class(score: TimelineScore, classes: tuple[str, ...]) -> dict[str, dict]:
    """Per class: gestures, accuracy (majority), median onset latency (ms; a
    never-decided gesture counts as later than any decided one, None when the median
    is not reached: see :meth:`~spikestream.runtime.timeline.TimelineScore.onset_quantile_ms`)
    and how many were never decided."""
    out: dict[str, dict] = {}
    for k, name in enumerate(classes):
        segs = [x for x in score.segments if x.segment.label == k]
        if not segs:
            continue
        of_class = TimelineScore(tuple(segs), score.stable_ms)
        med = of_class.onset_quantile_ms(50)
        out[name] = {"gestures": len(segs),
                     "accuracy": round(sum(x.correct for x in segs) / len(segs), 4),
                     "onset_median_ms": None if med is None else round(med, 1),
                     "never_decided": of_class.never_decided}
    return out


N_TEST = 80
"""Held-out test recordings the card is measured on (880 gestures). 6 recordings were far
too few (the median onset of 66 gestures swung by 30-50 ms between samples) and 20 too
few for a 105 ms goal: the latencies are bimodal (six classes decided within ~100 ms, the
arm circles and the clap in ~300 ms) with the median at the edge of the fast mode, and
the 11 gestures of a recording share a person, a background and noise. The shipped
ensemble's median was 114 ms on 20 test recordings and 92 ms on 32 never-used
validation ones (the interval of :func:`median_interval` tells how far to trust it)."""


def median_interval(scores: Sequence[TimelineScore], level: float = 0.95,
                    n_boot: int = 2000, seed: int = 0) -> tuple[float | None, float | None]:
    """Bootstrap interval of the median onset latency (ms) over recordings.

    ``scores`` holds one :class:`TimelineScore` per recording. Whole recordings (not
    gestures) are drawn with replacement, ``n_boot`` times, since the gestures of a
    recording are not independent; each draw's median is taken as
    :meth:`~spikestream.runtime.timeline.TimelineScore.onset_quantile_ms` takes it
    (never-decided gestures later than any decided one). Returns the ``(1 - level) / 2``
    and ``(1 + level) / 2`` quantiles of the draws' medians; a bound is None when it
    falls on a draw whose median is not reached."""
    if not scores:
        raise ValueError("median_interval: no recordings")
    if not 0.0 < level < 1.0:
        raise ValueError(f"median_interval: level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    stable = scores[0].stable_ms
    meds = np.empty(n_boot)
    for i in range(n_boot):
        pick = rng.integers(0, len(scores), len(scores))
        m = TimelineScore(tuple(g for k in pick for g in scores[k].segments),
                          stable).onset_quantile_ms(50)
        meds[i] = np.inf if m is None else m
    lo, hi = np.quantile(meds, [(1 - level) / 2, (1 + level) / 2], method="lower")
    return (None if np.isinf(lo) else round(float(lo), 1),
            None if np.isinf(hi) else round(float(hi), 1))


def by_recording(score: TimelineScore, outs: Sequence[StreamOutputs]) -> list[TimelineScore]:
    """``score`` (of all of ``outs``' gestures, in order) split into one per recording."""
    out, k = [], 0
    for o in outs:
        n = len(o.recording.segments)
        out.append(TimelineScore(score.segments[k:k + n], score.stable_ms))
        k += n
    if k != len(score.segments):
        raise ValueError(f"by_recording: {len(score.segments)} gestures scored, the "
                         f"recordings hold {k}")
    return out


CDF_MS = (50, 100, 150, 200, 300, 500)


def decided_within(score: TimelineScore, within_ms: tuple[int, ...] = CDF_MS
                   ) -> dict[str, float]:
    """Share of all the gestures (never decided ones included) whose onset latency is
    at most each of ``within_ms``: ``{"100": 0.42, ...}``."""
    lat = score.latencies_ms
    return {str(t): round(float((lat <= t).sum()) / max(score.n, 1), 4) for t in within_ms}


def measure(model: str | Path, recipe: Recipe | None = None, n_test: int = N_TEST) -> dict:
    """All the card's figures (see the module docstring), on the first ``n_test``
    held-out test recordings (``test_recordings`` in the result)."""
    recipe = recipe or Recipe()
    recipe = replace(recipe, data=replace(recipe.data, n_test=n_test))
    test = synthetic_gesture_dataset(recipe.data)["test"]
    out: dict = {"test_recordings": n_test}
    out["offline"] = offline_accuracy(model, recipe)
    for backend in ("torch", "numba"):
        t0 = time.perf_counter()
        outs = [stream_outputs(model, w, backend) for w in test]
        score = score_outputs(model, outs)
        strict = score_outputs(model, outs, stable_ms=None)
        lo, hi = median_interval(by_recording(score, outs))
        out[backend] = {**score.summary(), "median_interval_ms": [lo, hi],
                        "strict_onset_ms": strict.summary()["onset_ms"],
                        "strict_never_decided": strict.never_decided,
                        "decided_within_ms": decided_within(score),
                        "per_class": per_class(score, load_model(model).spec.classes),
                        "evidence_by_age": evidence_by_age(model, outs),
                        "wall_s": round(time.perf_counter() - t0, 1)}
    return out


def record_figures(model: str | Path, figures: dict) -> None:
    """Store the measured figures in the model file's provenance (``measured``), so
    that a test can check the shipped file against them."""
    m = load_model(model)
    prov = {**m.spec.provenance, "measured": figures}
    save_model(Path(model), replace(m.spec, provenance=prov), m.tensors)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=f"models/{MODEL_NAME}.safetensors")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-card", action="store_true",
                    help="only print the figures (the model file and card stay as they are)")
    ap.add_argument("--n-test", type=int, default=N_TEST,
                    help=f"held-out test recordings to measure on (default {N_TEST})")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    figures = measure(args.model, n_test=args.n_test)
    print(json.dumps(figures, indent=1))
    if not args.no_card:
        record_figures(args.model, figures)
        card = Path(args.model).with_suffix(".md")
        card.write_text(render(args.model, figures))
        print(f"wrote {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
