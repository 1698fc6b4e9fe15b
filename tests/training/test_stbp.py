"""STBP: the gradient through time and the reset term against the paper's BPTT
equations computed by hand, and its two losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikestream.training.rules import get_rule


def _layer_grad(x: list[float], dl_do: list[float], **settings: str) -> list[float]:
    r = get_rule("stbp", **settings)
    y = torch.tensor(x, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()
    o = r.neuron_layer(y, r.hidden_neuron())
    (o.flatten() * torch.tensor(dl_do, dtype=torch.float64)).sum().backward()
    return y.grad.flatten().tolist()


def test_bptt_through_time_and_reset_by_hand() -> None:
    # u[t] = 0.2 u[t-1] (1 - o[t-1]) + x[t], o = 1[u > 0.5], rectangular h = 1[|u - 0.5| < 0.5]
    # x = (0.6, 0.3, 0.5): u = (0.6, 0.3, 0.56), o = (1, 0, 1), h = (1, 1, 1)
    # Wu et al. 2018: dL/du[t] = h[t] (dL/do[t] + dL/du[t+1] * (-0.2 u[t]))
    #                            + dL/du[t+1] * 0.2 (1 - o[t])
    # with dL/do = (1, 2, 3): du3 = 3; du2 = (2 - 3 * 0.06) + 3 * 0.2 = 2.42;
    # du1 = (1 - 2.42 * 0.12) + 0 = 0.7096; and dL/dx[t] = dL/du[t]
    assert _layer_grad([0.6, 0.3, 0.5], [1, 2, 3]) == pytest.approx([0.7096, 2.42, 3.0])


def test_bptt_with_a_smooth_surrogate_by_hand() -> None:
    # gaussian a = 0.25: h(v) = exp(-v^2 / 0.5) / sqrt(0.5 pi), v = u - 0.5
    import math

    def h(u: float) -> float:
        return math.exp(-((u - 0.5) ** 2) / 0.5) / math.sqrt(0.5 * math.pi)

    x = [0.7, 0.1]  # u = (0.7, 0.1): o = (1, 0); the reset blocks the leak
    du2 = 1.0 * h(0.1)
    du1 = h(0.7) * (0.0 + du2 * (-0.2 * 0.7)) + du2 * 0.2 * 0.0
    got = _layer_grad(x, [0, 1], surrogate="gaussian", surrogate_a="0.25")
    assert got == pytest.approx([du1, du2])
    x = [0.3, 0.1]  # u = (0.3, 0.16): no spike, the leak carries the gradient back
    du2 = h(0.16)
    du1 = h(0.3) * (du2 * (-0.2 * 0.3)) + du2 * 0.2
    got = _layer_grad(x, [0, 1], surrogate="gaussian", surrogate_a="0.25")
    assert got == pytest.approx([du1, du2])


def test_losses() -> None:
    out = torch.zeros(4, 2, 3)
    out[:2, 0, 1] = 1.0  # sample 0: class 1 fires 2 of 4 steps
    out[:, 1, 2] = 1.0  # sample 1: class 2 fires every step
    labels = torch.tensor([1, 0])
    mse = get_rule("stbp").loss(out, labels)
    rate = torch.tensor([[0, 0.5, 0], [0, 0, 1.0]])
    target = torch.tensor([[0, 1.0, 0], [1.0, 0, 0]])
    assert float(mse) == pytest.approx(float(((rate - target) ** 2).mean()))
    ce = get_rule("stbp", loss_name="ce").loss(out, labels)
    assert float(ce) == pytest.approx(float(F.cross_entropy(out.sum(0), labels)))
    assert get_rule("stbp").scores(out).argmax(1).tolist() == [1, 2]
