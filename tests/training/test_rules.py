"""The rule registry: names, settings from strings, the networks each rule builds."""

from __future__ import annotations

import json

import pytest
import torch

from spikestream.runtime.layers import Conv2dSpec, LinearSpec, Pool2dSpec
from spikestream.runtime.spec import InputSpec
from spikestream.training.rules import Arch, get_rule, rule_class, rule_names

INPUT = InputSpec(sensor_size=(34, 34, 2))
CLASSES = tuple("0123456789")


def test_registry_names_and_errors() -> None:
    assert {"stbp", "tssl"} <= set(rule_names())
    with pytest.raises(ValueError, match=r"unknown rule 'slayer'; valid: stbp, tssl"):
        get_rule("slayer")
    with pytest.raises(ValueError, match="unknown setting 'tau'; valid: .*decay"):
        get_rule("stbp", tau="3")
    with pytest.raises(ValueError, match="unknown surrogate 'erf'; valid: rectangular"):
        get_rule("stbp", surrogate="erf")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_rule("stbp", loss_name="hinge")
    with pytest.raises(ValueError, match="lr='fast' is not a float"):
        get_rule("tssl", lr="fast")


def test_settings_from_command_line_strings() -> None:
    r = get_rule("stbp", surrogate="gaussian", surrogate_a="0.5", lr="0.01", loss_name="ce")
    assert (r.surrogate, r.surrogate_a, r.lr, r.loss_name) == ("gaussian", 0.5, 0.01, "ce")
    s = r.settings()
    assert s["rule"] == "stbp" and s["surrogate"] == "gaussian"
    assert json.loads(json.dumps(s)) == s
    assert rule_class("tssl") is type(get_rule("tssl", tau_m=4.0))


def test_stbp_network_is_the_public_codes() -> None:
    r = get_rule("stbp")
    spec = r.spec(Arch(channels=(12, 32)), INPUT, 20_000, CLASSES, "x")
    conv1, pool1, conv2, pool2, _, fc = spec.layers
    assert isinstance(conv1, Conv2dSpec) and conv1.bias and conv2.bias
    n = conv1.neuron
    assert (n.decay, n.threshold, n.reset, n.order, n.fire_ge) == (
        0.2, 0.5, "zero", "decay_first", False)
    assert isinstance(pool1, Pool2dSpec) and pool1.op == "avg" and pool1.weight == 0.25
    assert pool1.neuron is None and pool2.neuron is None
    assert isinstance(fc, LinearSpec) and fc.out_features == 10 and fc.neuron == n
    assert spec.shapes()[-1] == (10,) and spec.readout.kind == "count"


def test_tssl_network_carries_the_input_psp_and_sum_pooling() -> None:
    r = get_rule("tssl")
    spec = r.spec(Arch(), INPUT, 10_000, CLASSES)
    conv1, pool1, conv2, _, _, fc = spec.layers
    assert conv1.neuron.syn_decay == 0.75 and conv1.neuron.psp_tau == 4.0
    assert conv2.neuron.syn_decay is None and conv2.neuron.psp_tau == 4.0
    assert conv2.neuron.decay == 1 - 1 / 8 and conv2.neuron.threshold == 1.0
    assert pool1.weight == pytest.approx(1.1) and pool1.neuron is None
    assert not conv1.bias and not fc.bias
    assert spec.shapes()[:4] == [(12, 32, 32), (12, 16, 16), (64, 14, 14), (64, 7, 7)]


def test_initial_weights_are_seeded_and_scaled() -> None:
    r = get_rule("stbp", init_gain="1.0")
    spec = r.spec(Arch(channels=(4, 8)), INPUT, 1000, CLASSES)
    a = r.init_tensors(spec, torch.Generator().manual_seed(1))
    b = r.init_tensors(spec, torch.Generator().manual_seed(1))
    assert a.keys() == spec.tensor_shapes().keys()
    for k in a:
        assert torch.equal(a[k], b[k]) and tuple(a[k].shape) == spec.tensor_shapes()[k]
    bound = 1 / (2 * 5 * 5) ** 0.5
    assert a["conv1.weight"].abs().max() <= bound and a["conv1.bias"].abs().max() <= bound
