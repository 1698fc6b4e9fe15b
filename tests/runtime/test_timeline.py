"""Scoring a decision timeline against labelled gestures (runtime/timeline.py)."""

from __future__ import annotations

import pytest

from spikestream.runtime.readout import NO_GESTURE, Decision
from spikestream.runtime.timeline import (
    decision_line,
    render_timeline,
    score_timeline,
    source_labels,
    truth_at,
)
from spikestream.streams.gestures import write_labels
from spikestream.streams.source import LabelledSegment

CLAP = LabelledSegment(0, "hand clap", 1_000_000, 3_000_000)
WAVE = LabelledSegment(1, "right hand wave", 4_000_000, 6_000_000)


def d(t_ms: float, label: int | None) -> Decision:
    """A decision at ``t_ms`` (ms) of class ``label`` (None: no gesture)."""
    names = {0: "hand clap", 1: "right hand wave", 2: "left hand wave", None: NO_GESTURE}
    return Decision(int(t_ms * 1000), label, names[label], 0.9)


def test_correct_at_once_has_the_latency_of_its_first_decision():
    score = score_timeline([d(1_030, 0), d(3_010, None)], [CLAP], stable_ms=500)
    (s,) = score.segments
    assert s.onset_latency_us == 30_000
    assert s.correct and s.majority == 0 and s.final == 0
    assert score.accuracy == 1.0 and score.never_decided == 0
    assert s.correct_fraction == pytest.approx(1970 / 2000)


def test_wrong_then_correct_counts_from_the_correct_decision():
    score = score_timeline([d(1_020, 2), d(1_090, 0)], [CLAP], stable_ms=500)
    (s,) = score.segments
    assert s.onset_latency_us == 90_000
    assert s.correct and s.final == 0
    assert score.summary()["onset_ms"] == {"mean": 90.0, "median": 90.0, "p90": 90.0}


def test_a_flicker_of_the_right_class_is_not_the_onset():
    # right for 40 ms, wrong for 100 ms, then right for good: onset at the second one
    decisions = [d(1_050, 0), d(1_090, 2), d(1_190, 0)]
    stable = score_timeline(decisions, [CLAP], stable_ms=500).segments[0]
    assert stable.onset_latency_us == 190_000
    # with a 30 ms stability span the first 40 ms already count
    quick = score_timeline(decisions, [CLAP], stable_ms=30).segments[0]
    assert quick.onset_latency_us == 50_000


def test_strict_stability_needs_the_decision_to_hold_to_the_segment_end():
    decisions = [d(1_100, 0), d(2_500, 2)]  # right for 1.4 s, then wrong to the end
    assert score_timeline(decisions, [CLAP], 500).segments[0].onset_latency_us == 100_000
    strict = score_timeline(decisions, [CLAP], stable_ms=None).segments[0]
    assert strict.onset_latency_us is None
    assert strict.correct and strict.final == 2  # majority right, final wrong


def test_never_correct_is_never_decided_and_later_than_any_decided_one():
    score = score_timeline([d(1_100, 2), d(4_050, 1)], [CLAP, WAVE], stable_ms=500)
    clap, wave = score.segments
    assert clap.onset_latency_us is None and not clap.correct and clap.majority == 2
    assert wave.onset_latency_us == 50_000 and wave.correct
    assert score.never_decided == 1 and score.accuracy == 0.5
    assert list(score.latencies_ms) == [50.0]
    # one of two gestures never decided: the median is not reached; the mean is the
    # decided one's
    assert score.summary()["onset_ms"] == {"mean": 50.0, "median": None, "p90": None}
    assert "median not reached" in score.render() and "1 never decided" in score.render()


def test_never_decided_segments_slow_the_quantiles_instead_of_dropping_out():
    segs = [LabelledSegment(0, "hand clap", k * 1_000_000, k * 1_000_000 + 800_000)
            for k in range(5)]
    # onsets 10, 20, 30 ms and two never decided (the decision is another class)
    decisions = []
    for k in range(5):
        decisions.append(d(k * 1000 + 10 * (k + 1), 0 if k < 3 else 1))
    score = score_timeline(decisions, segs, stable_ms=500)
    assert score.never_decided == 2
    # over all five, never-decided last: 10, 20, 30, never, never
    assert score.onset_quantile_ms(50) == 30.0  # not 20 ms, the decided ones' median
    assert score.onset_quantile_ms(25) == 20.0
    assert score.onset_quantile_ms(60) is None  # between 30 ms and never
    assert score.summary()["onset_ms"] == {"mean": 20.0, "median": 30.0, "p90": None}
    assert score_timeline([], segs).onset_quantile_ms(50) is None


