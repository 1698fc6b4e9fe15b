"""Fixtures of the training tests: a tiny N-MNIST-layout folder written by the tests.

Three classes that a small network separates in a few steps: the events of a
class-0 recording fall in the left third of the 34x34 sensor, class 1 in the right
third, class 2 in the top rows, each over ~120 ms with a few noise events anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def bin_records(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> bytes:
    """N-MNIST ``.bin`` bytes (5 per event) of time-ordered events."""
    t = np.asarray(t, np.int64)
    rec = np.stack([x, y, (np.asarray(p) << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF,
                    t & 0xFF], axis=1)
    return rec.astype(np.uint8).tobytes()


def synthetic_digit(label: int, rng: np.random.Generator, n: int = 150,
                    duration_us: int = 120_000) -> tuple[np.ndarray, ...]:
    """``x, y, p, t`` of one synthetic recording of class ``label`` (0, 1 or 2)."""
    t = np.sort(rng.integers(0, duration_us, n))
    if label == 0:
        x, y = rng.integers(0, 11, n), rng.integers(0, 34, n)
    elif label == 1:
        x, y = rng.integers(23, 34, n), rng.integers(0, 34, n)
    else:
        x, y = rng.integers(0, 34, n), rng.integers(0, 9, n)
    noise = rng.random(n) < 0.1
    x[noise], y[noise] = rng.integers(0, 34, noise.sum()), rng.integers(0, 34, noise.sum())
    return x, y, rng.integers(0, 2, n), t


def write_folder(root: Path, per_class: int, seed: int = 0, classes: int = 3) -> Path:
    """Write ``per_class`` recordings of each class and ``labels.csv`` under ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["file,label"]
    k = 0
    for _ in range(per_class):
        for label in range(classes):
            k += 1
            (root / str(label)).mkdir(exist_ok=True)
            (root / str(label) / f"{k}.bin").write_bytes(
                bin_records(*synthetic_digit(label, rng)))
            rows.append(f"{label}/{k}.bin,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_nmnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """36 synthetic recordings (12 per class) in N-MNIST's folder layout."""
    return write_folder(tmp_path_factory.mktemp("tiny-nmnist"), per_class=12)
