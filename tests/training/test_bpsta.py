"""BPSTA: the neuron's forward is the runtime's, the backward (spatial and temporal
adjustment) against the paper's formulas computed by hand, the voting loss, and a
tiny CLI-free training run."""

from __future__ import annotations

import pytest
import torch

from spikestream.runtime.neurons import rule_neuron
from spikestream.training.bpsta import BpstaFunction
from spikestream.training.rules import get_rule


def _layer(x: list[float], dl_ds: list[float]) -> tuple[list[float], list[float]]:
    r = get_rule("bpsta")
    y = torch.tensor(x, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()
    s = r.neuron_layer(y, r.hidden_neuron())
    (s.flatten() * torch.tensor(dl_ds, dtype=torch.float64)).sum().backward()
    return s.flatten().tolist(), y.grad.flatten().tolist()


def test_forward_is_the_htglif_neuron() -> None:
    assert get_rule("bpsta").hidden_neuron() == rule_neuron("bpsta")
    # v = (0.6, 0.0 + relu(-0.2), 0.5): fires at v >= 0.5, reset, then u *= 0.9
    s, _ = _layer([0.6, -0.2, 0.5], [0, 0, 0])
    assert s == [1.0, 0.0, 1.0]
    s, _ = _layer([0.3, 0.2, 0.0], [0, 0, 0])  # v = (0.3, 0.47, 0.423): never fires
    assert s == [0.0, 0.0, 0.0]


def test_backward_spatial_and_temporal_adjustment_by_hand() -> None:
    # x = (0.6, 0.3, 0.5): v = (0.6, 0.3, 0.27 + 0.5 = 0.77), s = (1, 0, 1)
    # Shen et al.: d[t] = (g[t] + 0.2 d[t+1]) s[t] / v[t] + 0.9 (1 - s[t]) d[t+1]
    g = [1.0, 2.0, 3.0]
    d2 = 3.0 / 0.77
    d1 = 0.9 * d2  # did not fire: no spatial term, the leak carries d2 back
    d0 = (1.0 + 0.2 * d1) / 0.6  # fired: 1/v, with the temporal adjustment 0.2 d1
    _, got = _layer([0.6, 0.3, 0.5], g)
    assert got == pytest.approx([d0, d1, d2])
    # a negative input is cut by the ReLU: no gradient through it
    # x = (0.6, -0.1, 0.5): v = (0.6, 0.0, 0.5), s = (1, 0, 1)
    d2 = 3.0 / 0.5
    d1 = 0.9 * d2
    d0 = (1.0 + 0.2 * d1) / 0.6
    _, got = _layer([0.6, -0.1, 0.5], g)
    assert got == pytest.approx([d0, 0.0, d2])


def test_silent_neurons_move_no_weights() -> None:
    _, got = _layer([0.3, 0.2, 0.0], [1.0, 1.0, 1.0])
    assert got == [0.0, 0.0, 0.0]


def test_tiny_network_weight_gradient_by_hand() -> None:
    # two inputs -> one BPSTA neuron with weights w over T = 2; L = sum_t c[t] s[t]
    r = get_rule("bpsta")
    x = torch.tensor([[1.0, 0.5], [0.2, 1.0]], dtype=torch.float64)  # (T, in)
    w = torch.tensor([0.4, 0.6], dtype=torch.float64, requires_grad=True)
    y = (x @ w).reshape(2, 1, 1)  # I = (0.7, 0.68)
    s = BpstaFunction.apply(y, r.hidden_neuron(), r.beta)
    (s.flatten() * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum().backward()
    # v = (0.7, 0.68): both fire; d1 = 2 / 0.68; d0 = (1 + 0.2 d1) / 0.7
    d1 = 2.0 / 0.68
    d0 = (1.0 + 0.2 * d1) / 0.7
    want = [d0 * 1.0 + d1 * 0.2, d0 * 0.5 + d1 * 1.0]
    assert w.grad.tolist() == pytest.approx(want)


def test_voting_scores_and_mse() -> None:
    r = get_rule("bpsta", votes_per_class="2")
    out = torch.zeros(4, 1, 6)  # 3 classes x 2 votes
    out[:, 0, 2] = 1.0  # class 1: one of its two neurons fires always
    out[:2, 0, 5] = 1.0  # class 2: one neuron half the time
    scores = r.scores(out)
    assert scores[0].tolist() == pytest.approx([0.0, 0.5, 0.25])
    loss = r.loss(out, torch.tensor([1]))
    assert float(loss) == pytest.approx((0.0 + 0.25 + 0.0625) / 3)
    spec = r.readout()
    assert spec.kind == "voting" and spec.votes_per_class == 2
