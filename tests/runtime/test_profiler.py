"""The profiler's statistics, its report, and its plot."""

from __future__ import annotations

import numpy as np
import pytest

from spikestream.runtime.engine import Engine
from spikestream.runtime.profiler import LatencyStats, Profiler, Timeline
from spikestream.runtime.testing import random_model


def test_latency_quantiles_within_one_percent():
    rng = np.random.default_rng(0)
    values = rng.lognormal(4.0, 1.0, 20_000)
    s = LatencyStats()
    for v in values:
        s.add(float(v))
    for q in (0.5, 0.9, 0.99):
        assert s.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.012)
    assert s.max_us == values.max() and s.count == 20_000
    assert s.summary()["mean_us"] == pytest.approx(values.mean(), abs=1e-3)
    assert LatencyStats().summary()["p50_us"] == 0.0


def test_timeline_is_bounded_and_keeps_the_maximum():
    tl = Timeline(max_points=64)
    for k in range(10_000):
        tl.add(k * 1e-3, 1000.0 if k == 7777 else 1.0)
    assert len(tl.t) <= 64
    assert max(tl.v) == 1000.0
    assert tl.t == sorted(tl.t)


def test_profile_report_and_plot(busy_events, tmp_path):
    eng = Engine(random_model("lee"))
    prof = Profiler()
    chunks = np.array_split(busy_events[:50_000], 7)
    results = list(prof.run(eng, chunks))
    rep = prof.report(model="m")
    assert rep["windows"] == len(results) > 0 and rep["events"] == 50_000
    assert rep["dropped"] == 0 and rep["model"] == "m"
    assert rep["rtf"] > 0 and rep["events_per_s"] > 0
    stages = rep["stages"]
    want = {"decode", "window", "input", "readout", "step"} | {
        f"layer:{layer.name}" for layer in eng.model.spec.layers}
    assert set(stages) == want
    assert stages["decode"]["count"] == 7 and stages["decode"]["unit"] == "chunk"
    assert stages["step"]["count"] == len(results)
    for s in stages.values():
        assert 0 <= s["p50_us"] <= s["p99_us"] <= s["max_us"]
    assert rep["overall"] == stages["step"]
    path = tmp_path / "p.png"
    prof.plot(str(path), title="test", dt_us=1000)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
