"""Training data: frames equal the runtime's live windows, split, jitter, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.runtime.input_stage import InputStage
from spikestream.runtime.spec import InputSpec
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.windowing import Windower
from spikestream.training.data import (
    Binning,
    FrameSet,
    Jitter,
    batches,
    pack_frames,
    split_indices,
    stratified_split,
)
from spikestream.training.data_nmnist import read_events

INPUT = InputSpec(sensor_size=(34, 34, 2))


def _events(n: int, seed: int = 0, t_max: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(1_234, t_max, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(
        0, 2, n)
    return ev


def _live_frames(ev: np.ndarray, spec: InputSpec, dt_us: int, n: int,
                 chunk: int) -> np.ndarray:
    """What the engine sees live: the streaming Windower over chunks, the input stage."""
    stage = InputStage(spec)
    w = Windower(dt_us)
    chunks = [ev[i:i + chunk] for i in range(0, len(ev), chunk)]
    wins = list(w.stream(chunks))[:n]
    out = np.zeros((n, *stage.shape), np.float32)
    for k, win in enumerate(wins):
        out[k] = stage.dense(win.events)
    return out


@pytest.mark.parametrize("spec", [
    INPUT,
    InputSpec(sensor_size=(34, 34, 2), downsample=(2, 2), polarity="merge", mode="binary"),
    InputSpec(sensor_size=(34, 34, 2), crop=(3, 5, 20, 24), downsample=(2, 3)),
])
def test_frames_equal_the_live_windower_and_input_stage(spec: InputSpec) -> None:
    ev = _events(3_000)
    b = Binning(spec, 7_000, 12)
    frames, used = b.frames(ev)
    for chunk in (1, 97, 5_000):
        np.testing.assert_array_equal(frames, _live_frames(ev, spec, 7_000, 12, chunk))
    assert frames.shape == (12, *spec.shape)
    assert used == frames.sum() or spec.mode == "binary"
    assert used < len(ev)  # 12 x 7 ms does not cover the 100 ms recording


def test_frames_of_a_real_digit(nmnist_dir: Path) -> None:
    ev = read_events(nmnist_dir / "5" / "1.bin")
    frames, used = Binning(INPUT, 20_000, 16).frames(ev)
    np.testing.assert_array_equal(frames, _live_frames(ev, INPUT, 20_000, 16, 1_000))
    assert used == frames.sum() == len(ev)  # 16 x 20 ms covers the whole ~300 ms digit


def test_empty_recording_gives_empty_frames() -> None:
    frames, used = Binning(INPUT, 1_000, 3).frames(np.zeros(0, EVENT_DTYPE))
    assert frames.shape == (3, 2, 34, 34) and not frames.any() and used == 0


def test_binning_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="dt_us"):
        Binning(INPUT, 0, 3)
    with pytest.raises(ValueError, match="n_steps"):
        Binning(INPUT, 10, 0)


def test_pack_frames_is_exact_and_small() -> None:
    a = np.array([[0.0, 3.0], [255.0, 1.0]], np.float32)
    packed = pack_frames([a, a])
    assert packed.dtype == np.uint8
    np.testing.assert_array_equal(packed.astype(np.float32), np.stack([a, a]))
    assert pack_frames([a * 100]).dtype == np.uint16


def test_stratified_split_is_deterministic_and_per_class() -> None:
    labels = np.repeat(np.arange(4), [10, 20, 5, 40])
    tr, va = stratified_split(labels, 0.2, seed=3)
    tr2, va2 = stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(va, va2)
    np.testing.assert_array_equal(tr, tr2)
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == len(labels)
    assert np.bincount(labels[va]).tolist() == [2, 4, 1, 8]
    _, va3 = stratified_split(labels, 0.2, seed=4)
    assert not np.array_equal(va, va3)
    assert len(stratified_split(labels, 0.0, 0)[1]) == 0
    with pytest.raises(ValueError):
        stratified_split(labels, 1.0, 0)


def test_jitter_shifts_whole_samples() -> None:
    x = torch.zeros(3, 4, 2, 10, 10)
    x[:, :, :, 4:6, 4:6] = 1.0
    rng = np.random.default_rng(0)
    y = Jitter(2)(x, rng)
    assert y.shape == x.shape
    for b in range(4):
        # the 2x2 blob moved as a whole, the same for every step and channel
        assert y[:, b].sum() == x[:, b].sum()
        assert torch.equal(y[0, b, 0], y[2, b, 1])
    assert not all(torch.equal(y[:, b], x[:, b]) for b in range(4))
    assert Jitter(0)(x, rng) is x
    edge = torch.ones(1, 1, 1, 4, 4)
    assert Jitter(1)(edge, np.random.default_rng(1)).sum() <= 16


def _set(n: int = 10) -> FrameSet:
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None, None] * np.ones(
        (1, 3, 2, 34, 34), np.uint8)
    return FrameSet(frames, np.arange(n) % 2, ("a", "b"), Binning(INPUT, 1000, 3),
                    [f"s{i}" for i in range(n)], np.ones(n, np.int64), np.ones(n, np.int64),
                    "mem")


def test_batches_cover_every_sample_once() -> None:
    data = _set()
    got = [(x, y, idx) for x, y, idx in batches(data, 4, np.random.default_rng(0))]
    assert [len(i) for _, _, i in got] == [4, 4, 2]
    idx = np.concatenate([i for _, _, i in got])
    assert sorted(idx.tolist()) == list(range(10)) and idx.tolist() != list(range(10))
    for x, y, i in got:
        assert x.shape == (3, len(i), 2, 34, 34) and x.dtype == torch.float32
        assert x[:, :, 0, 0, 0].T.tolist() == [[float(k)] * 3 for k in i]
        assert y.tolist() == (i % 2).tolist()
    ordered = np.concatenate([i for _, _, i in batches(data, 3)])
    assert ordered.tolist() == list(range(10))
    with pytest.raises(ValueError):
        next(batches(data, 0))


def test_subset_and_class_counts() -> None:
    data = _set()
    sub = data.subset([1, 3, 4])
    assert len(sub) == 3 and sub.names == ["s1", "s3", "s4"]
    assert sub.class_counts().tolist() == [1, 2]


def test_split_indices_three_parts_per_class() -> None:
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    tr, va, te = split_indices(labels, 0.1, 0.2, seed=5)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == 0
    assert len(np.intersect1d(va, te)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(100))
    assert np.bincount(labels[te]).tolist() == [2, 4, 6, 8]
    assert np.bincount(labels[va]).tolist() == [1, 2, 3, 4]
    again = split_indices(labels, 0.1, 0.2, seed=5)
    for a, b in zip((tr, va, te), again, strict=True):
        np.testing.assert_array_equal(a, b)
    # the test part depends only on labels, test fraction and split seed
    np.testing.assert_array_equal(split_indices(labels, 0.3, 0.2, seed=5)[2], te)
    assert not np.array_equal(split_indices(labels, 0.1, 0.2, seed=6)[2], te)


def test_split_indices_without_test_is_the_old_split() -> None:
    rng = np.random.default_rng(1)
    for seed in (0, 3, 17):
        labels = rng.integers(0, 10, 997)
        old_tr, old_va = stratified_split(labels, 0.2, seed)
        tr, va, te = split_indices(labels, 0.2, 0.0, seed)
        np.testing.assert_array_equal(va, old_va)
        np.testing.assert_array_equal(tr, old_tr)
        assert len(te) == 0


def test_split_indices_rejects_bad_fractions() -> None:
    labels = np.zeros(10, np.int64)
    with pytest.raises(ValueError, match="below 1"):
        split_indices(labels, 0.5, 0.5, 0)
    with pytest.raises(ValueError, match="test_fraction"):
        split_indices(labels, 0.1, -0.1, 0)
    assert [len(p) for p in split_indices(labels, 0.0, 0.0, 0)] == [10, 0, 0]
