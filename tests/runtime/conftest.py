"""Real DVS128 events for the runtime tests (from the shared recordings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def read_events(path: Path) -> np.ndarray:
    """All events of a recording, through the project's own reader."""
    from spikestream.streams.readers.aedat4 import FORMAT

    with FORMAT.open(path) as src:
        return src.read_all()


@pytest.fixture(scope="session")
def busy_events(busy_dvs128_files: list[Path]) -> np.ndarray:
    """The events of the busiest DVS128 recording (~350k events, 5.4 s)."""
    return read_events(busy_dvs128_files[0])


@pytest.fixture(scope="session")
def quiet_events(dvs128_files: list[Path]) -> np.ndarray:
    """The events of a quiet DVS128 recording (~20k events, 5.5 s)."""
    return read_events(dvs128_files[0])
