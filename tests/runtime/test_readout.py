"""The readout: class scores per kind, smoothing, confidence, decisions, state policy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikestream.runtime.neurons import rule_neuron
from spikestream.runtime.readout import NO_GESTURE, Readout
from spikestream.runtime.spec import ReadoutSpec

CLASSES = ("a", "b", "c")


def ro(**kw) -> Readout:
    return Readout(ReadoutSpec(**{"tau_ms": 0.0, **kw}), CLASSES, dt_us=1000)


def test_count_scores_and_decisions_only_on_change():
    r = ro()
    _, p, d = r.update(np.array([0.0, 0.0, 0.0]), 10, 1000)
    assert p.label is None and p.name == NO_GESTURE and d is None  # nothing scored yet
    _, p, d = r.update(np.array([0.0, 1.0, 0.0]), 10, 2000)
    assert d is not None and (d.t_us, d.label, d.name, d.confidence) == (2000, 1, "b", 1.0)
    _, p, d = r.update(np.array([0.0, 1.0, 0.0]), 10, 3000)
    assert d is None and p.label == 1
    _, p, d = r.update(np.array([1.0, 0.0, 1.0]), 10, 4000)
    assert d is not None and d.label == 0 and d.confidence == pytest.approx(0.5)


def test_exponential_smoothing():
    r = ro(tau_ms=10.0)
    a = math.exp(-1000 / 10_000)
    r.update(np.array([1.0, 0.0, 0.0]), 5, 1000)
    r.update(np.array([0.0, 0.0, 1.0]), 5, 2000)
    np.testing.assert_allclose(r.smoothed, [(1 - a) * a, 0.0, 1 - a])
    assert r.rate_hz == pytest.approx(5000 * (1 - a) * (1 + a))
    _, p, _ = r.update(np.zeros(3), 5, 3000)
    assert p.label == 2  # 1 - a > (1 - a) a
    assert p.confidence == pytest.approx(1 / (1 + a))


def test_voting_means_each_class_group():
    r = Readout(ReadoutSpec(kind="voting", votes_per_class=2, tau_ms=0.0), CLASSES, 1000)
    scores, p, _ = r.update(np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]), 1, 1000)
    np.testing.assert_array_equal(scores, [0.5, 1.0, 0.0])
    assert p.label == 1


def test_membrane_uses_softmax():
    r = ro(kind="membrane")
    scores, p, _ = r.update(np.array([-1.0, 2.0, 0.5]), 1, 1000)
    e = np.exp([-1.0, 2.0, 0.5])
    np.testing.assert_allclose(p.probs, e / e.sum())
    assert p.label == 1


def test_first_spike_holds_the_earliest_until_reset():
    r = ro(kind="first_spike", state_policy="reset_every", reset_every_steps=4)
    outs = [[0, 0, 0], [0, 1, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]]
    labels, resets = [], []
    for k, o in enumerate(outs):
        _, p, _ = r.update(np.array(o, float), 1, 1000 * (k + 1))
        labels.append(p.label)
        resets.append(p.reset_state)
    assert labels == [None, 1, 1, 1, 2, 2]
    assert resets == [False, False, False, True, False, False]


def test_first_spike_tie_splits():
    r = ro(kind="first_spike")
    scores, p, _ = r.update(np.array([1.0, 0.0, 1.0]), 1, 1000)
    np.testing.assert_array_equal(scores, [0.5, 0.0, 0.5])
    assert p.confidence == 0.5


def test_first_crossing_of_integrating_outputs_is_timed_inside_the_step():
    # a non-spiking output layer (ReL-PSP): the readout applies its threshold
    neuron = rule_neuron("relpsp_readout", threshold=1.0)
    r = Readout(ReadoutSpec(kind="first_spike", tau_ms=0.0, state_policy="reset_every",
                            reset_every_steps=3), CLASSES, 1000, neuron)
    # step 1: a and c both cross 1; a rose 0.2 -> 1.2 (crossed 0.2 step before the
    # end), c rose 0.6 -> 1.4 (0.5 step before): c was first; b has not crossed.
    # Later membranes do not change the decision until the state is reset.
    outs = [[0.2, 0.5, 0.6], [1.2, 0.9, 1.4], [9.0, 9.0, 9.0],
            [0.0, 2.0, 0.0], [0.0, 4.0, 3.0]]
    got = []
    for k, o in enumerate(outs):
        scores, p, _ = r.update(np.array(o), 1, 1000 * (k + 1))
        got.append((p.label, p.reset_state))
    # the reset after step 3 forgets the decision and the previous membrane (0 again)
    assert got == [(None, False), (2, False), (2, True), (1, False), (1, False)]
    snap = r.get_state()
    np.testing.assert_array_equal(snap["previous"], [0.0, 2.0, 0.0])
    # ... and an exact tie splits; a spiking output is read as spikes (1 > 0)
    tie = Readout(ReadoutSpec(kind="first_spike", tau_ms=0.0), CLASSES, 1000, neuron)
    scores, _, _ = tie.update(np.array([2.0, 2.0, 0.5]), 1, 1000)
    np.testing.assert_array_equal(scores, [0.5, 0.5, 0.0])
    spikes = Readout(ReadoutSpec(kind="first_spike", tau_ms=0.0), CLASSES, 1000,
                     rule_neuron("relpsp"))
    scores, _, _ = spikes.update(np.array([1.0, 0.0, 0.0]), 1, 1000)
    np.testing.assert_array_equal(scores, [1.0, 0.0, 0.0])


def test_switch_margin_holds_the_decided_class_against_a_close_challenger():
    r = ro(switch_margin=0.2)
    labels = [r.update(np.array(o), 1, 1000 * (k + 1))[1].label for k, o in enumerate(
        [[0.0, 1.0, 0.0], [0.0, 0.55, 0.45], [0.0, 0.45, 0.55], [0.0, 0.35, 0.65],
         [0.0, 0.0, 0.0], [0.6, 0.0, 0.4]])]
    # b holds while c leads by less than 0.2 (0.55 - 0.45 = 0.1), c takes over at
    # 0.3; after "no gesture" (nothing scored) the next class is free again
    assert labels == [1, 1, 1, 2, None, 0]
    _, p, _ = ro().update(np.array([0.0, 0.45, 0.55]), 1, 1000)
    assert p.label == 2  # margin 0: the leader


def test_no_gesture_thresholds():
    r = ro(min_confidence=0.6)
    _, p, _ = r.update(np.array([1.0, 1.0, 0.0]), 10, 1000)
    assert p.label is None and p.confidence == 0.5
    r = ro(min_event_rate_hz=20_000.0)  # 20 events per 1 ms window
    _, p, _ = r.update(np.array([1.0, 0.0, 0.0]), 19, 1000)
    assert p.label is None
    _, p, d = r.update(np.array([1.0, 0.0, 0.0]), 20, 2000)
    assert p.label == 0 and d is not None and d.name == "a"
    _, p, d = r.update(np.array([1.0, 0.0, 0.0]), 0, 3000)
    assert p.label is None and d is not None and d.name == NO_GESTURE


def test_reset_on_silence_once_per_silence():
    r = ro(state_policy="reset_on_silence", silence_ms=3.0)
    counts = [5, 0, 0, 0, 0, 0, 3, 0, 0, 0]
    resets = [r.update(np.zeros(3), n, 1000 * (k + 1))[1].reset_state
              for k, n in enumerate(counts)]
    assert resets == [False, False, False, True, False, False, False, False, False, True]


def test_overrides_validated_and_state_round_trip():
    r = Readout(ReadoutSpec(), CLASSES, 1000, tau_ms=5.0)
    assert r.spec.tau_ms == 5.0
    with pytest.raises(ValueError, match="readout.kind"):
        Readout(ReadoutSpec(), CLASSES, 1000, kind="best")
    r.update(np.array([0.0, 3.0, 1.0]), 4, 1000)
    state = r.get_state()
    r2 = Readout(ReadoutSpec(), CLASSES, 1000, tau_ms=5.0)
    r2.set_state(state)
    for k in range(5):
        out = np.array([k % 2, 1.0, 0.0])
        a, b = r.update(out, 2, 2000 + k), r2.update(out, 2, 2000 + k)
        np.testing.assert_array_equal(a[1].probs, b[1].probs)
        assert a[2] == b[2]
