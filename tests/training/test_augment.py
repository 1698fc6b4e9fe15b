"""Event augmentations: binomial event drop, tonic's time jitter re-binned through the
input stage, seeded per sample, never applied outside training batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tonic.transforms import TimeJitter

from spikestream.runtime.spec import InputSpec
from spikestream.streams.events import EVENT_DTYPE
from spikestream.training.augment import (
    Augment,
    drop_counts,
    drop_events,
    jitter_times,
    sample_rng,
)
from spikestream.training.data import Binning, FrameSet, Jitter, batches
from spikestream.training.data_nmnist import open_nmnist_dataset
from spikestream.training.frames import load_frames

INPUT = InputSpec(sensor_size=(34, 34, 2), downsample=(3, 3))
BINNING = Binning(INPUT, 20_000, 6)


def _events(n: int, seed: int = 0, span_us: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, span_us, n))
    ev["x"], ev["y"] = rng.integers(0, 34, n), rng.integers(0, 34, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


@pytest.fixture(scope="module")
def with_events(tiny_nmnist: Path) -> FrameSet:
    return load_frames(open_nmnist_dataset(tiny_nmnist), BINNING, cache=False,
                       keep_events=True)


def test_drop_counts_keeps_the_expected_fraction() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 6, size=(40, 6, 2, 12, 12)).astype(np.uint8)
    n = int(frames.sum())
    for p in (0.1, 0.5):
        kept = drop_counts(frames, p, np.random.default_rng(1))
        assert kept.dtype == np.float32 and kept.shape == frames.shape
        assert (kept <= frames).all() and (kept >= 0).all()
        # Binomial(n, 1 - p): within 5 standard deviations
        sd = (n * p * (1 - p)) ** 0.5
        assert abs(kept.sum() - n * (1 - p)) < 5 * sd
    assert np.array_equal(drop_counts(frames, 0.0, rng), frames)
    ev = _events(20_000)
    kept_ev = drop_events(ev, 0.3, np.random.default_rng(2))
    assert abs(len(kept_ev) - 14_000) < 5 * (20_000 * 0.21) ** 0.5
    assert np.isin(kept_ev, ev).all() and (np.diff(kept_ev["t"]) >= 0).all()


def test_time_jitter_is_tonics_transform_seeded_from_the_sample() -> None:
    ev = _events(5_000)
    state = np.random.get_state()
    got = jitter_times(ev, 2_000.0, np.random.default_rng(7))
    after = np.random.get_state()
    # numpy's global generator is left as it was
    assert all(np.array_equal(a, b) for a, b in zip(state[1:2], after[1:2], strict=True))
    assert state[2:] == after[2:]
    # the very draws of tonic's TimeJitter seeded with the sample generator's word
    np.random.seed(int(np.random.default_rng(7).integers(2**32)))
    expected = TimeJitter(std=2_000.0, clip_negative=False, sort_timestamps=True)(ev)
    np.random.set_state(state)
    assert np.array_equal(got, expected)
    assert np.array_equal(got, jitter_times(ev, 2_000.0, np.random.default_rng(7)))
    assert not np.array_equal(got, jitter_times(ev, 2_000.0, np.random.default_rng(8)))
    assert len(got) == len(ev) and (np.diff(got["t"]) >= 0).all()
    assert sorted(got["x"].tolist()) == sorted(ev["x"].tolist())
    assert got.dtype == EVENT_DTYPE and abs(int(got["t"].sum() - ev["t"].sum())) < 5 * 2_000 * 71


def test_time_jitter_rebins_through_the_same_input_stage(with_events: FrameSet) -> None:
    data = with_events
    idx = np.arange(len(data))
    # a jitter far below 1 µs moves no event: the re-binned frames are the cached ones
    still = Augment(time_jitter_us=0.01).frames(data, idx, [sample_rng(0, 1, i) for i in idx])
    assert np.array_equal(still, data.frames.astype(np.float32))
    # 30 ms moves events between the 20 ms steps, not in space
    aug = Augment(time_jitter_us=30_000.0)
    moved = aug.frames(data, idx, [sample_rng(0, 1, i) for i in idx])
    assert moved.shape == data.frames.shape and not np.array_equal(moved, data.frames)
    # every recording lies inside its T windows: jitter can only push events out,
    # and never moves them in space
    assert (moved.sum(1) <= data.frames.sum(1)).all() and moved.sum() < data.frames.sum()
    # deterministic per (seed, epoch, sample), different in another epoch
    again = aug.frames(data, idx, [sample_rng(0, 1, i) for i in idx])
    assert np.array_equal(moved, again)
    other = aug.frames(data, idx, [sample_rng(0, 2, i) for i in idx])
    assert not np.array_equal(moved, other)
    # one sample by hand: tonic's jitter then the binning the loader used
    ev = jitter_times(data.events[5], 30_000.0, sample_rng(0, 1, 5))
    assert np.array_equal(moved[5], BINNING.frames(ev, int(data.t0_us[5]))[0])


def test_drop_on_count_and_binary_frames(with_events: FrameSet, tiny_nmnist: Path) -> None:
    data = with_events
    idx = np.arange(len(data))
    rngs = [sample_rng(3, 1, i) for i in idx]
    dropped = Augment(drop_p=0.4).frames(data, idx, rngs)
    assert (dropped <= data.frames).all()
    total = int(data.frames.sum())
    assert abs(dropped.sum() - 0.6 * total) < 5 * (total * 0.24) ** 0.5
    assert np.array_equal(dropped, Augment(drop_p=0.4).frames(
        data, idx, [sample_rng(3, 1, i) for i in idx]))
    binary = Binning(InputSpec((34, 34, 2), downsample=(3, 3), mode="binary"), 20_000, 6)
    ds = open_nmnist_dataset(tiny_nmnist)
    no_events = load_frames(ds, binary, cache=False)
    assert Augment(drop_p=0.4).needs_events(binary=True)
    with pytest.raises(ValueError, match="keep_events=True"):
        Augment(drop_p=0.4).frames(no_events, idx[:2], rngs[:2])
    kept = load_frames(ds, binary, cache=False, keep_events=True)
    b = Augment(drop_p=0.4).frames(kept, idx, rngs)
    assert set(np.unique(b).tolist()) <= {0.0, 1.0} and (b <= kept.frames).all()
    assert b.sum() < kept.frames.sum()
    with pytest.raises(ValueError, match="drop probability"):
        Augment(drop_p=1.0)
    with pytest.raises(ValueError, match="time jitter"):
        Augment(time_jitter_us=-1.0)


def test_batches_augment_training_batches_only(with_events: FrameSet) -> None:
    data = with_events
    aug = Augment(drop_p=0.5, time_jitter_us=5_000.0)
    # without a generator (validation, evaluation): the cached frames, untouched
    plain = np.concatenate([x.transpose(0, 1).numpy() for x, _, _ in
                            batches(data, 7, augment=aug, jitter=Jitter(2))])
    assert np.array_equal(plain, data.frames.astype(np.float32))

    def epoch(batch_size: int, shard: tuple[int, int] = (0, 1)) -> dict[int, np.ndarray]:
        got = {}
        for x, _, idx in batches(data, batch_size, np.random.default_rng([1, 1]), Jitter(1),
                                 augment=aug, sample_seed=(1, 1), shard=shard):
            for b, i in enumerate(idx.tolist()):
                got[i] = x[:, b].numpy()
        return got

    a = epoch(4)
    assert sorted(a) == list(range(len(data)))
    assert not all(np.array_equal(a[i], data.frames[i]) for i in a)
    # what a sample sees depends on neither its batch nor the process it falls in
    for other in (epoch(9), {**epoch(8, (0, 2)), **epoch(8, (1, 2))}):
        assert sorted(other) == sorted(a)
        assert all(np.array_equal(a[i], other[i]) for i in a)
