"""TSSL-BP's hand-written backward against the paper's formulas computed by hand.

TSSL-BP's gradient is an approximation (not the gradient of the forward), so it is
checked against the formulas of Zhang & Li 2020 (as their public code computes
them) evaluated independently here: by hand on a one-neuron example, and by a
plain scalar loop with explicit kernel sums on random tiny layers. The parts that
are true gradients (the synaptic filter's reverse pass, the count loss) are checked
with ``torch.autograd.gradcheck`` in float64.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikestream.runtime.neurons import NeuronParams
from spikestream.training.rules import get_rule
from spikestream.training.tssl import TsslFunction, count_loss, reverse_filter, tssl_layer

# tau_m = 2 (decay 0.5), tau_s = 2, threshold 1
P = NeuronParams(decay=0.5, threshold=1.0, reset="zero", order="decay_first", psp_tau=2.0)


def _grad(y: list[float], g: list[float], params: NeuronParams = P) -> list[float]:
    """dL/dI of one neuron with currents ``y`` and ``dL/da = g``."""
    x = torch.tensor(y, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()
    a = tssl_layer(x, params)
    a.backward(torch.tensor(g, dtype=torch.float64).reshape(-1, 1, 1))
    return x.grad.flatten().tolist()


def test_one_neuron_two_spikes_by_hand() -> None:
    # forward: u1 = 1.5 fires (a1 = 0.5); u2 = 0.2 (a2 = 0.25); u3 = 0.1 + 1.2 = 1.3 fires
    # (a3 = 0.625). du = u[t] - u[t-1] (after reset) = 1.5, 0.2, 1.1.
    # kappa = (0.5, 0.25, 0.125); g = (1, 0, 1): e1 = 0.625, e2 = 0.25, e3 = 0.5.
    # t3: dt/du = -1/1.1; grad3 = e3 / 1.1 = 0.4545...; theta = grad3 (fired)
    # t2: dt/du = -5: grad2 = 5 * 0.25 + theta * (-0.5 * -5 * 0.2 + 0.5 * 1) = 1.25 + theta
    #     theta = theta * 0.5 (no spike)
    # t1: dt/du = -2/3: grad1 = 2/3 * 0.625 + theta * (-0.5 * -2/3 * 1.5 + 0) = 0.4167 + theta/2
    x = torch.tensor([1.5, 0.2, 1.2], dtype=torch.float64).reshape(3, 1, 1)
    a, s, u, du = TsslFunction.apply(x, P)
    assert a.flatten().tolist() == pytest.approx([0.5, 0.25, 0.625])
    assert s.flatten().tolist() == [1.0, 0.0, 1.0]
    assert u.flatten().tolist() == pytest.approx([1.5, 0.2, 1.3])
    assert du.flatten().tolist() == pytest.approx([1.5, 0.2, 1.1])
    g3 = 0.5 / 1.1
    g2 = 1.25 + g3
    g1 = 2 / 3 * 0.625 + (g3 * 0.5) * 0.5
    assert _grad([1.5, 0.2, 1.2], [1, 0, 1]) == pytest.approx([g1, g2, g3], rel=1e-12)


def test_sigmoid_fallback_below_the_psp_threshold_by_hand() -> None:
    # u = 0.4, 0.6: never fires, a = 0 < 1/(4 tau_s): grad = e * sigma'((u - 1)/0.2) / 0.2
    def dsig(u: float) -> float:
        z = math.exp((1.0 - u) / 0.2)
        return z / ((1 + z) ** 2 * 0.2)

    e1, e2 = 0.5 * 1 + 0.25 * 1, 0.5 * 1
    assert _grad([0.4, 0.4], [1, 1]) == pytest.approx([e1 * dsig(0.4), e2 * dsig(0.6)])


def test_dt_du_is_clamped_to_minus_eight() -> None:
    # u rises by 0.05 at t2 (dt/du = -20 -> -8): the PSP is above its threshold there
    grad = _grad([1.5, 0.05], [0, 1])
    assert grad[1] == pytest.approx(8 * 0.5)


def _reference(y: torch.Tensor, g: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """The paper's backward as a plain scalar loop with explicit kernel sums."""
    n_steps, n = y.shape
    tau_s, theta_m, v = p.psp_tau, 1 - p.decay, p.threshold
    kappa = [(1 - 1 / tau_s) ** k / tau_s for k in range(n_steps)]
    out = torch.zeros_like(y)
    for j in range(n):
        u_prev, a_prev, us, dus, ss, aa = 0.0, 0.0, [], [], [], []
        for t in range(n_steps):
            u = p.decay * u_prev + float(y[t, j])
            s = 1.0 if u > v else 0.0
            a = a_prev + (s - a_prev) / tau_s
            us.append(u)
            dus.append(u - u_prev)
            ss.append(s)
            aa.append(a)
            u_prev, a_prev = u * (1 - s), a
        theta = 0.0
        for t in reversed(range(n_steps)):
            e = sum(kappa[k] * float(g[t + k, j]) for k in range(n_steps - t))
            pu = -8.0 if dus[t] == 0 else min(max(-1 / dus[t], -8.0), 0.0)
            grad = -pu * e
            if t < n_steps - 1:
                grad += theta * (-theta_m * pu * us[t] + (1 - theta_m) * (1 - ss[t]))
            theta = grad if ss[t] else theta * (1 - theta_m)
            if aa[t] < 1 / (4 * tau_s):
                z = math.exp(min(max((v - us[t]) / 0.2, -8), 8))
                grad = e * z / ((1 + z) ** 2 * 0.2)
            out[t, j] = grad
    return out


