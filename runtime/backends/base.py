"""The backend contract the :class:`~spikestream.runtime.engine.Engine` drives.

A backend runs one :class:`~spikestream.runtime.model_file.Model` for ``batch``
independent streams and owns their neuron state between steps. Each backend is its
own module in this package defining ``create(model, batch=1, device=None) -> Backend``;
:data:`BACKENDS` maps a name to that module, and the module is imported only when the
backend is asked for (numba is never imported for the torch backend).

State (snapshot) layout, shared by every backend so snapshots move between them:
``"<layer>.u"``, ``"<layer>.i"``, ``"<layer>.a"``, ``"<layer>.fired"`` for each layer
with a neuron (only the parts its :class:`NeuronParams` uses, see
:func:`state_shapes`), each ``(B, *layer output shape)`` float32.

Recording (``step(..., record=True)``): ``"input"`` ``(B, C, H, W)``, then for every
layer ``"<layer>"`` its output ``(B, *shape)`` and, with a neuron, ``"<layer>.u"`` its
membrane after the step. Spikes of a spiking layer without ``psp_tau`` are its output.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import BackendError
from ..model_file import Model

BACKENDS: dict[str, str] = {
    "torch": "torch_backend",
    "numba": "numba_backend",
}
"""Backend name -> module in ``spikestream.runtime.backends`` (a new backend is a
new module and one line here)."""


@dataclass
class StepOutput:
    """What one step of a backend gives back.

    Attributes:
        output: ``(B, n_out)`` float32, the output layer's output this step (spikes,
            PSP trace, or membrane of a non-spiking readout).
        record: per-layer tensors as numpy (see the module docstring) when the step
            was called with ``record=True``, else None.
        layer_us: wall time of each layer in µs (the numba backend puts ``"scatter"``,
            the input events into the first layer, first) when called with
            ``timed=True`` and the backend can time layers, else None.
    """

    output: np.ndarray
    record: dict[str, np.ndarray] | None = None
    layer_us: dict[str, float] | None = None


class Backend(Protocol):
    """What a backend provides (structural: no base class needed)."""

    name: str
    model: Model
    batch: int

    def prepare(self, events: Sequence[np.ndarray]) -> Any:
        """The input stage for ``B`` windows' ``EVENT_DTYPE`` events (one per stream),
        in the form :meth:`step` consumes (dense for torch, sparse for numba)."""

    def step(self, prepared: Any, record: bool = False, timed: bool = False) -> StepOutput:
        """Advance every stream by one step on a :meth:`prepare` d input."""

    def reset(self) -> None:
        """Zero every neuron's state (as at creation)."""

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copy of the state, keyed as in the module docstring."""

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        """Set the state from :meth:`snapshot` (of any backend); raises ``ValueError``
        on a missing/extra key or a shape mismatch (state is never resized)."""


def state_shapes(model: Model, batch: int) -> dict[str, tuple[int, ...]]:
    """Snapshot key -> shape ``(B, *layer shape)`` for ``model`` run on ``batch`` streams."""
    out: dict[str, tuple[int, ...]] = {}
    for layer, shape in zip(model.spec.layers, model.spec.shapes(), strict=True):
        n = layer.neuron
        if n is None:
            continue
        full = (batch, *shape)
        out[f"{layer.name}.u"] = full
        if n.syn_decay is not None:
            out[f"{layer.name}.i"] = full
        if n.psp_tau is not None:
            out[f"{layer.name}.a"] = full
        if n.fire_once:
            out[f"{layer.name}.fired"] = full
    return out


def check_snapshot(snap: dict[str, np.ndarray], model: Model, batch: int) -> None:
    """Raise ``ValueError`` unless ``snap`` has exactly the keys and shapes of
    :func:`state_shapes`."""
    want = state_shapes(model, batch)
    missing = sorted(set(want) - set(snap))
    extra = sorted(set(snap) - set(want))
    if missing or extra:
        raise ValueError(f"snapshot does not fit model {model.spec.name!r}: "
                         f"missing {missing}, unexpected {extra}")
    for k, shape in want.items():
        if tuple(np.shape(snap[k])) != shape:
            raise ValueError(f"snapshot {k}: shape {tuple(np.shape(snap[k]))}, "
                             f"this engine needs {shape} (batch {batch})")


def create_backend(name: str, model: Model, batch: int = 1,
                   device: str | None = None, **options: Any) -> Backend:
    """Create the backend called ``name`` (``options`` go to its ``create``).

    Raises:
        BackendError: unknown name (listing the known ones), or the backend's module
            or a library it needs is not installed.
    """
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    module = f"{__package__}.{BACKENDS[name]}"
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == module:
            raise BackendError(f"backend {name!r} is not available: its module {module} "
                               "is missing from this installation") from None
        raise BackendError(f"backend {name!r} needs the package {e.name!r}, which cannot "
                           f"be imported ({e})") from None
    return mod.create(model, batch=batch, device=device, **options)
