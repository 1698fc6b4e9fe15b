"""The synthetic DVS pixel model and its noise (streams/synthetic/simulator.py, noise.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.streams.events import EVENT_DTYPE, concat, make_events
from spikestream.streams.synthetic.noise import NOISE_PERIOD_US, NoiseModel
from spikestream.streams.synthetic.simulator import PixelConfig, pixel_init, pixel_step

QUIET = PixelConfig(
    thr_on=0.25, thr_off=0.25, thr_sigma=0.0, refractory_us=0, ba_rate_hz=0.0, n_hot_pixels=0
)


def _run(frames: np.ndarray, config: PixelConfig = QUIET, first: float = 0.0, noise=None):
    k, h, w = frames.shape
    state = pixel_init(np.full((h, w), first), config, np.random.default_rng(0))
    return pixel_step(frames.astype(np.float32), 0, state, config, noise)


def test_ramp_fires_one_event_per_threshold_at_interpolated_times() -> None:
    frames = np.array([1.0, 1.1, 0.4]).reshape(3, 1, 1)
    ev, state = _run(frames)
    # 0 -> 1.0 in step 0: crossings at 0.25, 0.5, 0.75, 1.0 of the step
    # 1.0 -> 1.1 in step 1: below the next level (1.25): nothing
    # 1.1 -> 0.4 in step 2: OFF levels 0.75 and 0.5 at (1.1-0.75)/0.7 and (1.1-0.5)/0.7
    assert ev["t"].tolist() == [250, 500, 750, 999, 2500, 2857]
    assert ev["p"].tolist() == [1, 1, 1, 1, 0, 0]
    assert ev.dtype == EVENT_DTYPE
    assert state.log_ref[0, 0] == pytest.approx(0.5)
    assert state.log_prev[0, 0] == pytest.approx(0.4)


def test_small_changes_accumulate_against_the_reference() -> None:
    frames = np.full((10, 1, 1), 0.0)
    frames[:, 0, 0] = np.arange(1, 11) * 0.06  # 0.06 per step: level 0.25 reached in step 4
    ev, _ = _run(frames)
    # step 4 runs from 0.24 to 0.30: the crossing of 0.25 is 1/6 into it
    assert ev["t"].tolist() == [4166, 8333]  # and 0.50 is 1/3 into step 8 (0.48 -> 0.54)
    assert ev["p"].tolist() == [1, 1]


def test_refractory_period_delays_but_does_not_lose_events() -> None:
    config = PixelConfig(thr_sigma=0.0, refractory_us=300, ba_rate_hz=0.0, n_hot_pixels=0)
    frames = np.full((6, 1, 1), 2.5)  # 10 thresholds of 0.25 at once, then still
    ev, _ = _run(frames, config)
    assert len(ev) == 10
    assert np.all(np.diff(ev["t"]) >= 300)
    # crossings due at 100, 200, 300... µs fire 300 µs apart, spilling into later steps
    assert ev["t"].tolist() == [100, 400, 700, 1000, 1300, 1600, 1900, 2200, 2500, 2800]
    assert np.all(ev["p"] == 1)


def test_threshold_mismatch_has_the_configured_spread() -> None:
    config = PixelConfig(thr_on=0.2, thr_off=0.3, thr_sigma=0.03)
    state = pixel_init(np.zeros((128, 128)), config, np.random.default_rng(1))
    assert state.thr_on.mean() == pytest.approx(0.2, abs=0.002)
    assert state.thr_off.mean() == pytest.approx(0.3, abs=0.002)
    assert state.thr_on.std() == pytest.approx(0.03, rel=0.05)
    assert state.thr_on.min() >= config.thr_min


def test_noise_merges_with_signal_and_obeys_refractory() -> None:
    config = PixelConfig(thr_sigma=0.0, refractory_us=100, ba_rate_hz=0.0, n_hot_pixels=0)
    noise = make_events([120, 150, 400], [0, 0, 0], [0, 0, 0], [0, 1, 0])
    frames = np.full((1, 1, 1), 0.3)  # one ON crossing at 0.25/0.3 of the step = 833 µs
    ev, _ = _run(frames, config, noise=noise)
    # 120 fires, 150 is refractory (< 220), 400 fires, the ON crossing at 833 fires
    assert ev["t"].tolist() == [120, 400, 833]
    assert ev["p"].tolist() == [0, 0, 1]


def test_moving_hint_gives_the_same_events() -> None:
    rng = np.random.default_rng(3)
    frames = np.zeros((20, 16, 16), np.float32)
    frames[:, 4:9, 2:12] = rng.normal(0, 0.5, (20, 5, 10))
    moving = np.zeros((16, 16), bool)
    moving[4:9, 2:12] = True
    config = PixelConfig(ba_rate_hz=5.0, n_hot_pixels=2, hot_rate_hz=300.0)
    noise = NoiseModel(3, (16, 16), config).events(0, 20_000)
    state = pixel_init(np.zeros((16, 16)), config, np.random.default_rng(0))
    a, sa = pixel_step(frames, 0, state, config, noise)
    b, sb = pixel_step(frames, 0, state, config, noise, moving)
    assert len(a) > 100
    assert np.array_equal(a, b)
    assert all(np.array_equal(x, y) for x, y in zip(sa, sb, strict=True))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 29), max_size=4, unique=True))
def test_any_split_into_blocks_gives_the_same_events(seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    frames = np.cumsum(rng.normal(0, 0.15, (30, 8, 8)), axis=0).astype(np.float32)
    config = PixelConfig(
        refractory_us=int(rng.integers(0, 1500)), ba_rate_hz=20.0, n_hot_pixels=1, hot_rate_hz=200.0
    )
    noise_model = NoiseModel(seed, (8, 8), config)
    state0 = pixel_init(np.zeros((8, 8)), config, np.random.default_rng(seed))
    whole, _ = pixel_step(frames, 0, state0, config, noise_model.events(0, 30_000))
    parts, state = [], state0
    bounds = [0, *sorted(cuts), 30]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        t0, t1 = a * 1000, b * 1000
        ev, state = pixel_step(frames[a:b], t0, state, config, noise_model.events(t0, t1))
        parts.append(ev)
    assert np.array_equal(concat(parts), whole)
    assert np.all(np.diff(whole["t"]) >= 0)


def test_background_activity_and_hot_pixels_fire_at_their_rates() -> None:
    config = PixelConfig(refractory_us=100, ba_rate_hz=0.5, n_hot_pixels=5, hot_rate_hz=200.0)
    shape = (128, 128)
    noise = NoiseModel(7, shape, config)
    duration_us = 2_000_000
    state = pixel_init(np.zeros(shape), config, np.random.default_rng(0))
    still = np.zeros((100,) + shape, np.float32)
    parts = []
    for t0 in range(0, duration_us, 100_000):
        ev, state = pixel_step(still, t0, state, config, noise.events(t0, t0 + 100_000))
        parts.append(ev)
    ev = concat(parts)
    pix = ev["y"].astype(np.int64) * 128 + ev["x"]
    hot = np.isin(pix, noise.hot_pixels)
    expected_ba = 0.5 * 128 * 128 * 2.0  # 16,384; Poisson sd 128
    assert (~hot).sum() == pytest.approx(expected_ba, rel=0.04)
    per_hot = np.bincount(pix[hot], minlength=128 * 128)[noise.hot_pixels]
    assert len(noise.hot_pixels) == 5
    assert np.all(np.abs(per_hot - 400) < 80)  # 200 Hz x 2 s, sd 20
    assert abs(ev["p"][~hot].mean() - 0.5) < 0.02
    # the hot pixels are the busiest pixels of the sensor by far
    counts = np.bincount(pix, minlength=128 * 128)
    assert set(np.argsort(counts)[-5:]) == set(noise.hot_pixels.tolist())


def test_noise_is_the_same_whatever_range_is_asked() -> None:
    model = NoiseModel(2, (32, 32), PixelConfig(ba_rate_hz=3.0))
    end = 3 * NOISE_PERIOD_US + 123
    whole = model.events(0, end)
    cuts = [0, 999, NOISE_PERIOD_US, NOISE_PERIOD_US + 1, 2 * NOISE_PERIOD_US + 50_000, end]
    parts = [
        NoiseModel(2, (32, 32), PixelConfig(ba_rate_hz=3.0)).events(a, b)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    assert np.array_equal(concat(parts), whole)
    assert np.all(np.diff(whole["t"]) >= 0)
    assert not np.array_equal(
        whole, NoiseModel(3, (32, 32), PixelConfig(ba_rate_hz=3.0)).events(0, end)
    )


def test_pixel_step_checks_its_inputs() -> None:
    state = pixel_init(np.zeros((4, 4)), QUIET, np.random.default_rng(0))
    with pytest.raises(ValueError, match="log_frames must be"):
        pixel_step(np.zeros((2, 4, 5), np.float32), 0, state, QUIET)
    with pytest.raises(ValueError, match="inside the steps"):
        pixel_step(
            np.zeros((2, 4, 4), np.float32), 0, state, QUIET, make_events([2000], [0], [0], [1])
        )
    with pytest.raises(ValueError, match="moving must be"):
        pixel_step(np.zeros((2, 4, 4), np.float32), 0, state, QUIET, None, np.ones((3, 3), bool))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dt_us": 0},
        {"refractory_us": -1},
        {"thr_on": 0.0},
        {"ba_rate_hz": -1.0},
        {"n_hot_pixels": -1},
        {"ba_on_fraction": 1.5},
    ],
)
def test_pixel_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PixelConfig(**kwargs)
