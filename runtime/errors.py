"""Errors of the runtime: a model file or spec that cannot be used."""

from __future__ import annotations

import os

from ..streams.errors import SpikestreamError


class ModelError(SpikestreamError, ValueError):
    """A model file or spec is invalid.

    Args:
        source: the model file (or ``"<spec>"`` for an in-memory spec).
        problem: what is wrong, naming the field (``layers[2].kernel_size: ...``).
    """

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class BackendError(SpikestreamError, ValueError):
    """A backend cannot be created (unknown name, missing module, bad device)."""
