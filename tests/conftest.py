"""Shared fixtures.

Real recordings live in ``../shared/data`` beside the checkout (see its README).
Tests that need them skip with a reason when it is absent, except under CI
(``CI=true``), where a missing ``../shared`` fails the run instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPIKESTREAM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the shared recordings are missing: {path}")
    pytest.skip(f"shared recordings not found at {path} (see ../shared/data/README.md)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips (fails under CI) when absent."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def recordings(shared_data: Path) -> Path:
    return _require(shared_data / "recordings")


@pytest.fixture(scope="session")
def nmnist_dir(shared_data: Path) -> Path:
    return _require(shared_data / "nmnist-1k")


@pytest.fixture(scope="session")
def dvs128_files(recordings: Path) -> list[Path]:
    """The 8 DVS128 AEDAT4 recordings, sorted by name (quiet ones first)."""
    return sorted((recordings / "dvs128-aedat4").glob("*.aedat4"))


@pytest.fixture(scope="session")
def busy_dvs128_files(dvs128_files: list[Path]) -> list[Path]:
    """The busy DVS128 recordings (2024_06_20, 190k-350k events each)."""
    return [p for p in dvs128_files if "2024_06_20" in p.name]
