"""``spikestream train`` and ``spikestream eval`` end to end on a tiny folder (CI's
train-a-tiny-model test): train through the CLI, export, evaluate the exported file
through the runtime's Engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikestream.cli import main
from spikestream.runtime.model_file import load_model

TINY = ["--epochs", "4", "--steps", "6", "--dt-ms", "20", "--channels", "3,6",
        "--kernel", "3", "--downsample", "3", "--batch-size", "8", "--val-fraction", "0.25"]


@pytest.mark.parametrize("rule,settings", [("stbp", ["--set", "loss_name=ce", "--lr", "0.01"]),
                                           ("tssl", ["--lr", "0.02"])])
def test_train_then_eval_a_tiny_model(tiny_nmnist: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], rule: str,
                                      settings: list[str]) -> None:
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--rule", rule, "--data", str(tiny_nmnist), "--out", str(out),
               "--seed", "2", *TINY, *settings])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch 4/4" in text and "best: epoch" in text and f"wrote {out}" in text
    assert (tmp_path / "m.ckpt").is_file()
    card = (tmp_path / "m.md").read_text()
    assert f"Rule: **{rule}**" in card and "| T, dt | 6 steps of 20 ms" in card
    assert "validation accuracy" in card and "`conv1` | conv 2->3 3x3" in card
    assert f"spikestream train \\\n    --rule {rule}" in card
    model = load_model(out)
    prov = model.spec.provenance
    assert prov["rule"] == rule and prov["n_steps"] == 6 and model.spec.dt_us == 20_000
    # 12 per class: 2 test (0.2, by --split-seed 0), 3 validation (0.25), 7 training
    assert prov["data"]["n_train"] == 21 and prov["data"]["n_val"] == 9
    assert prov["data"]["n_test"] == 6 and prov["data"]["test_fraction"] == 0.2
    assert prov["data"]["split_seed"] == 0 and prov["data"]["format"] == "nmnist"
    assert f"**{100 * prov['test_accuracy']:.1f} %** on 6 test samples" in card
    assert "21 train / 9 val / 6 test" in card and "--split test" in card
    assert prov["training"]["epochs"] == 4 and prov["validation_accuracy"] >= 0.5

    assert main(["eval", "--model", str(out), "--data", str(tiny_nmnist), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 36 and len(res["confusion"]) == 10
    assert sum(map(sum, res["confusion"])) == 36 and res["accuracy"] > 0.5
    # the exported file, run by the runtime's Engine on the held-out part, decides as
    # the training forward did (one borderline sample of slack for float sums)
    assert main(["eval", "--model", str(out), "--data", str(tiny_nmnist), "--split", "val",
                 "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert val["n"] == 9
    assert abs(val["accuracy"] - prov["validation_accuracy"]) <= 1 / 9 + 1e-9

    # the test part, never seen, measured at the end of training through the Engine
    assert main(["eval", "--model", str(out), "--data", str(tiny_nmnist), "--split", "test",
                 "--json"]) == 0
    test = json.loads(capsys.readouterr().out)
    assert test["n"] == 6 and test["accuracy"] == prov["test_accuracy"]

    png = tmp_path / "confusion.png"
    assert main(["eval", "--model", str(out), "--data", str(tiny_nmnist), "--limit", "6",
                 "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "of 6" in text and len(text.splitlines()) == 12
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_through_the_cli(tiny_nmnist: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "r.safetensors")
    args = ["train", "--rule", "stbp", "--data", str(tiny_nmnist), "--out", out, *TINY]
    assert main([*args, "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main([*args, "--resume", "--epochs", "3", "--name", "renamed"]) == 0
    text = capsys.readouterr().out
    assert "resumed after epoch 2" in text and "epoch 3/3" in text
    assert load_model(out).spec.name == "renamed"  # a name is a label, not the network
    rc = main([*args, "--resume", "--epochs", "4", "--channels", "3,4"])
    assert rc == 2 and "another network" in capsys.readouterr().err


def test_cli_errors(tiny_nmnist: Path, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--rule", "nope", "--data", str(tiny_nmnist)])
    assert "invalid choice" in capsys.readouterr().err
    rc = main(["train", "--rule", "stbp", "--data", str(tiny_nmnist), "--set", "surrogate=erf"])
    assert rc == 2 and "unknown surrogate 'erf'" in capsys.readouterr().err
    rc = main(["train", "--rule", "stbp", "--data", str(tmp_path)])
    assert rc == 2 and "empty folder" in capsys.readouterr().err
    rc = main(["train", "--rule", "stbp", "--data", str(tiny_nmnist), "--val-fraction", "0.5",
               "--test-fraction", "0.5"])
    assert rc == 2 and "below 1" in capsys.readouterr().err
    rc = main(["eval", "--model", str(tmp_path / "none.safetensors"), "--data",
               str(tiny_nmnist)])
    assert rc == 2 and "no such model file" in capsys.readouterr().err
    # a model trained without a test part has no test split
    no_test = str(tmp_path / "no_test.safetensors")
    assert main(["train", "--rule", "stbp", "--data", str(tiny_nmnist), "--out", no_test,
                 *TINY, "--epochs", "1", "--test-fraction", "0"]) == 0
    capsys.readouterr()
    rc = main(["eval", "--model", no_test, "--data", str(tiny_nmnist), "--split", "test"])
    assert rc == 2 and "held out no test part" in capsys.readouterr().err


def test_event_augmentations_through_the_cli(tiny_nmnist: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.safetensors"
    args = ["train", "--rule", "stbp", "--data", str(tiny_nmnist), "--out", str(out),
            "--threads", "1", *TINY, "--epochs", "1"]
    assert main([*args, "--drop-events", "0.1", "--time-jitter-us", "2000"]) == 0
    text = capsys.readouterr().out
    # not a terminal: epoch lines only, no progress bar
    assert "\r" not in text and "epoch 1/1  loss" in text and "best: epoch 1" in text
    prov = load_model(out).spec.provenance
    assert prov["data"]["drop_events"] == 0.1 and prov["data"]["time_jitter_us"] == 2000
    assert prov["training"]["processes"] == 1
    card = (tmp_path / "a.md").read_text()
    assert "--drop-events 0.1" in card and "--time-jitter-us 2000" in card
    assert main([*args, "--drop-events", "1.5"]) == 2
    assert "drop probability must be in [0, 1)" in capsys.readouterr().err
