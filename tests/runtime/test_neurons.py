"""Golden trajectories of every rule's neuron against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from spikestream.runtime.neurons import (
    RULE_NEURONS,
    NeuronParams,
    heaviside,
    neuron_init,
    neuron_step,
    rule_neuron,
)


def run(params: NeuronParams, inputs: list[float]) -> tuple[list[float], list[float]]:
    """Step one neuron through ``inputs``; return its outputs and membranes."""
    state = neuron_init((1,), params)
    outs, us = [], []
    for x in inputs:
        out, state = neuron_step(torch.tensor([[x]]), state, params)
        outs.append(float(out))
        us.append(float(state.u))
    return outs, us


def close(a: list[float], b: list[float]) -> bool:
    return a == pytest.approx(b, abs=1e-6)


def test_stbp_decay_integrate_fire_reset_folded():
    # u = 0.2 u (1 - o) + x, o = u > 0.5
    outs, us = run(rule_neuron("stbp"), [0.3, 0.3, 0.3, 0.6, 0.0, 0.5])
    assert outs == [0, 0, 0, 1, 0, 0]  # 0.5 exactly does not fire (strict >)
    assert close(us, [0.3, 0.36, 0.372, 0.0, 0.0, 0.5])


def test_tssl_psp_trace_is_the_output():
    # u = (1 - 1/8) u + x, s = u > 1, a = a + (s - a) / 4
    p = rule_neuron("tssl")
    outs, us = run(p, [1.0, 0.5, 0.0, 0.0])
    assert close(us, [1.0, 0.0, 0.0, 0.0])  # 1.0 does not fire; 0.875 + 0.5 does
    assert close(outs, [0.0, 0.25, 0.1875, 0.140625])


def test_bpsta_integrate_fire_ge_reset_then_decay_with_input_relu():
    # u += relu(x); s = u >= 0.5; u = 0 where s; u *= 0.9
    outs, us = run(rule_neuron("bpsta"), [0.5, -1.0, 0.25, 0.25, 0.1])
    assert outs == [1, 0, 0, 0, 1]
    assert close(us, [0.0, 0.0, 0.225, 0.4275, 0.0])


def test_lee_leaky_if_pool_and_readout():
    outs, us = run(rule_neuron("lee"), [0.6, 0.6, 0.6])
    assert outs == [0, 1, 0]
    assert close(us, [0.594, 0.0, 0.594])
    outs, us = run(rule_neuron("lee_pool"), [0.5, 0.5, 0.5, 0.25])
    assert outs == [0, 1, 0, 0]  # 0.75 itself does not fire (threshold is strict)
    assert close(us, [0.5, 0.0, 0.5, 0.75])
    outs, us = run(rule_neuron("lee_readout"), [1.0, 0.0, 2.0])
    assert close(outs, [0.99, 0.9801, 2.950299])  # the decayed membrane is the output
    assert outs == us


def test_relpsp_linear_psp_fires_once():
    # i += x (no decay); u += i (no leak); at most one spike until reset
    outs, us = run(rule_neuron("relpsp"), [0.25, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0])
    assert outs == [0, 0, 0, 1, 0, 0, 0]
    assert close(us, [0.25, 0.5, 0.75, 0.0, 0.75, 1.5, 2.25])


def test_subtractive_lif():
    outs, us = run(rule_neuron("lif"), [2.5, 0.0, 0.0])
    assert outs == [1, 1, 0]
    assert close(us, [1.5, 0.35, 0.315])


def test_reset_none_keeps_membrane():
    outs, us = run(NeuronParams(decay=1.0, threshold=1.0, reset="none"), [2.0, 0.0])
    assert outs == [1, 1] and us == [2.0, 2.0]


@pytest.mark.parametrize("rule", sorted(set(RULE_NEURONS) - {"lee_readout"}))
def test_orders_fire_identically(rule):
    """decay_first and decay_last compare the same membrane with the threshold."""
    torch.manual_seed(0)
    p = RULE_NEURONS[rule]
    q = NeuronParams(**{**p.to_dict(),
                        "order": "decay_last" if p.order == "decay_first" else "decay_first"})
    sp, sq = neuron_init((50,), p, batch=3), neuron_init((50,), q, batch=3)
    for _ in range(60):
        x = torch.rand(3, 50) * 0.8 - 0.1
        op, sp = neuron_step(x, sp, p)
        oq, sq = neuron_step(x, sq, q)
        assert torch.allclose(op, oq, atol=1e-6)


def test_step_never_mutates_inputs_and_keeps_shapes():
    p = rule_neuron("relpsp")
    state = neuron_init((2, 3, 3), p, batch=4)
    x = torch.full((4, 2, 3, 3), 0.7)
    before = [t.clone() for t in state if t is not None]
    x0 = x.clone()
    out, new = neuron_step(x, state, p)
    assert out.shape == (4, 2, 3, 3)
    after = [t for t in state if t is not None]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert torch.equal(x, x0)
    assert new.i is not None and new.fired is not None and new.a is None


def test_init_allocates_only_used_state():
    assert neuron_init((5,), rule_neuron("stbp")).i is None
    s = neuron_init((5,), rule_neuron("tssl"), batch=2, dtype=torch.float64)
    assert s.a is not None and s.a.shape == (2, 5) and s.a.dtype == torch.float64


def test_spike_fn_hook_carries_a_surrogate_gradient():
    class Surrogate(torch.autograd.Function):
        @staticmethod
        def forward(x, ge):
            return heaviside(x, ge)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g / (1 + x.abs()) ** 2, None

    calls = []

    def spike_fn(x, ge):
        calls.append(ge)
        return Surrogate.apply(x, ge)

    p = rule_neuron("bpsta")
    x = torch.tensor([[0.7, 0.2]], requires_grad=True)
    out, _ = neuron_step(x, neuron_init((2,), p), p, spike_fn=spike_fn)
    assert out.tolist() == [[1.0, 0.0]]
    out.sum().backward()
    assert calls == [True]
    assert x.grad is not None and (x.grad > 0).all()


@pytest.mark.parametrize(
    "kwargs, field",
    [({"reset": "soft"}, "reset"), ({"order": "later"}, "order"),
     ({"decay": "0.9"}, "decay"), ({"psp_tau": 0.5}, "psp_tau"),
     ({"spiking": False, "fire_once": True}, "spiking"), ({"fire_ge": 1}, "fire_ge")],
)
def test_bad_params_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^NeuronParams.{field}:"):
        NeuronParams(**kwargs)


def test_from_dict_round_trip_and_unknown_key():
    p = rule_neuron("tssl")
    assert NeuronParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="^leak: unknown neuron field"):
        NeuronParams.from_dict({"leak": 0.9})
    with pytest.raises(ValueError, match="unknown rule neuron 'stdp'; known: stbp"):
        rule_neuron("stdp")
