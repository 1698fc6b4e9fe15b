"""Merging trained networks into one voting model (training/ensemble.py): the merged
network steps exactly the members' outputs on both backends, and bad members are
refused with the reason."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from spikestream.runtime.engine import Engine
from spikestream.runtime.model_file import Model, load_model, save_model
from spikestream.runtime.testing import random_model
from spikestream.streams.open import open_source
from spikestream.training.ensemble import main, merge_members
from spikestream.training.gesture_report import ClassScores
from spikestream.training.network import SpikingNet
from spikestream.training.rules import get_rule

STREAM = "synthetic://gesture?seed=7&n_gestures=1"


def members(n: int = 2):
    return [random_model("lif", seed=s, dt_us=10_000, n_classes=3) for s in range(n)]


def outputs(model, backend: str) -> np.ndarray:
    engine = Engine(model, backend=backend)
    with open_source(STREAM) as src:
        return np.stack([np.array(r.output) for r in engine.run(src)])


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_the_merged_network_steps_exactly_the_members_outputs(backend):
    ms = members(3)
    merged = merge_members(ms)
    got = outputs(merged, backend)
    each = [outputs(m, backend) for m in ms]
    assert got.shape == (len(each[0]), 9)
    assert sum(float(e.sum()) for e in each) > 0  # the members do fire
    for k, e in enumerate(each):  # member k's votes are outputs k*3 .. k*3+2
        np.testing.assert_array_equal(got[:, 3 * k:3 * k + 3], e)


def test_the_readout_votes_the_members_mean():
    ms = members()
    merged = merge_members(ms, ["a.safetensors", "b.safetensors"])
    r = merged.spec.readout
    assert r.kind == "voting" and r.votes_per_class == 2 and r.vote_order == "vote"
    assert r.tau_ms == ms[0].spec.readout.tau_ms
    ens = merged.spec.provenance["ensemble"]
    assert [e["file"] for e in ens] == ["a.safetensors", "b.safetensors"]
    assert ens[1]["provenance"] == ms[1].spec.provenance
    # the readout's class scores are the mean of each class's member outputs
    engine = Engine(merged, backend="numba")
    with open_source(STREAM) as src:
        for res in engine.run(src):
            np.testing.assert_allclose(res.scores, np.asarray(res.output).reshape(2, 3).mean(0))


def test_the_file_holds_the_members_weights_and_nothing_else(tmp_path):
    ms = members(3)
    merged = merge_members(ms)
    groups = [x.groups for x in merged.spec.layers if x.type in ("conv2d", "linear")]
    assert groups == [1, 3, 3]  # the first layer reads the shared input
    n_weights = sum(t.size for t in merged.tensors.values())
    assert n_weights == 3 * sum(t.size for t in ms[0].tensors.values())
    path = save_model(tmp_path / "ens.safetensors", merged.spec, merged.tensors)
    again = load_model(path)  # groups and the vote order survive the file
    assert again.spec == merged.spec


def test_members_of_other_architectures_are_refused():
    a = random_model("lif", seed=0, dt_us=10_000, n_classes=3)
    wider = random_model("lif", seed=1, dt_us=10_000, n_classes=3, channels=(8, 32))
    with pytest.raises(ValueError, match="b.safetensors: its layers differ"):
        merge_members([a, wider], ["a.safetensors", "b.safetensors"])
    slower = random_model("lif", seed=1, dt_us=20_000, n_classes=3)
    with pytest.raises(ValueError, match="dt_us differs"):
        merge_members([a, slower])
    voting = random_model("bpsta", seed=1, dt_us=10_000, n_classes=3)
    with pytest.raises(ValueError):
        merge_members([a, voting])
    with pytest.raises(ValueError, match="at least two"):
        merge_members([a])
    grouped = random_model("lif", seed=1, dt_us=10_000, n_classes=4, groups=2)
    with pytest.raises(ValueError, match="layer conv2 is grouped"):
        merge_members([grouped, grouped])


def test_command_line(tmp_path, capsys):
    paths = []
    for k, m in enumerate(members()):
        spec = replace(m.spec, provenance={"rule": "lif", "member": k})
        paths.append(str(save_model(tmp_path / f"m{k}.safetensors", spec, m.tensors)))
    out = tmp_path / "ens.safetensors"
    assert main([*paths, "--out", str(out)]) == 0
    assert "2 members voting" in capsys.readouterr().out
    assert load_model(out).spec.provenance["ensemble"][1]["provenance"]["member"] == 1
    other = random_model("lif", seed=2, dt_us=20_000, n_classes=3)
    bad = save_model(tmp_path / "bad.safetensors", other.spec, other.tensors)
    with pytest.raises(SystemExit, match="ensemble: bad.safetensors: its dt_us differs"):
        main([paths[0], str(bad), "--out", str(out)])


def test_the_training_forward_of_the_merged_network_averages_the_members():
    # output weights raised so that the output layer fires on random input
    ms = [Model.build(m.spec, {**m.tensors, "fc.weight": m.tensors["fc.weight"] * 8})
          for m in members()]
    merged = merge_members(ms)
    rule = get_rule("stbp")
    x = (torch.rand(6, 2, 2, 32, 32) < 0.2).float()
    with torch.no_grad():
        got = ClassScores(SpikingNet.from_model(merged, rule))(x)
        each = [SpikingNet.from_model(m, rule)(x) for m in ms]
    assert got.shape == (6, 2, 3) and sum(float(e.sum()) for e in each) > 0
    torch.testing.assert_close(got, (each[0] + each[1]) / 2, rtol=0, atol=1e-6)
