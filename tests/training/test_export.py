"""Export: the runtime's loader reads back the spec, weights and provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from spikestream.runtime.model_file import load_model
from spikestream.runtime.spec import InputSpec
from spikestream.training.export import export_model, make_provenance, to_model
from spikestream.training.network import SpikingNet
from spikestream.training.rules import Arch, get_rule


def test_export_round_trip_with_provenance(tmp_path: Path) -> None:
    r = get_rule("tssl")
    spec = r.spec(Arch(channels=(3, 5), kernel=3), InputSpec((34, 34, 2), downsample=(2, 2)),
                  10_000, tuple("0123456789"))
    net = SpikingNet(spec, r, seed=4)
    prov = make_provenance(rule=r, data={"source": "tiny", "n_train": 3},
                           training={"epochs": 1, "seconds": 0.5},
                           validation_accuracy=0.75, n_steps=12)
    path = export_model(tmp_path / "sub" / "m.safetensors", net, prov, name="tiny-tssl")
    m = load_model(path)
    assert m.spec.name == "tiny-tssl" and m.spec.layers == spec.layers
    p = m.spec.provenance
    assert p["rule"] == "tssl" and p["n_steps"] == 12 and p["validation_accuracy"] == 0.75
    assert p["rule_settings"]["tau_s"] == 4.0 and "Zhang" in p["paper"]
    assert p["data"]["source"] == "tiny" and p["training"]["epochs"] == 1
    assert json.loads(json.dumps(p)) == p
    for k, v in net.weights().items():
        np.testing.assert_array_equal(m.tensors[k], v.detach().numpy())
    # the in-memory model equals the file's
    mm = to_model(net, prov, "tiny-tssl")
    assert mm.spec == m.spec
    assert path.stat().st_size < 20_000


def test_export_does_not_touch_training_weights(tmp_path: Path) -> None:
    r = get_rule("stbp")
    spec = r.spec(Arch(channels=(3, 5), kernel=3), InputSpec((34, 34, 2), downsample=(2, 2)),
                  10_000, ("a", "b"))
    net = SpikingNet(spec, r)
    before = {k: v.detach().clone() for k, v in net.weights().items()}
    m = to_model(net)
    assert m.spec.provenance == {}
    with torch.no_grad():
        net.weights()["fc.weight"].add_(1.0)
    assert not np.array_equal(m.tensors["fc.weight"], net.weights()["fc.weight"].detach())
    np.testing.assert_array_equal(m.tensors["fc.weight"], before["fc.weight"].numpy())
