"""Lee et al. 2020's hand-written backward against the paper's formula computed by hand.

The spike-based backward is an approximation (not the gradient of the forward): it
is checked against the public code's rule (spike derivative ``NG / V_th`` at firing
steps with ``NG = 1 + ln(leak) LF/Total``; between spikes the membrane passes the
gradient on unchanged, a spike's reset stops it) evaluated by hand on one neuron
and, on a tiny network, by an independent scalar formulation (each input current
gets the gradient of its neuron's next spike). The readout and the loss are true
gradients and are checked with ``torch.autograd.gradcheck`` in float64.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from spikestream.cli import main
from spikestream.runtime.layers import Conv2dSpec, LinearSpec, Pool2dSpec
from spikestream.runtime.model_file import load_model
from spikestream.runtime.neurons import NeuronParams, rule_neuron
from spikestream.runtime.spec import InputSpec
from spikestream.training.lee import LeeFunction, leak_correction, lee_layer, readout_loss
from spikestream.training.rules import Arch, get_rule

P = NeuronParams(decay=0.5, threshold=1.0, reset="zero", order="decay_last")


def _grad(y: list[float], g: list[float], params: NeuronParams = P,
          pool: bool = False) -> list[float]:
    """dL/dy of one neuron with input currents ``y`` and ``dL/ds = g``."""
    x = torch.tensor(y, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()
    lee_layer(x, params, pool).backward(
        torch.tensor(g, dtype=torch.float64).reshape(-1, 1, 1))
    return x.grad.flatten().tolist()


def test_one_neuron_by_hand() -> None:
    # u = 1.5 fires, reset, *0.5 -> 0; u = 0.2 -> 0.1; u = 0.1 + 1.2 = 1.3 fires; 0.3 no
    # Total = 2, LF = (0.5^3 + 0.5) = 0.625; NG = 1 + ln(0.5) * 0.625 / 2
    y = [1.5, 0.2, 1.2, 0.3]
    x = torch.tensor(y, dtype=torch.float64).reshape(4, 1, 1)
    s, total, lf = LeeFunction.apply(x, P, False)
    assert s.flatten().tolist() == [1.0, 0.0, 1.0, 0.0]
    assert total.item() == 2.0 and lf.item() == pytest.approx(0.625)
    ng = 1.0 + math.log(0.5) * 0.625 / 2
    # dL/dy[3] = 0 (no later spike); [2] fires: 4 NG; [1] carries [2]; [0] fires: 1 NG
    assert _grad(y, [1, 7, 4, 9]) == pytest.approx([ng, 4 * ng, 4 * ng, 0.0], rel=1e-12)
    # threshold 1.4: only the first step fires (1.3 < 1.4): Total 1, LF 0.5^3
    p2 = NeuronParams(decay=0.5, threshold=1.4, reset="zero", order="decay_last")
    ng2 = 1.0 + math.log(0.5) * 0.125
    assert _grad(y, [3, 1, 1, 1], p2) == pytest.approx([3 * ng2 / 1.4, 0, 0, 0], rel=1e-12)


def test_silent_neurons_get_no_gradient_and_pooling_neurons_pass_it() -> None:
    assert _grad([0.3, 0.3, 0.3], [1, 1, 1]) == [0.0, 0.0, 0.0]
    pool = rule_neuron("lee_pool")  # IF, threshold 0.75: fires at 0.5+0.5, 0.5+0.5
    assert _grad([0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4], pool, True) == [2.0, 2.0, 4.0, 4.0]
    total = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    lf = torch.tensor([0.0, 0.5, 1.5], dtype=torch.float64)
    ng = leak_correction(total, lf, 0.9).tolist()
    assert ng == pytest.approx([0.0, 1 + math.log(0.9) * 0.5, 1 + math.log(0.9) * 0.5])


def test_tiny_network_weight_gradients_match_the_paper_by_hand() -> None:
    # 3 inputs -> 2 leaky IF neurons (threshold 0.9) -> 2 readout neurons, T = 5
    rule = get_rule("lee", leak=0.9, threshold=0.9)
    hid, ro = rule.hidden_neuron(), rule.output_neuron()
    n_steps = 5
    x = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1], [0, 0, 1]],
                     dtype=torch.float64).reshape(n_steps, 1, 3)
    w_h = torch.tensor([[0.8, 0.5, 0.3], [0.6, -0.2, 0.9]], dtype=torch.float64,
                       requires_grad=True)
    w_o = torch.tensor([[1.0, -0.5], [0.3, 0.7]], dtype=torch.float64, requires_grad=True)
    s = lee_layer(x @ w_h.T, hid)
    out = rule.neuron_layer(s @ w_o.T, ro)
    target = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    readout_loss(out, target).backward()

    # the forward by hand: neuron 0 gets 1.1, 1.3, 0.8, 1.6, 0.3; neuron 1 gets
    # 1.5, 0.4, 0.7, 1.3, 0.9
    sv = s.detach().reshape(n_steps, 2)
    assert sv.tolist() == [[1, 1], [1, 0], [0, 1], [1, 1], [0, 0]]  # 0.9 is not > 0.9
    u_end = sum(0.9 ** (n_steps - t) * (w_o.detach() @ sv[t]) for t in range(n_steps))
    torch.testing.assert_close(out[-1, 0].detach(), u_end, rtol=1e-12, atol=0)
    err = 2 * (u_end / n_steps - target[0])  # dL/d(u[T]/T)
    # readout weights (true gradient): dL/dW_o = err/T * sum_t 0.9^(T-t+1) s[t]
    filt = sum(0.9 ** (n_steps - t) * sv[t] for t in range(n_steps))
    torch.testing.assert_close(w_o.grad, err[:, None] / n_steps * filt[None, :],
                               rtol=1e-12, atol=0)
    # hidden: g[t] = dL/ds[t] = W_o^T err/T 0.9^(T-t+1); the current at step t gets
    # g[k] NG / V_th with k the neuron's first spike at or after t (none: 0)
    g = [w_o.detach().T @ err / n_steps * 0.9 ** (n_steps - t) for t in range(n_steps)]
    total = sv.sum(0)
    lf = sum(0.9 ** (n_steps - 1 - t) * sv[t] for t in range(n_steps))
    want = torch.zeros(2, 3, dtype=torch.float64)
    for i in range(2):
        ng = (1 + math.log(0.9) * float(lf[i]) / float(total[i])) / 0.9
        for t in range(n_steps):
            k = next((k for k in range(t, n_steps) if sv[k, i] == 1), None)
            if k is not None:
                want[i] += float(g[k][i]) * ng * x[t, 0]
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
    torch.testing.assert_close(out[1], (0.99 * (0.99 * y[0] + y[1])).detach())


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
               "--seed", "2", "--epochs", "8", "--steps", "20", "--dt-ms", "5",
               "--channels", "4,8", "--kernel", "3", "--downsample", "2", "--batch-size", "8",
               "--val-fraction", "0.25", "--lr", "0.01"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch 8/8" in text and f"wrote {out}" in text
    model = load_model(out)
    prov = model.spec.provenance
    assert prov["rule"] == "lee" and model.spec.readout.kind == "membrane"
    assert prov["validation_accuracy"] >= 0.5  # it learns (chance is 1/3)
    # the runtime's Engine on the exported file decides as the training forward did
    assert main(["eval", "--model", str(out), "--data", str(tiny_nmnist), "--split", "val",
                 "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert val["n"] == 9 and abs(val["accuracy"] - prov["validation_accuracy"]) <= 1 / 9 + 1e-9
