"""Surrogate spike functions: Heaviside forward, each backward against autograd on its
smooth primitive (SpikingJelly's check_manual_grad), the registry's errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from spikestream.runtime.neurons import heaviside, neuron_init, neuron_step, rule_neuron
from spikestream.training.surrogates import SURROGATES, get_surrogate

NAMES = sorted(SURROGATES)


def _x(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2_000, generator=g, dtype=torch.float64) * 2
    return torch.cat([x, torch.tensor([0.0, -0.0, 1e-9, -1e-9], dtype=torch.float64)])


def test_registry_has_the_four_stbp_curves() -> None:
    assert NAMES == ["gaussian", "polynomial", "rectangular", "sigmoid"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("a", [0.3, 1.0, 2.5])
def test_backward_equals_autograd_on_the_primitive(name: str, a: float) -> None:
    s = get_surrogate(name, a=a)
    x = _x()
    # stay off the kinks of the piecewise curves, where the primitive has no derivative
    kinks = torch.tensor([a / 2, 2 / a**0.5], dtype=torch.float64)
    x = x[((x.abs()[:, None] - kinks).abs() > 1e-6).all(1)]
    g = torch.rand_like(x) + 0.5
    x1 = x.clone().requires_grad_()
    s(x1).backward(g)
    x2 = x.clone().requires_grad_()
    (manual,) = torch.autograd.grad(s.primitive(x2), x2, g)
    torch.testing.assert_close(x1.grad, manual, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_heaviside(name: str) -> None:
    s = get_surrogate(name)
    x = _x().float()
    for ge in (False, True):
        out = s(x, ge)
        assert out.dtype == x.dtype
        assert torch.equal(out, heaviside(x, ge))
    assert s(torch.tensor([0.0]), True).item() == 1.0 and s(torch.tensor([0.0])).item() == 0.0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("a", [0.5, 1.0, 2.0])
def test_each_derivative_integrates_to_one(name: str, a: float) -> None:
    x = torch.linspace(-30, 30, 600_001, dtype=torch.float64)
    h = get_surrogate(name, a=a).derivative(x)
    assert (h >= 0).all()
    assert torch.trapezoid(h, x).item() == pytest.approx(1.0, abs=1e-3)
    prim = get_surrogate(name, a=a).primitive(torch.tensor([-90.0, 90.0], dtype=torch.float64))
    assert prim.tolist() == pytest.approx([0.0, 1.0], abs=1e-9)


def test_rectangular_is_the_public_stbp_code() -> None:
    # yjwu17 ActFun.backward: grad * (|u - thresh| < lens), lens = 0.5
    u = torch.tensor([0.0, 0.01, 0.49, 0.5, 0.9, 0.99, 1.0, 1.2], requires_grad=True)
    get_surrogate("rectangular")(u - 0.5).sum().backward()
    assert u.grad.tolist() == [0, 1, 1, 1, 1, 1, 0, 0]


def test_paper_formulas_at_a_few_points() -> None:
    x = torch.tensor([0.0, 0.3, -1.0], dtype=torch.float64)
    a = 0.8
    poly = get_surrogate("polynomial", a=a).derivative(x)
    want = [max(a**0.5 / 2 - a / 4 * abs(v), 0.0) for v in x.tolist()]
    assert poly.tolist() == pytest.approx(want)
    sig = get_surrogate("sigmoid", a=a).derivative(x)
    e = torch.exp(-x / a)
    assert sig.tolist() == pytest.approx((e / (1 + e) ** 2 / a).tolist())
    gau = get_surrogate("gaussian", a=a).derivative(x)
    assert gau.tolist() == pytest.approx(
        (torch.exp(-(x**2) / (2 * a)) / (2 * torch.pi * a) ** 0.5).tolist())


def test_gradient_flows_through_the_runtime_neuron_step() -> None:
    p = rule_neuron("stbp")
    x = torch.tensor([[0.3, 0.6, 0.45]], requires_grad=True)
    state = neuron_init((3,), p)
    s = get_surrogate("rectangular")
    out, state = neuron_step(x, state, p, s)
    assert out.tolist() == [[0.0, 1.0, 0.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0, 1.0]]  # |x - 0.5| < 0.5 everywhere


def test_registry_errors_list_the_valid_names() -> None:
    with pytest.raises(ValueError, match="valid: rectangular, polynomial, sigmoid, gaussian"):
        get_surrogate("arctan")
    with pytest.raises(ValueError, match="a must be"):
        get_surrogate("sigmoid", a=0)
    with pytest.raises(ValueError, match="unknown setting 'alpha'"):
        get_surrogate("sigmoid", alpha=2.0)


def test_surrogates_are_frozen_and_serialisable() -> None:
    s = get_surrogate("gaussian", a=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.a = 2.0  # type: ignore[misc]
    assert s.to_dict() == {"name": "gaussian", "a": 0.5}
    assert s == get_surrogate("gaussian", a=0.5)
