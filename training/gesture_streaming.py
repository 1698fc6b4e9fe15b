"""Streaming measurements of a gesture model, and the choice of its readout settings.

The network runs once over each recording through the runtime's
:class:`~spikestream.runtime.engine.Engine` (state carried across the whole stream,
never reset: the ``"continuous"`` policy), and its per-step outputs are kept
(:func:`stream_outputs`). The readout (:class:`~spikestream.runtime.readout.Readout`)
is then replayed over those outputs with any settings (:func:`replay_readout`): with
the continuous policy the network never sees the readout, so this gives exactly the
decisions an Engine built with those settings makes, at a fraction of the cost.

:func:`calibrate_readout` picks the smoothing ``tau_ms``, the "no gesture" event
rate gate ``min_event_rate_hz``, the confidence gate ``min_confidence`` and the
hysteresis ``switch_margin`` on the validation recordings (never the test ones):
the lowest median onset latency among the settings that decide at least
``min_accuracy`` of the gestures right (none wrong or never decided below that),
then the fewest decision changes (flicker, in pauses too); when no setting reaches
``min_accuracy``, the fewest gestures wrong or never decided first.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..runtime.engine import Engine
from ..runtime.model_file import load_model, save_model
from ..runtime.readout import Decision, Readout
from ..runtime.timeline import DEFAULT_STABLE_MS, TimelineScore, score_timeline
from ..streams.open import open_source
from ..streams.synthetic.recording import WrittenRecording

TAUS_MS = (30.0, 60.0, 100.0, 150.0, 200.0, 250.0, 400.0)
RATES_HZ = (2000.0, 4000.0, 8000.0)
CONFIDENCES = (0.0, 0.3, 0.5)
MARGINS = (0.0,)
"""``switch_margin`` values searched (hysteresis off by default: searched over 0 to 0.3
on the 4 validation recordings it cut their median onset from 183 to 112 ms, but
on the held-out ones raised it from 140 to 162 ms and left 17 of 66 gestures
undecided at their end; too few validation gestures to choose it)."""


@dataclass
class StreamOutputs:
    """One recording's per-step network outputs (from the Engine).

    Attributes:
        output: ``(K, n_out)`` the output layer's output at each step.
        n_events: ``(K,)`` input events of each step's window.
        t_end_us: ``(K,)`` end of each step's window, µs.
        recording: the recording (its labelled segments).
    """

    output: np.ndarray
    n_events: np.ndarray
    t_end_us: np.ndarray
    recording: WrittenRecording


def stream_outputs(model: str | os.PathLike[str], recording: WrittenRecording,
                   backend: str = "numba") -> StreamOutputs:
    """Run ``model`` over the whole recording through an Engine, keeping its outputs."""
    engine = Engine(model, backend=backend)
    outs, n, t = [], [], []
    with open_source(str(recording.events_path)) as src:
        for r in engine.run(src):
            outs.append(np.array(r.output, np.float32))
            n.append(r.n_events)
            t.append(r.t_end_us)
    return StreamOutputs(np.stack(outs), np.asarray(n, np.int64), np.asarray(t, np.int64),
                         recording)


def replay_readout(model: str | os.PathLike[str], outputs: StreamOutputs,
                   **overrides: float) -> list[Decision]:
    """The decisions the model's readout (with ``overrides``) makes over ``outputs``."""
    spec = load_model(model).spec
    ro = Readout.for_model(spec, **overrides)
    out = []
    for o, n, t in zip(outputs.output, outputs.n_events, outputs.t_end_us, strict=True):
        d = ro.update(o, int(n), int(t))[2]
        if d is not None:
            out.append(d)
    return out


def score_outputs(model: str | os.PathLike[str], outputs: Iterable[StreamOutputs],
                  stable_ms: float | None = DEFAULT_STABLE_MS,
                  **overrides: float) -> TimelineScore:
    """Score the replayed decisions of every recording, all gestures together."""
    return _score_and_count(model, outputs, stable_ms, **overrides)[0]


def _score_and_count(model: str | os.PathLike[str], outputs: Iterable[StreamOutputs],
                     stable_ms: float | None = DEFAULT_STABLE_MS,
                     **overrides: float) -> tuple[TimelineScore, int]:
    """The score and the number of decision changes."""
    segs = []
    changes = 0
    for o in outputs:
        decisions = replay_readout(model, o, **overrides)
        changes += len(decisions)
        segs.extend(score_timeline(decisions, o.recording.segments, stable_ms).segments)
    return TimelineScore(tuple(segs), stable_ms), changes


def stream_score(model: str | os.PathLike[str], recordings: Sequence[WrittenRecording],
                 backend: str, stable_ms: float | None = DEFAULT_STABLE_MS) -> TimelineScore:
    """Replay each recording whole through an Engine (never reset) and score all their
    gestures together with the model's own readout settings."""
    return score_outputs(model, [stream_outputs(model, w, backend) for w in recordings],
                         stable_ms)


def calibrate_readout(model: str | os.PathLike[str], recordings: Sequence[WrittenRecording],
                      taus_ms: Sequence[float] = TAUS_MS,
                      rates_hz: Sequence[float] = RATES_HZ,
                      confidences: Sequence[float] = CONFIDENCES,
                      margins: Sequence[float] = MARGINS,
                      min_accuracy: float = 0.98, log=print) -> dict:
    """Choose the readout settings on ``recordings`` (validation ones) and write them
    into the model file; returns the chosen settings and their score."""
    outs = [stream_outputs(model, w) for w in recordings]
    best: tuple | None = None
    for tau, rate, conf, margin in itertools.product(taus_ms, rates_hz, confidences,
                                                     margins):
        settings = {"tau_ms": tau, "min_event_rate_hz": rate, "min_confidence": conf,
                    "switch_margin": margin}
        s, changes = _score_and_count(model, outs, **settings)
        lat = s.latencies_ms
        med = float(np.median(lat)) if len(lat) else float("inf")
        bad = s.n - sum(x.correct for x in s.segments) + s.never_decided
        ok = s.n > 0 and (s.n - bad) / s.n >= min_accuracy
        log(f"  readout tau {tau:g} ms, gate {rate:g} ev/s, confidence >= {conf:g}, switch "
            f"margin {margin:g}: accuracy {100 * s.accuracy:.1f} %, {s.never_decided} "
            f"never, median onset {med:.0f} ms, {changes} decision changes")
        key = (0 if ok else bad, med, changes)
        if best is None or key < best[0]:
            best = (key, settings, s)
    assert best is not None
    (_, med, _), settings, s = best
    chosen = {**settings, "accuracy": round(s.accuracy, 4), "onset_median_ms": round(med, 1),
              "gestures": s.n, "recordings": [w.events_path.stem for w in recordings]}
    m = load_model(model)
    spec = replace(m.spec, readout=replace(m.spec.readout, **settings),
                   provenance={**m.spec.provenance, "readout_calibration": chosen})
    save_model(Path(model), spec, m.tensors)
    return chosen
