"""ReL-PSP: the closed-form spike time and its gradients (gradcheck in float64, and
the paper's formulas by hand on a tiny network), the loss on output times, the
rule's network, and a tiny ``spikestream train --rule relpsp`` run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from spikestream.cli import main
from spikestream.runtime.model_file import load_model
from spikestream.runtime.neurons import rule_neuron
from spikestream.training.relpsp import (
    SpikeTimeFunction,
    crossing_times,
    relpsp_layer,
)
from spikestream.training.rules import get_rule

P = rule_neuron("relpsp")


def output_times(out: torch.Tensor) -> torch.Tensor:
    """``(B, n)`` spike step of each output neuron of ``(T, B, n)`` spikes (``T`` if silent)."""
    n_steps = out.shape[0]
    steps = torch.arange(n_steps, dtype=out.dtype, device=out.device).reshape(-1, 1, 1)
    return (out * steps).sum(0) + n_steps * (1.0 - out.sum(0))


def _col(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()


def test_spike_time_and_weight_gradient_by_hand() -> None:
    # y = (0.3, 0, 0.2, 0.1, 0): u = (0.3, 0.6, 1.1, ...): fires at step n = 2.
    # Inputs at step t' have continuous time t' - 1: w = 0.3 at -1, 0.2 at 1;
    # tau = (theta + sum w t) / sum w = (1 - 0.3 + 0.2) / 0.5 = 1.8
    y = _col([0.3, 0.0, 0.2, 0.1, 0.0])
    s = relpsp_layer(y, P)
    assert s.flatten().tolist() == [0, 0, 1, 0, 0]
    assert float(SpikeTimeFunction.apply(y, P).detach()) == pytest.approx(1.8)
    # a loss equal to the output time: dtau/dy[t'] = (t_i - tau) / sum w for t' <= n
    output_times(s).sum().backward()
    want = [(-1 - 1.8) / 0.5, (0 - 1.8) / 0.5, (1 - 1.8) / 0.5, 0.0, 0.0]
    assert y.grad.flatten().tolist() == pytest.approx(want)


def test_gradcheck_of_the_closed_form() -> None:
    g = torch.Generator().manual_seed(3)
    y = (torch.rand(6, 2, 4, generator=g, dtype=torch.float64) * 0.5).requires_grad_()
    tau = SpikeTimeFunction.apply(y, P)
    assert (tau < 6).all()  # every neuron fires (so the gradient is not trivially 0)
    assert torch.autograd.gradcheck(lambda y: SpikeTimeFunction.apply(y, P), (y,))
    # the layer's backward is the same gradient when the loss is the spike time
    y2 = y.detach().clone().requires_grad_()
    output_times(relpsp_layer(y2, P).reshape(6, 2, 4)).sum().backward()
    y.grad = None
    SpikeTimeFunction.apply(y, P).sum().backward()
    torch.testing.assert_close(y2.grad, y.grad)


def test_silent_neuron_passes_no_gradient() -> None:
    y = _col([0.1, 0.0, 0.0])
    s = relpsp_layer(y, P)
    assert float(s.detach().sum()) == 0.0 and float(output_times(s.detach())) == 3.0
    output_times(s).sum().backward()
    assert y.grad.abs().sum() == 0.0  # the paper: no spike, no gradient
    # silent_push: a loss that wants it earlier raises its inputs, earlier ones more
    # (dL/dy[t'] = -push * dL/dtau * (T - t') / (T * theta), dL/dtau = 1 here)
    y.grad = None
    output_times(relpsp_layer(y, P, 0.5)).sum().backward()
    assert y.grad.flatten().tolist() == pytest.approx([-0.5 * k / 3 for k in (3, 2, 1)])
    # ... but never pushes one that the loss wants later
    y.grad = None
    (-output_times(relpsp_layer(y, P, 0.5))).sum().backward()
    assert y.grad.abs().sum() == 0.0


def test_two_layers_against_the_paper_by_hand() -> None:
    # inputs: x0 fires at step 0, x1 at step 1 (continuous times -1 and 0)
    x = torch.zeros(6, 1, 2, dtype=torch.float64)
    x[0, 0, 0] = x[1, 0, 1] = 1.0
    w1 = torch.tensor([[0.6, 0.5], [0.4, 0.9]], dtype=torch.float64, requires_grad=True)
    w2 = torch.tensor([[0.35, 0.2]], dtype=torch.float64, requires_grad=True)
    h = relpsp_layer(x @ w1.T, P)
    o = relpsp_layer(h @ w2.T, P)
    # hidden: u[1] = 2 w0 + w1 = 1.7 > 1: both fire at step 1 (time 0 for the layer above)
    assert h[:, 0].argmax(0).tolist() == [1, 1]
    tau_h = [1 - 0.7 / 1.1, 1 - 0.7 / 1.3]  # tau = n - (u[n] - theta) / i[n]
    # output: u = (0, 0.55, 1.1): fires at step 2, tau = (1 + 0.55 * 0) / 0.55
    assert o[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 0]
    tau_o = 1 / 0.55
    output_times(o).sum().backward()
    # dtau/dw_i = (t_i - tau) / sum w, dtau/dt_i = w_i / sum w
    assert w2.grad.flatten().tolist() == pytest.approx([(0 - tau_o) / 0.55] * 2)
    dt_h = [0.35 / 0.55, 0.2 / 0.55]
    sums = [1.1, 1.3]
    want = [[dt_h[k] * (t_i - tau_h[k]) / sums[k] for t_i in (-1.0, 0.0)] for k in (0, 1)]
    assert w1.grad.tolist() == [pytest.approx(r) for r in want]


def _membranes(y: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """The output layer's ``(T, B, n)`` membranes for its inputs ``y``."""
    r = get_rule("relpsp", threshold=str(threshold))
    return r.neuron_layer(y, r.output_neuron())


