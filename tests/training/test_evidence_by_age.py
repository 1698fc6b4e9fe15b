"""How soon the network's evidence points at each gesture (training/gesture_streaming.py:
evidence_by_age) and its table on the gesture card (gesture_card.evidence_table)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spikestream.runtime.model_file import save_model
from spikestream.runtime.testing import random_model
from spikestream.streams.source import LabelledSegment
from spikestream.streams.synthetic.recording import WrittenRecording
from spikestream.training.gesture_card import evidence_table
from spikestream.training.gesture_streaming import StreamOutputs, evidence_by_age

DT = 10_000


def model_file(tmp_path: Path, tau_ms: float) -> Path:
    """A 3-class count-readout model whose readout smooths with ``tau_ms``."""
    m = random_model("lif", dt_us=DT, n_classes=3)
    spec = replace(m.spec, readout=replace(m.spec.readout, tau_ms=tau_ms))
    return save_model(tmp_path / f"m{tau_ms:g}.safetensors", spec, m.tensors)


def outputs() -> StreamOutputs:
    """60 steps of 10 ms. Gesture of class 1 over [100, 400) ms: the output says class 0
    for its first 50 ms, then class 1. Gesture of class 2 over [450, 600) ms: class 2,
    except a silent step 30 ms in. Silent elsewhere."""
    k = 60
    t_end = (np.arange(k) + 1) * DT
    out = np.zeros((k, 3), np.float32)
    for i, t in enumerate(t_end):
        if 100_000 < t <= 150_000:
            out[i, 0] = 1.0
        elif 150_000 < t <= 400_000:
            out[i, 1] = 1.0
        elif 450_000 < t <= 600_000 and t != 480_000:
            out[i, 2] = 1.0
    segs = (LabelledSegment(1, "class1", 100_000, 400_000),
            LabelledSegment(2, "class2", 450_000, 600_000))
    rec = WrittenRecording(Path("r.npz"), Path("r_labels.csv"), 0, 0, 600_000, segs)
    return StreamOutputs(out, np.full(k, 100, np.int64), t_end, rec)


def test_shares_of_right_steps_by_time_since_the_gesture_began(tmp_path):
    ev = evidence_by_age(model_file(tmp_path, 0.0), [outputs()], bins_ms=(0, 50, 100, 200))
    assert ev["bins_ms"] == [0.0, 50.0, 100.0, 200.0]
    assert list(ev["per_class"]) == ["class1", "class2"]  # no gesture of class 0
    # class 1: steps ending 10..50 ms in say class 0, then class 1
    assert ev["per_class"]["class1"] == [0.0, 1.0, 1.0]
    # class 2: the silent step (nothing scored) 30 ms in counts as wrong; its gesture
    # ends 150 ms in, so its last bin holds 5 steps
    assert ev["per_class"]["class2"] == [0.8, 1.0, 1.0]
    assert ev["all"] == [0.4, 1.0, 1.0]


def test_the_evidence_is_the_readouts_smoothed_view(tmp_path):
    # smoothed over 100 ms, class 0's early evidence still leads for a while after the
    # output switched to class 1 50 ms in
    ev = evidence_by_age(model_file(tmp_path, 100.0), [outputs()], bins_ms=(0, 50, 100, 200))
    c1 = ev["per_class"]["class1"]
    assert c1[0] == 0.0 and 0.0 < c1[1] < 1.0 and c1[2] == 1.0


def test_a_bin_without_steps_is_none_and_bad_edges_are_refused(tmp_path):
    path = model_file(tmp_path, 0.0)
    ev = evidence_by_age(path, [outputs()], bins_ms=(0, 100, 1000, 2000))
    assert ev["per_class"]["class2"][1:] == [1.0, None]  # class 2 lasts 150 ms
    assert ev["all"][2] is None
    with pytest.raises(ValueError, match="bins_ms"):
        evidence_by_age(path, [outputs()], bins_ms=(0, 50, 50))
    with pytest.raises(ValueError, match="bins_ms"):
        evidence_by_age(path, [outputs()], bins_ms=(0,))


def test_card_table_of_the_evidence():
    ev = {"bins_ms": [0.0, 50.0, 100.0], "per_class": {"hand clap": [0.25, None],
                                                       "air guitar": [0.5, 1.0]},
          "all": [0.375, 1.0]}
    lines = evidence_table(ev)
    assert "| class | 0-50 ms | 50-100 ms |" in lines
    assert "| hand clap | 25 % | - |" in lines
    assert "| air guitar | 50 % | 100 % |" in lines
    assert "| **all** | 38 % | 100 % |" in lines
    assert evidence_table(None) == []
