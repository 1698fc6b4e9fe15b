"""The gesture card (training/gesture_card.py): the reproduce commands, the members
table and the goals' verdict."""

from __future__ import annotations

from dataclasses import asdict, replace

from spikestream.training.gesture_card import (
    COMMAND,
    ensemble_commands,
    goals_text,
    members_table,
    recalibrate_command,
    reproduce_commands,
)
from spikestream.training.gesture_recipe import Recipe


def _recorded(recipe: Recipe) -> dict:
    """The recipe as the model's provenance records it (tuples as lists, no data)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(recipe).items()
            if k != "data"}


def test_reproduce_commands_name_the_fine_tuning_settings():
    assert reproduce_commands(_recorded(Recipe()), 50) == [COMMAND]
    tuned = _recorded(replace(Recipe(), init_model="x", lr=6e-4, onset_weight=4.0,
                              channels=(16, 32), epochs=24, max_minutes=13.0))
    first, second = reproduce_commands(tuned, 24)
    assert first.endswith("--out base.safetensors")
    assert "--epochs 24 --set init_model=base.safetensors" in second
    for part in ("--set lr=0.0006", "--set onset_weight=4.0", "--set channels=16,32"):
        assert part in second
    assert "max_minutes" not in second and "--set tau_ms" not in second


def test_reproduce_command_of_one_run_names_its_settings():
    big = _recorded(replace(Recipe(), channels=(24, 48), onset_weight=4.0, tau_ms=150.0,
                            max_minutes=22.0))
    (only,) = reproduce_commands(big, 44)
    assert only.startswith("python -m spikestream.training.gesture_recipe --threads 1 "
                           "--epochs 44 --max-minutes 22 ")
    for part in ("--set channels=24,48", "--set onset_weight=4.0", "--set tau_ms=150.0"):
        assert part in only
    assert "init_model" not in only and "max_minutes" not in only
    assert only.endswith("--out models/gesture-synthetic.safetensors")


def test_a_run_stopped_by_its_time_budget_is_reproduced_with_its_schedule():
    from spikestream.training.gesture_card import started_epochs

    p = {"recipe": _recorded(replace(Recipe(), epochs=24)),
         "training": {"epochs": 20, "stopped": "time budget"}}
    assert started_epochs(p) == 24  # the cosine schedule ran over 24 epochs
    assert started_epochs({"training": {"epochs": 20}}) == 20  # older files: completed


def test_reproduce_command_names_the_data_settings():
    more = replace(Recipe(), data=replace(Recipe().data, n_train=96))
    (only,) = reproduce_commands(_recorded(more), 44, more.data.to_dict())
    assert " --set data.n_train=96 " in only and "data.n_test" not in only
    # ... which the recipe's --set reads back
    from spikestream.training.gesture_recipe import override

    got = override(Recipe(), ["data.n_train=96", "data.pause_s=0.5,1.0", "lr=0.001"])
    assert got.data.n_train == 96 and got.data.pause_s == (0.5, 1.0) and got.lr == 0.001
    assert got.data.n_test == Recipe().data.n_test


def test_a_readout_chosen_apart_from_training_names_its_command():
    data = {"config": {"seed": 0}, "n_train_recordings": 92, "n_val_recordings": 4}
    in_recipe = {"seeds": list(range(92, 96))}
    assert recalibrate_command(in_recipe, data) == []
    assert recalibrate_command(None, data) == []
    apart = {"seeds": list(range(196, 212))}
    assert recalibrate_command(apart, data) == [
        "python -m spikestream.training.gesture_streaming "
        "--model models/gesture-synthetic.safetensors --first 196 --count 16"]


def _member(recipe: Recipe, epochs: int, n_train: int) -> dict:
    """A member's provenance as the recipe records it (run to its last epoch)."""
    return {"recipe": _recorded(replace(recipe, epochs=epochs)), "validation_accuracy": 0.9,
            "training": {"epochs": epochs, "best_epoch": epochs - 2, "stopped": "epochs",
                         "batch_size": 32, "seconds": 1000.0, "threads": 1},
            "data": {"config": replace(recipe.data, n_train=n_train + 16).to_dict(),
                     "n_train_recordings": n_train, "n_val_recordings": 16}}


def test_an_ensemble_card_names_each_member_and_the_merge():
    a = _member(replace(Recipe(), channels=(24, 48)), 44, 92)
    b = _member(replace(Recipe(), channels=(24, 48), init_model="x", lr=5e-4, loss="ce"),
                14, 196)
    members = [{"file": "a.safetensors", "provenance": a},
               {"file": "b.safetensors", "provenance": b}]
    cmds = ensemble_commands(members, {"seeds": list(range(196, 212))})
    assert cmds[0].endswith("--set data.n_train=108 --out member1.safetensors")
    assert "--epochs 44" in cmds[0]
    # the fine-tuned member: its base run, then the fine-tuning, each to its own files
    assert cmds[1].endswith("--out member2-base.safetensors")
    assert "--set init_model=member2-base.safetensors" in cmds[2]
    assert cmds[2].endswith("--out member2.safetensors") and "--epochs 14" in cmds[2]
    assert cmds[3] == ("python -m spikestream.training.ensemble member1.safetensors "
                       "member2.safetensors --out models/gesture-synthetic.safetensors")
    assert cmds[4].endswith("--model models/gesture-synthetic.safetensors --first 196 "
                            "--count 16")
    table = members_table(members)
    assert "| member | data | training |" in table
    rows = [row for row in table if row.startswith("| 1: ") or row.startswith("| 2: ")]
    assert len(rows) == 2
    assert "92 training recordings (seeds 0..91)" in rows[0] and "44 epochs" in rows[0]
    assert "196 training recordings (seeds 0..195)" in rows[1]
    assert "fine-tuned from x" in rows[1] and "cross-entropy loss" in rows[1]
    assert "cross-entropy" not in rows[0]
    assert members_table([]) == []


def test_the_goals_verdict_says_when_it_rests_on_the_point_estimate():
    assert goals_text(0.99, 90.0) == ": both goals met"
    assert goals_text(0.99, 90.0, [80.0, 100.0]) == ": both goals met"
    assert goals_text(0.99, 103.0, [90.0, 113.0]) == (
        ": both goals met (the latency by its point estimate; the median's 95 % interval "
        "over recordings, 90 ms to 113 ms, reaches across 105 ms)")
    assert goals_text(0.99, 114.0, [86.0, None]) == (
        ": the accuracy goal is met, the latency goal not yet (the median's 95 % interval "
        "over recordings, 86 ms to not reached, reaches across 105 ms)")
    assert goals_text(0.97, 120.0, [110.0, 130.0]) == ": neither goal is met yet"
    assert goals_text(0.97, None, [None, None]) == ": neither goal is met yet"
    assert goals_text(0.99, 104.9) == ": both goals met"
    assert goals_text(0.99, 105.0) == ": the accuracy goal is met, the latency goal not yet"