def test_crossing_times_are_the_spike_times_with_the_paper_gradient() -> None:
    g = torch.Generator().manual_seed(5)
    y = torch.rand(6, 3, 4, generator=g, dtype=torch.float64) * 0.45
    y[:, :, 3] *= 0.1  # the last neurons stay silent
    y.requires_grad_()
    tau = crossing_times(_membranes(y), 1.0)
    want = SpikeTimeFunction.apply(y, P)
    assert (want < 6).sum() == 9 and (want == 6).sum() == 3  # fired and silent neurons
    torch.testing.assert_close(tau, want)
    (tau * torch.arange(12.0, dtype=torch.float64).reshape(3, 4)).sum().backward()
    got, y.grad = y.grad, None
    (want * torch.arange(12.0, dtype=torch.float64).reshape(3, 4)).sum().backward()
    torch.testing.assert_close(got, y.grad)
    assert torch.autograd.gradcheck(lambda y: crossing_times(_membranes(y), 1.0), (y,))


def test_silent_output_push_only_where_the_loss_wants_it_earlier() -> None:
    y = _col([0.1, 0.0, 0.0])  # u = 0.1, 0.2, 0.3: never crosses 1
    tau = crossing_times(_membranes(y), 1.0, silent_push=0.5)
    assert float(tau.detach()) == 3.0
    tau.sum().backward()  # dL/dtau = 1: dL/dy[t'] = -0.5 (T - t') / (T theta)
    assert y.grad.flatten().tolist() == pytest.approx([-0.5 * k / 3 for k in (3, 2, 1)])
    y.grad = None
    (-crossing_times(_membranes(y), 1.0, silent_push=0.5)).sum().backward()
    assert y.grad.abs().sum() == 0.0


