import json

from spikestream import models
from spikestream.cli import main
from spikestream.runtime import load_model


def test_every_shipped_model_resolves_by_name_and_loads():
    names = models.available()
    assert {"nmnist-stbp", "nmnist-tssl"} <= set(names)
    for name in names:
        path = models.resolve(name)
        assert path.endswith(f"{name}.safetensors")
        spec = load_model(path).spec
        assert spec.n_outputs == len(spec.classes) * spec.readout.votes_per_class


def test_a_path_or_unknown_name_is_left_alone(tmp_path):
    assert models.resolve("no-such-model") == "no-such-model"
    p = tmp_path / "nmnist-stbp"
    p.write_bytes(b"x")
    assert models.resolve(str(p)) == str(p)


def test_run_takes_a_shipped_model_by_name(nmnist_dir, capsys):
    digit = sorted((nmnist_dir / "7").glob("*.bin"))[0]
    assert main(["run", str(digit), "-m", "nmnist-stbp", "--speed", "max", "--jsonl"]) == 0
    lines = [json.loads(s) for s in capsys.readouterr().out.strip().splitlines()]
    assert lines[-1]["windows"] >= 10 and lines[-1]["dropped"] == 0
