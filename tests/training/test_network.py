"""The training forward equals the runtime's step-by-step reference forward."""

from __future__ import annotations

import pytest
import torch

from spikestream.runtime.functional import init_states, network_step
from spikestream.runtime.spec import InputSpec
from spikestream.training.network import SpikingNet
from spikestream.training.rules import Arch, get_rule

INPUT = InputSpec(sensor_size=(34, 34, 2), downsample=(2, 2))


def _frames(n_steps: int = 6, batch: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n_steps, batch, 2, 17, 17), 0.6), generator=g)


def _reference(net: SpikingNet, x: torch.Tensor) -> tuple[torch.Tensor, list[dict]]:
    """Step the runtime's functional forward T times (Heaviside spikes)."""
    w = {k: v.detach() for k, v in net.weights().items()}
    states = init_states(net.spec, x.shape[1])
    outs, recs = [], []
    for t in range(x.shape[0]):
        rec: dict = {}
        out, states = network_step(net.spec, w, x[t], states, record=rec)
        outs.append(out)
        recs.append(rec)
    return torch.stack(outs), recs


@pytest.mark.parametrize("rule", ["stbp", "tssl"])
def test_forward_equals_stepping_the_runtime_reference(rule: str) -> None:
    r = get_rule(rule)
    spec = r.spec(Arch(channels=(4, 8), kernel=3), INPUT, 5_000, tuple("abcd"))
    net = SpikingNet(spec, r, seed=2)
    x = _frames()
    rec: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        out = net(x, rec)
    ref, ref_recs = _reference(net, x)
    assert out.shape == (6, 3, 4)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    for t, r_t in enumerate(ref_recs):
        for layer in spec.layers:
            torch.testing.assert_close(rec[layer.name][t], r_t[layer.name], rtol=0, atol=0)
    # the network is alive: every spiking layer fires somewhere
    assert all(rec[n].sum() > 0 for n in ("conv1", "conv2"))


@pytest.mark.parametrize("rule", ["stbp", "tssl"])
def test_gradients_reach_every_parameter(rule: str) -> None:
    r = get_rule(rule)
    spec = r.spec(Arch(channels=(4, 8), kernel=3), INPUT, 5_000, tuple("abcd"))
    net = SpikingNet(spec, r, seed=2)
    out = net(_frames())
    r.loss(out, torch.tensor([0, 1, 3])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_weights_names_seed_and_from_model() -> None:
    from spikestream.training.export import to_model

    r = get_rule("stbp")
    spec = r.spec(Arch(channels=(4, 8), kernel=3), INPUT, 5_000, tuple("ab"))
    a, b = SpikingNet(spec, r, seed=1), SpikingNet(spec, r, seed=1)
    assert list(a.weights()) == list(spec.tensor_shapes())
    assert all(torch.equal(a.weights()[k], b.weights()[k]) for k in a.weights())
    c = SpikingNet(spec, r, seed=2)
    assert not torch.equal(a.weights()["conv1.weight"], c.weights()["conv1.weight"])
    d = SpikingNet.from_model(to_model(a), r)
    assert all(torch.equal(a.weights()[k], d.weights()[k]) for k in a.weights())


def test_bad_input_and_missing_tensors_raise() -> None:
    r = get_rule("stbp")
    spec = r.spec(Arch(channels=(4, 8), kernel=3), INPUT, 5_000, tuple("ab"))
    net = SpikingNet(spec, r)
    with pytest.raises(ValueError, match=r"expected \(T, B, 2, 17, 17\)"):
        net(torch.zeros(3, 2, 17, 17))
    with pytest.raises(ValueError, match="conv1.bias: missing"):
        SpikingNet(spec, r, {"conv1.weight": torch.zeros(4, 2, 3, 3)})
