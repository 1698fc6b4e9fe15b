"""Fixtures of the GUI tests: Qt offscreen, a model for 128x128 sensors, cleanup checks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def dvs_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random STBP model for DVS128 sources (128x128, 1 ms windows, 11 classes)."""
    from spikestream.runtime import save_model
    from spikestream.runtime.testing import random_model

    m = random_model("stbp", seed=1)
    path = tmp_path_factory.mktemp("gui-model") / "dvs-stbp.safetensors"
    return str(save_model(path, m.spec, dict(m.tensors)))


@pytest.fixture
def artifacts(tmp_path: Path) -> list[Path]:
    """Folders a test saves its screenshots into: its tmp dir, and
    ``$SPIKESTREAM_ARTIFACTS`` when set."""
    out = [tmp_path]
    extra = os.environ.get("SPIKESTREAM_ARTIFACTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        out.append(Path(extra))
    return out


def gui_threads() -> list[str]:
    """Names of the GUI's threads still running."""
    return [t.name for t in threading.enumerate() if t.name.startswith("spikestream-")]


@pytest.fixture
def no_thread_left():
    """Fails the test if a spikestream thread outlives it."""
    yield
    assert gui_threads() == []


@pytest.fixture(name="gui_threads")
def gui_threads_fixture():
    """:func:`gui_threads`, for the tests."""
    return gui_threads
