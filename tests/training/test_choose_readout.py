"""The gesture readout's calibration choice (training/gesture_streaming.py:
choose_readout): fastest onset among the settings that are accurate and whose
decisions stand to the gestures' ends."""

from __future__ import annotations

import pytest

from spikestream.runtime.timeline import SegmentScore, TimelineScore
from spikestream.streams.source import LabelledSegment
from spikestream.streams.synthetic.recording import TEST_SEED_OFFSET
from spikestream.training import gesture_streaming
from spikestream.training.gesture_card import calibrate_command, recordings_text
from spikestream.training.gesture_streaming import (
    ReadoutTrial,
    choose_readout,
    main,
    seed_ranges,
    validation_recordings,
)
from spikestream.training.synthetic_gestures import SyntheticGestureConfig, recordings_dir


def trial(name: str, latencies_ms: list[float | None], wrong: int = 0,
          right_at_end: int | None = None, changes: int = 0) -> ReadoutTrial:
    """A trial over ``len(latencies_ms)`` gestures of class 0: the first ``wrong`` of
    them decided wrong by majority, ``None`` latencies never decided, the first
    ``right_at_end`` (default all) decided right at their end."""
    n = len(latencies_ms)
    right_at_end = n if right_at_end is None else right_at_end
    segs = tuple(
        SegmentScore(LabelledSegment(0, "a", 0, 4_000_000), 1 if i < wrong else 0,
                     0 if i < right_at_end else None,
                     None if lat is None else int(lat * 1000), 0.5)
        for i, lat in enumerate(latencies_ms))
    return ReadoutTrial({"name": name}, TimelineScore(segs, 500.0), changes)


def test_fastest_among_the_accurate_ones():
    fast_but_wrong = trial("fast", [50.0] * 10, wrong=2)
    slow = trial("slow", [200.0] * 10)
    medium = trial("medium", [120.0] * 10)
    assert choose_readout([fast_but_wrong, slow, medium]).settings["name"] == "medium"


def test_never_decided_gestures_count_as_not_right():
    never = trial("never", [50.0] * 9 + [None])
    slow = trial("slow", [150.0] * 10)
    assert never.right == pytest.approx(0.9)
    assert choose_readout([never, slow]).settings["name"] == "slow"


def test_when_none_reaches_the_floor_the_best_share_less_the_slack_is_admissible():
    # 100 gestures: 95 and 93 right are within 2 % of the best; 90 is not
    a = trial("a", [300.0] * 100, wrong=5)
    b = trial("b", [100.0] * 100, wrong=7)
    c = trial("c", [50.0] * 100, wrong=10)
    assert choose_readout([a, b, c]).settings["name"] == "b"
    assert choose_readout([a, b, c], slack=0.0).settings["name"] == "a"


def test_decisions_must_stand_to_the_gestures_ends():
    gone = trial("gone", [60.0] * 10, right_at_end=3)  # falls back to "no gesture"
    held = trial("held", [90.0] * 10, right_at_end=9)
    assert choose_readout([gone, held]).settings["name"] == "held"
    # when no accurate trial holds its decisions, the condition is dropped
    assert choose_readout([gone, trial("slow", [90.0] * 10, right_at_end=3)]
                          ).settings["name"] == "gone"


def test_ties_go_to_the_fewest_decision_changes():
    flicker = trial("flicker", [100.0] * 10, changes=50)
    steady = trial("steady", [100.0] * 10, changes=20)
    assert choose_readout([flicker, steady]).settings["name"] == "steady"


def test_no_trials_is_an_error():
    with pytest.raises(ValueError, match="no readout settings"):
        choose_readout([])


def test_the_calibration_command_names_a_missing_model_file(tmp_path):
    with pytest.raises(SystemExit, match="nope.safetensors: no such model file"):
        main(["--model", str(tmp_path / "nope.safetensors"), "--first", "0"])


def test_validation_recordings_need_a_range():
    with pytest.raises(ValueError, match="count >= 1"):
        validation_recordings(5, 0)
    with pytest.raises(ValueError, match="the test seeds start there"):
        validation_recordings(TEST_SEED_OFFSET - 1, 2)
    # the data's first seed counts: these would be test seeds
    with pytest.raises(ValueError, match=r"from seed 10\): training-split seeds end"):
        validation_recordings(TEST_SEED_OFFSET - 10, 1, SyntheticGestureConfig(seed=10))


TINY = SyntheticGestureConfig(n_gestures=1, gesture_s=(1.0, 1.0), pause_s=(0.1, 0.1),
                              sensor_size=(32, 32, 2), seed=3)


def test_validation_recordings_render_only_their_range(tmp_path, monkeypatch):
    # a range far into the training split renders its own recordings, not those before it
    monkeypatch.setenv("SPIKESTREAM_CACHE", str(tmp_path))
    got = validation_recordings(500, 2, TINY)
    assert [w.seed for w in got] == [503, 504]
    assert [w.events_path.stem for w in got] == ["synth_0000503", "synth_0000504"]
    assert len(list(recordings_dir().iterdir())) == 2
    # the same recordings as a dataset from the split's start would hold
    again = validation_recordings(501, 1, TINY)
    assert again[0].events_path == got[1].events_path


def test_seed_ranges_group_consecutive_seeds():
    assert seed_ranges([196, 197, 198, 2000, 2001, 5]) == [(196, 3), (2000, 2), (5, 1)]
    assert seed_ranges([]) == []


def test_pooled_validation_ranges_are_named_in_the_command_and_the_card():
    seeds = [*range(196, 212), *range(2000, 2032)]
    assert calibrate_command(seeds).endswith("--first 196 2000 --count 16 32")
    assert recordings_text(seeds) == ("synth_0000196..synth_0000211 and "
                                      "synth_0002000..synth_0002031")
    assert recordings_text([7]) == "synth_0000007"


def test_the_calibration_command_pools_its_ranges(tmp_path, monkeypatch):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"")
    asked, pooled = [], []
    monkeypatch.setattr(gesture_streaming, "validation_recordings",
                        lambda f, c: asked.append((f, c)) or [f"{f}+{i}" for i in range(c)])
    monkeypatch.setattr(gesture_streaming, "calibrate_readout",
                        lambda m, recs: pooled.extend(recs) or {})
    main(["--model", str(model), "--first", "196", "2000", "--count", "2", "3"])
    assert asked == [(196, 2), (2000, 3)]
    assert pooled == ["196+0", "196+1", "2000+0", "2000+1", "2000+2"]
    asked.clear()
    main(["--model", str(model), "--first", "1", "9", "--count", "4"])
    assert asked == [(1, 4), (9, 4)]
    with pytest.raises(SystemExit):
        main(["--model", str(model), "--first", "1", "9", "--count", "4", "5", "6"])


def test_dropping_gestures_does_not_make_a_readout_look_faster():
    # the decided gestures' median would be 50 ms; over all of them it is 100 ms
    assert trial("t", [50.0, 50.0, 100.0, None, None]).median_ms == 100.0
    assert trial("t", [50.0, None, None]).median_ms == float("inf")
    # both right enough (9 of 10 decided), but the one that never decides its slow
    # gestures is not the faster one
    drops = trial("drops", [60.0] * 5 + [400.0] * 4 + [None])
    keeps = trial("keeps", [60.0] * 5 + [100.0] * 5)
    assert drops.right == 0.9 and keeps.right == 1.0
    assert choose_readout([drops, keeps], min_accuracy=0.9).settings["name"] == "keeps"
