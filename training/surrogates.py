"""Surrogate spike functions: Heaviside forward, an approximate derivative backward.

The four approximate derivatives of the spike activity of STBP (Wu et al. 2018,
"Spatio-temporal backpropagation for training high-performance spiking neural
networks", Front. Neurosci. 12:331, section "Derivative approximation of the
non-differentiable spike activity" and its Fig. 3B), for ``x = u - V_th``:

- ``rectangular``: ``h1 = (1/a) * 1[|x| < a/2]``
- ``polynomial``:  ``h2 = (sqrt(a)/2 - a/4 * |x|) * 1[|x| < 2/sqrt(a)]``
- ``sigmoid``:     ``h3 = (1/a) * e^{-x/a} / (1 + e^{-x/a})^2``
- ``gaussian``:    ``h4 = 1/sqrt(2 pi a) * e^{-x^2 / (2a)}``

Each integrates to 1 over ``x`` and is the derivative of a smooth (or piecewise
smooth) step, its :meth:`primitive`; a test checks every backward against autograd
on the primitive (SpikingJelly's ``check_manual_grad``). The public STBP code
(yjwu17/STBP-for-training-SpikingNN, ``ActFun``: ``|u - thresh| < lens`` with
``lens = 0.5``) is ``rectangular`` with ``a = 1``, the default of all four.

A surrogate is a frozen dataclass; calling it is the ``spike_fn`` of
:func:`~spikestream.runtime.neurons.neuron_step`: ``s(x, ge)`` is ``1[x > 0]``
(``1[x >= 0]`` with ``ge``) forward, ``h(x) * grad`` backward, through one
:class:`torch.autograd.Function` with ``setup_context``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward; the surrogate's derivative in backward."""

    @staticmethod
    def forward(x: torch.Tensor, surrogate: Surrogate, ge: bool) -> torch.Tensor:
        return (x >= 0 if ge else x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        x, surrogate, _ = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(x), None, None


@dataclass(frozen=True)
class Surrogate:
    """Base of the surrogates: ``a`` is the width parameter of the paper's ``h_i``."""

    a: float = 1.0
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if isinstance(self.a, bool) or not isinstance(self.a, int | float) or not self.a > 0:
            raise ValueError(f"surrogate {self.name}: a must be a number > 0, got {self.a!r}")

    def __call__(self, x: torch.Tensor, ge: bool = False) -> torch.Tensor:
        """Spikes ``1[x > 0]`` (``x >= 0`` with ``ge``) with this surrogate gradient."""
        return _SpikeFunction.apply(x, self, ge)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``h(x)``, the approximate derivative of the spike w.r.t. ``x = u - V_th``."""
        raise NotImplementedError

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """A smooth step whose derivative is :meth:`derivative` (for tests and plots)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, ``{"name": ..., "a": ...}``."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class Rectangular(Surrogate):
    """STBP ``h1``: a box of height ``1/a`` and width ``a``."""

    name: ClassVar[str] = "rectangular"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (x.abs() < self.a / 2).to(x.dtype) / self.a

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x / self.a + 0.5, 0.0, 1.0)


@dataclass(frozen=True)
class Polynomial(Surrogate):
    """STBP ``h2``: a triangle of height ``sqrt(a)/2`` and half-width ``2/sqrt(a)``."""

    name: ClassVar[str] = "polynomial"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        r = math.sqrt(self.a)
        return torch.clamp(r / 2 - self.a / 4 * x.abs(), min=0.0)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        r = math.sqrt(self.a)
        w = 2.0 / r
        xc = torch.clamp(x, -w, w)
        # integral of the triangle from -w to xc: 1/2 + r/2 xc - a/8 xc|xc|
        return 0.5 + r / 2 * xc - self.a / 8 * xc * xc.abs()


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """STBP ``h3``: the derivative of ``sigmoid(x / a)``."""

    name: ClassVar[str] = "sigmoid"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(x / self.a)
        return s * (1.0 - s) / self.a

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x / self.a)


@dataclass(frozen=True)
class Gaussian(Surrogate):
    """STBP ``h4``: a Gaussian density of variance ``a``."""

    name: ClassVar[str] = "gaussian"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-x * x / (2 * self.a)) / math.sqrt(2 * math.pi * self.a)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1.0 + torch.erf(x / math.sqrt(2 * self.a)))


SURROGATES: dict[str, type[Surrogate]] = {
    cls.name: cls for cls in (Rectangular, Polynomial, Sigmoid, Gaussian)
}
"""Surrogate classes by name."""


def get_surrogate(name: str, **settings: Any) -> Surrogate:
    """The surrogate called ``name`` with ``settings`` (e.g. ``a=0.5``).

    Raises:
        ValueError: unknown name (listing the valid ones) or bad settings.
    """
    try:
        cls = SURROGATES[name]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; valid: {', '.join(SURROGATES)}") from None
    unknown = sorted(set(settings) - {"a"})
    if unknown:
        raise ValueError(f"surrogate {name}: unknown setting {unknown[0]!r}; valid: a")
    return cls(**settings)
