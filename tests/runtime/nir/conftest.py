"""Real DVS128 windows and peer-framework imports for the NIR tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np
import pytest

from spikestream.runtime import InputSpec, InputStage
from spikestream.streams.windowing import EventWindow, Windower

N_STEPS = 1200
"""1 ms steps of the busy recording each peer test runs (~1.2 s of real motion)."""


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The peers' tiny per-step convolutions run ~30x slower on two threads of a busy
    2-core machine than on one; one thread during each test, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def dvs_windows(busy_events: np.ndarray) -> list[EventWindow]:
    """The first :data:`N_STEPS` 1 ms windows of the busiest DVS128 recording."""
    wins = []
    for w in Windower(1000).stream([busy_events]):
        wins.append(w)
        if len(wins) == N_STEPS:
            break
    return wins


@pytest.fixture(scope="session")
def dvs_input() -> InputSpec:
    """DVS128 downsampled by 8: a ``(2, 16, 16)`` frame."""
    return InputSpec((128, 128, 2), downsample=(8, 8))


@pytest.fixture(scope="session")
def dvs_frames(dvs_windows: list[EventWindow], dvs_input: InputSpec) -> np.ndarray:
    """``(T, 2, 16, 16)`` float32 event counts of :func:`dvs_windows`."""
    stage = InputStage(dvs_input)
    return np.stack([stage.dense(w.events) for w in dvs_windows])


@pytest.fixture(scope="session")
def norse() -> ModuleType:
    """``norse.torch``, skipping without it; Norse 1.1 decorates with
    ``torch.jit.script``, which torch 2.13 deprecates: that one warning is ignored."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated",
                                category=DeprecationWarning)
        return pytest.importorskip("norse.torch", reason="norse is a dev dependency")



@pytest.fixture(scope="session")
def snntorch_to_nir() -> Callable[..., object]:
    """snnTorch's own ``export_to_nir`` (skipping without snnTorch)."""
    pytest.importorskip("snntorch", reason="snntorch is a dev dependency")
    from snntorch.export_nir import export_to_nir

    return _quiet_nirtorch(export_to_nir)


@pytest.fixture(scope="session")
def norse_to_nir(norse: ModuleType) -> Callable[..., object]:
    """Norse's own ``to_nir``."""
    return _quiet_nirtorch(norse.to_nir)


def _quiet_nirtorch(export: Callable[..., object]) -> Callable[..., object]:
    """``export`` with nirtorch 2.x's deprecation of ``extract_nir_graph`` ignored:
    snnTorch 1.0 and Norse 1.1 both export through it and have no other exporter. Only
    that one warning, only around the call."""
    def call(*args: object, **kw: object) -> object:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"nirtorch\.extract_nir_graph is "
                                    "being deprecated", category=DeprecationWarning)
            return export(*args, **kw)

    return call