@pytest.mark.parametrize("seed", range(4))
def test_layer_backward_equals_the_scalar_reference(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    p = get_rule("tssl").hidden_neuron()  # tau_m 8, tau_s 4
    y = torch.rand(12, 7, generator=gen, dtype=torch.float64) * 1.2 - 0.1
    g = torch.randn(12, 7, generator=gen, dtype=torch.float64)
    x = y.reshape(12, 1, 7).clone().requires_grad_()
    tssl_layer(x, p).backward(g.reshape(12, 1, 7))
    torch.testing.assert_close(x.grad.reshape(12, 7), _reference(y, g, p))


def test_first_layer_gradient_passes_back_through_the_synaptic_filter() -> None:
    gen = torch.Generator().manual_seed(5)
    first = get_rule("tssl").first_neuron()
    assert first.syn_decay == 0.75
    y = torch.rand(10, 6, generator=gen, dtype=torch.float64) * 0.6
    g = torch.randn(10, 6, generator=gen, dtype=torch.float64)
    x = y.reshape(10, 1, 6).clone().requires_grad_()
    tssl_layer(x, first).backward(g.reshape(10, 1, 6))
    current = torch.zeros_like(y)
    acc = torch.zeros(6, dtype=torch.float64)
    for t in range(10):
        acc = 0.75 * acc + y[t]
        current[t] = acc
    from dataclasses import replace

    want = reverse_filter(_reference(current, g, replace(first, syn_decay=None)), 0.75)
    torch.testing.assert_close(x.grad.reshape(10, 6), want)


class _Filter(torch.autograd.Function):
    """i[t] = f i[t-1] + y[t], with the hand-written reverse pass under test."""

    @staticmethod
    def forward(y: torch.Tensor, f: float) -> torch.Tensor:
        out, acc = torch.empty_like(y), torch.zeros_like(y[0])
        for t in range(y.shape[0]):
            acc = f * acc + y[t]
            out[t] = acc
        return out

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
        ctx.f = inputs[1]

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return reverse_filter(g, ctx.f), None


def test_reverse_filter_is_the_true_gradient() -> None:
    y = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: _Filter.apply(v, 0.75), (y,))


def test_count_loss_matches_the_public_code_and_gradcheck() -> None:
    # loss_count: delta = (count - target)/T, zeroed where the label's neuron reaches
    # its desired count or another neuron stays under its undesired count
    out = torch.zeros(10, 2, 3, dtype=torch.float64)
    out[:, 0] = torch.tensor([0.6, 0.05, 0.4])  # counts 6, 0.5, 4
    out[:, 1] = torch.tensor([0.1, 0.9, 0.05])  # counts 1, 9, 0.5
    labels = torch.tensor([0, 1])
    target = torch.tensor([[5.0, 1.0, 1.0], [1.0, 5.0, 1.0]], dtype=torch.float64)
    # sample 0: label count 6 >= 5 -> 0; 0.5 <= 1 -> 0; 4 > 1 -> 0.3
    # sample 1: 1 <= 1 -> 0; label 9 >= 5 -> 0; 0.5 <= 1 -> 0
    assert float(count_loss(out, target, labels)) == pytest.approx(0.5 * 10 * 0.3**2)
    x = (torch.rand(6, 2, 3, dtype=torch.float64) * 0.8).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: count_loss(v, target, labels), (x,))
    x2 = x.detach().clone().requires_grad_()
    count_loss(x2, target, labels).backward()
    delta = (x.detach().sum(0) - target) / 6
    delta[0, 0] = min(delta[0, 0], 0)
    delta[1, 1] = min(delta[1, 1], 0)
    for b, c in ((0, 1), (0, 2), (1, 0), (1, 2)):
        delta[b, c] = max(delta[b, c], 0)
    torch.testing.assert_close(x2.grad, delta.expand(6, 2, 3))  # the code's dL/da = delta


def test_rule_targets_scale_with_t() -> None:
    r = get_rule("tssl")
    t = r.targets(torch.tensor([2, 0]), 4, 30)
    assert t.tolist() == [[3, 3, 15, 3], [15, 3, 3, 3]]


def test_weights_are_clamped_after_a_step() -> None:
    r = get_rule("tssl", weight_clip="0.5")
    p = torch.nn.Parameter(torch.tensor([-2.0, 0.1, 3.0]))
    r.after_step([p])
    assert p.tolist() == [-0.5, pytest.approx(0.1), 0.5]


def test_kernel_loss_targets_the_psp_of_the_desired_train() -> None:
    r = get_rule("tssl", loss_name="kernel")
    # T >= 10: a spike at every odd step; a = a + (s - a) / 4
    want, a = [], 0.0
    for t in range(10):
        a += ((t % 2) - a) / 4
        want.append(a)
    tg = r.kernel_targets(torch.tensor([2]), 4, 10, torch.float64)
    assert tg[:, 0, 2].tolist() == pytest.approx(want)
    assert want[:4] == pytest.approx([0.0, 0.25, 0.1875, 0.390625])
    assert not tg[:, 0, [0, 1, 3]].any()
    # T < 10: four spikes of every five steps (0, 1, 1, 1, 1)
    assert r.kernel_targets(torch.tensor([0]), 1, 5)[:, 0, 0].tolist() == pytest.approx(
        [0.0, 0.25, 0.4375, 0.578125, 0.68359375])
    out = (torch.rand(10, 2, 4, dtype=torch.float64) * 0.5).requires_grad_()
    labels = torch.tensor([2, 0])
    target = r.kernel_targets(labels, 4, 10, torch.float64)
    assert r.loss(out, labels).item() == pytest.approx(
        (0.5 * ((out - target) ** 2).sum() / 2).item())
    assert torch.autograd.gradcheck(lambda v: r.loss(v, labels), (out,))
    with pytest.raises(ValueError, match="unknown loss 'mse'; valid: count, kernel"):
        get_rule("tssl", loss_name="mse")