def test_a_decision_standing_at_the_start_has_zero_latency():
    # the clap decided before the segment starts (e.g. a repeated gesture)
    score = score_timeline([d(900, 0)], [CLAP], stable_ms=500)
    assert score.segments[0].onset_latency_us == 0


def test_a_correct_decision_shortly_before_the_end_counts_when_it_holds_to_the_end():
    (s,) = score_timeline([d(2_800, 0)], [CLAP], stable_ms=500).segments
    assert s.onset_latency_us == 1_800_000 and not s.correct  # majority: no gesture
    assert s.majority is None


def test_no_decisions_at_all():
    score = score_timeline([], [CLAP, WAVE])
    assert score.never_decided == 2 and score.accuracy == 0.0
    assert score.summary()["onset_ms"]["median"] is None
    assert "no segment decided" in score.render()


def test_decisions_out_of_order_are_refused():
    with pytest.raises(ValueError, match="time order"):
        score_timeline([d(2_000, 0), d(1_000, 1)], [CLAP])


def test_summary_statistics_over_several_segments():
    segs = [LabelledSegment(0, "hand clap", k * 1_000_000, k * 1_000_000 + 800_000)
            for k in range(10)]
    decisions = []
    for k in range(10):
        decisions += [d(k * 1000 + 10 * (k + 1), 0), d(k * 1000 + 850, None)]
    s = score_timeline(decisions, segs, stable_ms=500).summary()
    assert s["segments"] == 10 and s["accuracy"] == 1.0
    assert s["onset_ms"]["median"] == 55.0 and s["onset_ms"]["mean"] == 55.0
    assert s["onset_ms"]["p90"] == pytest.approx(91.0)


def test_timeline_lines_mark_right_and_wrong():
    assert truth_at([CLAP, WAVE], 4_500_000) is WAVE and truth_at([CLAP], 3_500_000) is None
    right = decision_line(d(1_500, 0), [CLAP])
    wrong = decision_line(d(1_600, 2), [CLAP])
    pause_ok = decision_line(d(3_500, None), [CLAP])
    assert "hand clap" in right and right.endswith("✓")
    assert wrong.endswith("✗") and "true: hand clap" in wrong
    assert pause_ok.endswith("✓") and "true: -" in pause_ok
    text = render_timeline([d(1_500, 0), d(1_600, 2)], [CLAP], t0_us=500_000)
    assert text.splitlines()[0].lstrip().startswith("1.000 s")


def test_source_labels_from_the_source_or_a_csv_beside_its_file(tmp_path):
    class WithLabels:
        labels = (CLAP,)

    class WithPath:
        labels = ()
        path = tmp_path / "rec.aedat4"

    assert source_labels(WithLabels()) == (CLAP,)
    assert source_labels(WithPath()) == ()
    write_labels(tmp_path / "rec_labels.csv", [CLAP, WAVE])
    assert source_labels(WithPath()) == (CLAP, WAVE)


def test_source_labels_until_the_end_of_the_run():
    class Unbounded:
        labels = ()
        segments_so_far = (CLAP, WAVE)

    assert source_labels(Unbounded()) == (CLAP, WAVE)
    cut = source_labels(Unbounded(), until_us=5_000_000)
    assert cut == (CLAP, LabelledSegment(1, "right hand wave", 4_000_000, 5_000_000))
    assert source_labels(Unbounded(), until_us=2_000_000)[0].t_end_us == 2_000_000
    assert len(source_labels(Unbounded(), until_us=2_000_000)) == 1


@pytest.fixture(scope="module")
def random_model_path(tmp_path_factory):
    from spikestream.runtime.model_file import save_model
    from spikestream.runtime.testing import random_model

    m = random_model("lif", dt_us=10_000)
    return save_model(tmp_path_factory.mktemp("m") / "lif.safetensors", m.spec, m.tensors)


LABELLED = "synthetic://gesture?seed=0&gestures=0,3&gesture_s=1&pause_s=0.2"


def test_run_scores_a_labelled_source(random_model_path, capsys):
    import json

    from spikestream.cli import main

    assert main(["run", LABELLED, "-m", str(random_model_path), "--speed", "max",
                 "--jsonl"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["gestures"] == 2 and 0.0 <= summary["accuracy"] <= 1.0
    assert {"onset_median_ms", "onset_p90_ms", "never_decided"} <= set(summary)
    assert main(["run", LABELLED, "-m", str(random_model_path), "--speed", "max"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "onset latency" in out


def test_run_without_labels_has_no_score(random_model_path, dvs128_files, capsys):
    import json

    from spikestream.cli import main

    assert main(["run", str(dvs128_files[0]), "-m", str(random_model_path), "--speed",
                 "max", "--jsonl"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "accuracy" not in summary and summary["windows"] > 0