def test_loss_and_scores_on_the_continuous_first_crossing() -> None:
    # sample 0: neurons 0 and 1 both cross at step 1, neuron 1 earlier inside it
    #   (0.2 -> 1.2: tau = 1 - 0.2 / 1.0 = 0.8; 0.6 -> 1.4: tau = 1 - 0.4 / 0.8 = 0.5);
    #   neuron 2 never crosses (tau = T = 3)
    # sample 1: neuron 2 crosses at step 0 (u = 2: tau = 0 - 1 / 2)
    u = torch.zeros(3, 2, 3)
    u[:, 0, 0] = torch.tensor([0.2, 1.2, 2.2])
    u[:, 0, 1] = torch.tensor([0.6, 1.4, 2.2])
    u[:, 0, 2] = torch.tensor([0.1, 0.2, 0.3])
    u[:, 1, 2] = torch.tensor([2.0, 4.0, 6.0])
    r = get_rule("relpsp", time_scale="2", silent_push="0")
    t = torch.tensor([[0.8, 0.5, 3.0], [3.0, 3.0, -0.5]])
    torch.testing.assert_close(r.times(u), t)
    assert r.scores(u).argmax(1).tolist() == [1, 2]
    labels = torch.tensor([0, 2])
    assert float(r.loss(u, labels)) == pytest.approx(float(F.cross_entropy(-t / 2, labels)))
    # the runtime's readout decides the same from the same membranes
    from spikestream.runtime.readout import Readout

    for b, want in enumerate([1, 2]):
        ro = Readout(r.readout(), ("a", "b", "c"), 10_000, r.output_neuron(), tau_ms=0)
        scores = sum(ro.update(u[k, b].numpy(), 1, 10_000 * (k + 1))[0] for k in range(3))
        assert int(scores.argmax()) == want


def test_rule_network_and_settings() -> None:
    from spikestream.runtime.spec import InputSpec
    from spikestream.training.rules import Arch

    r = get_rule("relpsp", threshold="1.5")
    spec = r.spec(Arch(channels=(2, 3), kernel=3), InputSpec((34, 34, 2), downsample=(2, 2)),
                  10_000, ("a", "b"))
    assert spec.readout.kind == "first_spike"
    neurons = [layer.neuron for layer in spec.layers if layer.neuron is not None]
    assert len(neurons) == 3
    assert all(n == rule_neuron("relpsp", threshold=1.5) for n in neurons[:2])
    # the output neurons integrate; the readout times their threshold crossings
    assert neurons[2] == rule_neuron("relpsp_readout", threshold=1.5)
    assert not neurons[2].spiking
    with pytest.raises(ValueError, match="threshold"):
        get_rule("relpsp", threshold="0")
    assert spec.readout.state_policy == "continuous"
    windowed = get_rule("relpsp", window_steps="16").readout()
    assert windowed.state_policy == "reset_every" and windowed.reset_every_steps == 16


def test_spike_at_step_zero() -> None:
    # u[0] = 1.5 > 1: n = 0, tau = 0 - 0.5 / 1.5; the input's time is -1:
    # dtau/dy[0] = (-1 - tau) / 1.5 (the slope is read as g[1] - g[0])
    y = _col([1.5, 0.0, 0.0])
    s = relpsp_layer(y, P)
    assert s.detach().flatten().tolist() == [1, 0, 0]
    tau = -0.5 / 1.5
    assert float(SpikeTimeFunction.apply(y, P).detach()) == pytest.approx(tau)
    output_times(s).sum().backward()
    assert y.grad.flatten().tolist() == pytest.approx([(-1 - tau) / 1.5, 0.0, 0.0])


def test_train_a_tiny_model_through_the_cli(tiny_nmnist: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.safetensors"
    rc = main(["train", "--rule", "relpsp", "--data", str(tiny_nmnist), "--out", str(out),
               "--epochs", "5", "--steps", "6", "--dt-ms", "20", "--channels", "3,6",
               "--kernel", "3", "--downsample", "3", "--batch-size", "8",
               "--val-fraction", "0.25", "--lr", "0.02", "--seed", "1"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch 5/5" in text and f"wrote {out}" in text
    model = load_model(out)
    assert model.spec.provenance["rule"] == "relpsp"
    assert model.spec.readout.kind == "first_spike"
    card = out.with_suffix(".md").read_text()
    assert "fc 54->10 + non-spiking integrator (decay 1, synaptic decay 1)" in card
    assert "first_spike: the class whose output membrane first crosses the threshold 1" in card
    acc = model.spec.provenance["validation_accuracy"]
    assert acc >= 0.75  # it learns (chance 1/3; 100% here, 67% without silent_push)
    # the runtime's first_spike readout on the exported file decides as training did
    assert main(["eval", "--model", str(out), "--data", str(tiny_nmnist), "--split", "val",
                 "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert val["n"] == 9 and val["accuracy"] == pytest.approx(acc)
