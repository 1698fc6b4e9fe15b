"""Lee et al. 2020's hand-written backward against the paper's formula computed by hand.

The spike-based backward is an approximation (not the gradient of the forward): it
is checked against ``dTotal/dnet = (1/V_th)(1 + ln(leak) LF/Total)`` evaluated by
hand on one neuron and on a tiny two-layer network (the paper's weight gradient
``dL/dnet x summed input spikes``). The readout and the loss are true gradients and
are checked with ``torch.autograd.gradcheck`` in float64.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from spikestream.cli import main
from spikestream.runtime.layers import Conv2dSpec, LinearSpec, Pool2dSpec
from spikestream.runtime.model_file import load_model
from spikestream.runtime.neurons import NeuronParams, rule_neuron
from spikestream.runtime.spec import InputSpec
from spikestream.training.lee import LeeFunction, lee_derivative, lee_layer, readout_loss
from spikestream.training.rules import Arch, get_rule

P = NeuronParams(decay=0.5, threshold=1.0, reset="zero", order="decay_last")


def _grad(y: list[float], g: list[float], params: NeuronParams = P) -> list[float]:
    """dL/dy of one neuron with input currents ``y`` and ``dL/ds = g``."""
    x = torch.tensor(y, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()
    lee_layer(x, params).backward(torch.tensor(g, dtype=torch.float64).reshape(-1, 1, 1))
    return x.grad.flatten().tolist()


def test_one_neuron_by_hand() -> None:
    # u = 1.5 fires, reset, *0.5 -> 0; u = 0.2 -> 0.1; u = 0.1 + 1.2 = 1.3 fires
    # Total = 2, LF = 0.5^2 * 1 + 0 + 1 = 1.25; dTotal/dnet = 1 + ln(0.5) * 1.25 / 2
    x = torch.tensor([1.5, 0.2, 1.2], dtype=torch.float64).reshape(3, 1, 1)
    s, total, lf = LeeFunction.apply(x, P)
    assert s.flatten().tolist() == [1.0, 0.0, 1.0]
    assert total.item() == 2.0 and lf.item() == pytest.approx(1.25)
    d = 1.0 + math.log(0.5) * 1.25 / 2
    # dL/dTotal = mean_t dL/ds[t] = (1 + 0 + 2) / 3 = 1; every step gets dL/dnet
    assert _grad([1.5, 0.2, 1.2], [1, 0, 2]) == pytest.approx([d, d, d], rel=1e-12)
    # threshold 1.4 divides the derivative by 1.4 (and the neuron fires once)
    p2 = NeuronParams(decay=0.5, threshold=1.4, reset="zero", order="decay_last")
    # u: 1.5 fires; 0.2 -> 0.1; 1.3 no -> Total 1, LF 0.25
    d2 = (1.0 + math.log(0.5) * 0.25 / 1) / 1.4
    assert _grad([1.5, 0.2, 1.2], [3, 0, 0], p2) == pytest.approx([d2] * 3, rel=1e-12)


def test_silent_neurons_get_no_gradient_and_if_neurons_one_over_threshold() -> None:
    assert _grad([0.3, 0.3, 0.3], [1, 1, 1]) == [0.0, 0.0, 0.0]
    pool = rule_neuron("lee_pool")  # IF, threshold 0.75: ln(1) = 0, no leak correction
    assert _grad([0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1], pool) == pytest.approx([1 / 0.75] * 4)
    total = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    lf = torch.tensor([0.0, 0.5, 1.5], dtype=torch.float64)
    d = lee_derivative(total, lf, NeuronParams(decay=0.9, threshold=2.0)).tolist()
    assert d == pytest.approx([0.0, (1 + math.log(0.9) * 0.5) / 2, (1 + math.log(0.9) * 0.5) / 2])


def test_tiny_network_weight_gradients_match_the_paper_by_hand() -> None:
    # 3 inputs -> 2 leaky IF neurons -> 2 readout neurons, T = 4, float64
    torch.manual_seed(0)
    rule = get_rule("lee", leak=0.9)
    hid, ro = rule.hidden_neuron(), rule.output_neuron()
    n_steps = 4
    x = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=torch.float64)
    x = x.reshape(n_steps, 1, 3)
    w_h = torch.tensor([[0.8, 0.5, 0.3], [0.6, -0.2, 0.9]], dtype=torch.float64,
                       requires_grad=True)
    w_o = torch.tensor([[1.0, -0.5], [0.3, 0.7]], dtype=torch.float64, requires_grad=True)
    s = lee_layer(x @ w_h.T, hid)
    out = rule.neuron_layer(s @ w_o.T, ro)
    target = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    readout_loss(out, target).backward()

    # the forward by hand
    sv = s.detach().reshape(n_steps, 2)
    assert sv.tolist() == [[1, 1], [1, 0], [0, 1], [1, 1]]  # 1.1, 1.3, 0.72+0.8; 1.5, .4, ...
    u_end = sum(0.9 ** (n_steps - t) * (w_o.detach() @ sv[t]) for t in range(n_steps))
    torch.testing.assert_close(out[-1, 0].detach(), u_end, rtol=1e-12, atol=0)
    err = u_end / n_steps - target[0]  # dL/du[T] / (1/T)
    # readout weights: dL/dW_o = err/T * sum_t 0.9^(T-t+1) s[t]
    filt = sum(0.9 ** (n_steps - t) * sv[t] for t in range(n_steps))
    torch.testing.assert_close(w_o.grad, err[:, None] / n_steps * filt[None, :],
                               rtol=1e-12, atol=0)
    # hidden: dL/ds[t] = W_o^T err/T 0.9^(T-t+1); dL/dTotal = mean_t; times the
    # paper's (1 + ln(leak) LF/Total) / V_th; dL/dW_h = dL/dnet x summed inputs
    ds = [w_o.detach().T @ err / n_steps * 0.9 ** (n_steps - t) for t in range(n_steps)]
    d_total = sum(ds) / n_steps
    lf = sum(0.9 ** (n_steps - 1 - t) * sv[t] for t in range(n_steps))
    total = sv.sum(0)
    d_net = d_total * (1 + math.log(0.9) * lf / total) / 1.0
    want = d_net[:, None] * x.reshape(n_steps, 3).sum(0)[None, :]
    torch.testing.assert_close(w_h.grad, want, rtol=1e-12, atol=0)


def test_readout_and_loss_are_true_gradients() -> None:
    rule = get_rule("lee")
    ro = rule.output_neuron()
    y = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    target = torch.eye(3, dtype=torch.float64)[[0, 2]]
    assert torch.autograd.gradcheck(
        lambda v: readout_loss(rule.neuron_layer(v, ro), target), (y,))
    labels = torch.tensor([0, 2])
    assert torch.autograd.gradcheck(lambda v: rule.loss(v, labels), (y,))
    # the readout integrates with the leak applied after the input: u = 0.99 (u + y)
    out = rule.neuron_layer(y.detach(), ro)
    torch.testing.assert_close(out[1], 0.99 * (0.99 * y[0] + y[1]).detach())


def test_network_of_the_rule() -> None:
    rule = get_rule("lee", leak="0.95")
    spec = rule.spec(Arch(channels=(4, 8), kernel=3), InputSpec(sensor_size=(34, 34, 2)),
                     10_000, tuple("012"))
    conv1, pool1, conv2, pool2, _, fc = spec.layers
    assert isinstance(conv1, Conv2dSpec) and isinstance(conv2, Conv2dSpec)
    assert conv1.neuron == rule_neuron("lee", decay=0.95) and not conv1.bias
    assert isinstance(pool1, Pool2dSpec) and pool1.op == "avg"
    assert pool1.neuron == rule_neuron("lee_pool") == pool2.neuron
    assert isinstance(fc, LinearSpec) and fc.neuron == rule_neuron("lee_readout", decay=0.95)
    assert spec.readout.kind == "membrane"
    assert rule.settings()["rule"] == "lee" and rule.settings()["leak"] == 0.95
    with pytest.raises(ValueError, match="leak must be in"):
        get_rule("lee", leak="1.5")


def test_train_a_tiny_model_through_the_cli(tiny_nmnist: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lee.safetensors"
    rc = main(["train", "--rule", "lee", "--data", str(tiny_nmnist), "--out", str(out),
               "--epochs", "1", "--steps", "6", "--dt-ms", "20", "--channels", "3,6",
               "--kernel", "3", "--downsample", "3", "--batch-size", "8", "--lr", "0.01"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch 1/1" in text and f"wrote {out}" in text
    model = load_model(out)
    assert model.spec.provenance["rule"] == "lee" and model.spec.readout.kind == "membrane"
