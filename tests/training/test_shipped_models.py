"""The shipped N-MNIST models: package data with a card, under 2 MB, and as accurate
through the runtime's Engine on the recordings their training held out as their
provenance says (goals: best rule >= 97 %, every rule >= 90 %)."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import pytest

from spikestream.runtime.model_file import load_model
from spikestream.training.evaluate import evaluate_file

RULES = ("stbp", "tssl")


@pytest.mark.parametrize("rule", RULES)
def test_model_is_package_data_with_a_card(rule: str) -> None:
    res = files("spikestream.models")
    with as_file(res / f"nmnist-{rule}.safetensors") as path:
        assert path.stat().st_size < 2 * 1024 * 1024
        model = load_model(path)
    card = (res / f"nmnist-{rule}.md").read_text()
    p = model.spec.provenance
    assert model.spec.name == f"nmnist-{rule}" and p["rule"] == rule
    assert p["data"]["source"] == "nmnist-1k" and p["data"]["n_val"] == 199
    assert p["validation_accuracy"] >= 0.90
    assert f"**{100 * p['validation_accuracy']:.1f} %**" in card
    assert f"Rule: **{rule}**" in card and f"--rule {rule}" in card


def test_best_rule_reaches_97_percent() -> None:
    accs = []
    for rule in RULES:
        with as_file(files("spikestream.models") / f"nmnist-{rule}.safetensors") as path:
            accs.append(load_model(path).spec.provenance["validation_accuracy"])
    assert max(accs) >= 0.97


@pytest.mark.parametrize("rule", RULES)
def test_engine_accuracy_on_the_held_out_digits(rule: str, nmnist_dir: Path) -> None:
    with as_file(files("spikestream.models") / f"nmnist-{rule}.safetensors") as path:
        res = evaluate_file(path, nmnist_dir, split="val", backend="torch", batch=50)
        recorded = load_model(path).spec.provenance["validation_accuracy"]
    assert res.n == 199
    assert res.accuracy == pytest.approx(recorded, abs=1 / 199 + 1e-9)
