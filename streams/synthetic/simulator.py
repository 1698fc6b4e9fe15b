"""The DVS pixel model: log-intensity frames in, events out (ESIM / v2e style).

Every pixel keeps a reference log intensity. Between two frames (one internal
step of ``dt_us``) the log intensity is taken to change linearly; each time it
crosses ``reference + thr_on`` (ON) or ``reference - thr_off`` (OFF) the pixel
fires one event, timestamped at the interpolated crossing, and the reference
moves by one threshold. A change of several thresholds fires several events in
one step. The thresholds differ per pixel (Gaussian mismatch, drawn once).

A pixel cannot fire again within ``refractory_us`` of its last event: a crossing
inside that window is held back and fires when the window ends (the reference
only moves when an event fires, so no change is lost, as in a real pixel whose
reset is held). Noise events (background activity, hot pixels; see
:mod:`.noise`) are merged into each pixel's own time order and obey the same
refractory period; they do not move the reference.

Steps are atomic and the state is explicit (:class:`PixelState`), so any split
of a stream of frames into blocks gives exactly the same events as one pass.

References: Gallego et al., "Event-based vision: a survey" (2020), eq. 1-2;
Rebecq et al., "ESIM" (CoRL 2018); Hu et al., "v2e" (CVPRW 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from ..events import EVENT_DTYPE, SensorSize

NEVER_US = -(1 << 62)
"""``last_t_us`` of a pixel that has never fired."""


@dataclass(frozen=True)
class PixelConfig:
    """Constants of the pixel model, the same for every pixel but the mismatch.

    Attributes:
        thr_on, thr_off: mean contrast thresholds in log-intensity units.
        thr_sigma: std of the per-pixel Gaussian threshold mismatch (log units);
            thresholds are clipped at ``thr_min``.
        thr_min: smallest threshold a pixel may have.
        refractory_us: dead time after each event of a pixel.
        dt_us: internal step between two rendered frames.
        ba_rate_hz: background activity (shot noise) per pixel, Poisson.
        ba_on_fraction: fraction of background events that are ON.
        n_hot_pixels: pixels firing Poisson events at ``hot_rate_hz``.
        hot_rate_hz: rate of each hot pixel.
    """

    thr_on: float = 0.25
    thr_off: float = 0.25
    thr_sigma: float = 0.03
    thr_min: float = 0.05
    refractory_us: int = 500
    dt_us: int = 1000
    ba_rate_hz: float = 0.1
    ba_on_fraction: float = 0.5
    n_hot_pixels: int = 4
    hot_rate_hz: float = 50.0

    def __post_init__(self) -> None:
        if self.dt_us < 1:
            raise ValueError(f"dt_us must be >= 1, got {self.dt_us}")
        if self.refractory_us < 0:
            raise ValueError(f"refractory_us must be >= 0, got {self.refractory_us}")
        if min(self.thr_on, self.thr_off, self.thr_min) <= 0:
            raise ValueError("thresholds and thr_min must be > 0")
        if self.thr_sigma < 0 or self.ba_rate_hz < 0 or self.hot_rate_hz < 0:
            raise ValueError("thr_sigma, ba_rate_hz and hot_rate_hz must be >= 0")
        if self.n_hot_pixels < 0:
            raise ValueError(f"n_hot_pixels must be >= 0, got {self.n_hot_pixels}")
        if not 0.0 <= self.ba_on_fraction <= 1.0:
            raise ValueError(f"ba_on_fraction must be in [0, 1], got {self.ba_on_fraction}")


class PixelState(NamedTuple):
    """State of every pixel, all ``(H, W)``.

    Attributes:
        log_prev: log intensity of the last frame.
        log_ref: reference log intensity (level at the last event).
        last_t_us: time of the last event (:data:`NEVER_US` if none).
        thr_on, thr_off: the pixel's thresholds (fixed mismatch).
    """

    log_prev: np.ndarray
    log_ref: np.ndarray
    last_t_us: np.ndarray
    thr_on: np.ndarray
    thr_off: np.ndarray


def pixel_init(
    first_log_frame: np.ndarray, config: PixelConfig, rng: np.random.Generator
) -> PixelState:
    """State of a sensor that has been looking at ``first_log_frame (H, W)``.

    The threshold mismatch is drawn from ``rng``.
    """
    frame = np.ascontiguousarray(first_log_frame, dtype=np.float32)
    shape = frame.shape
    on = rng.normal(config.thr_on, config.thr_sigma, shape)
    off = rng.normal(config.thr_off, config.thr_sigma, shape)
    return PixelState(
        log_prev=frame.copy(),
        log_ref=frame.copy(),
        last_t_us=np.full(shape, NEVER_US, dtype=np.int64),
        thr_on=np.maximum(on, config.thr_min).astype(np.float32),
        thr_off=np.maximum(off, config.thr_min).astype(np.float32),
    )


def pixel_step(
    log_frames: np.ndarray,
    t0_us: int,
    state: PixelState,
    config: PixelConfig,
    noise: np.ndarray | None = None,
    moving: np.ndarray | None = None,
) -> tuple[np.ndarray, PixelState]:
    """Advance the pixels over ``K`` steps and return their events.

    Args:
        log_frames: ``(K, H, W)`` float32 log intensity; frame ``k`` is the scene
            at ``t0_us + (k + 1) * dt_us``, the end of step ``k``.
        t0_us: start of the first step (the time of ``state.log_prev``).
        state: pixel state at ``t0_us``; not modified.
        config: the model constants (``dt_us``, ``refractory_us``).
        noise: ``(M,)`` :data:`EVENT_DTYPE` noise events with
            ``t0_us <= t < t0_us + K * dt_us``, any order.
        moving: optional ``(H, W)`` bool hint from the renderer: False promises
            that the pixel's log intensity equals ``state.log_prev`` in every
            frame, so its steps can be skipped when it has nothing pending.
            None: every pixel is stepped. The events are the same either way.

    Returns:
        ``(events, new_state)``: events ordered by time, then pixel index
        (``y * W + x``); the state at ``t0_us + K * dt_us``.
    """
    frames = np.ascontiguousarray(log_frames, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[1:] != state.log_prev.shape:
        raise ValueError(
            f"log_frames must be (K, {state.log_prev.shape[0]}, {state.log_prev.shape[1]}), "
            f"got {frames.shape}"
        )
    k, h, w = frames.shape
    dt = config.dt_us
    if moving is None:
        moving = np.ones((h, w), dtype=np.bool_)
    elif moving.shape != (h, w):
        raise ValueError(f"moving must be ({h}, {w}), got {moving.shape}")
    if noise is None or len(noise) == 0:
        n_pix = n_t = np.zeros(0, np.int64)
        n_p = np.zeros(0, np.int8)
    else:
        n_t = noise["t"].astype(np.int64)
        if n_t.min() < t0_us or n_t.max() >= t0_us + k * dt:
            raise ValueError("noise events must lie inside the steps being simulated")
        n_pix = noise["y"].astype(np.int64) * w + noise["x"].astype(np.int64)
        order = np.lexsort((n_t, n_pix))
        n_pix, n_t = n_pix[order], n_t[order]
        n_p = noise["p"][order].astype(np.int8)
    noise_start = np.searchsorted(n_pix, np.arange(h * w + 1)).astype(np.int64)
    log_prev = state.log_prev.copy()
    log_ref = state.log_ref.copy()
    last_t = state.last_t_us.copy()
    et, epix, ep = _simulate(
        frames.reshape(k, h * w),
        log_prev.reshape(-1),
        log_ref.reshape(-1),
        last_t.reshape(-1),
        state.thr_on.reshape(-1),
        state.thr_off.reshape(-1),
        np.int64(t0_us),
        np.int64(dt),
        np.int64(config.refractory_us),
        np.ascontiguousarray(moving, dtype=np.bool_).reshape(-1),
        noise_start,
        n_t,
        n_p,
    )
    order = np.lexsort((epix, et))
    ev = np.empty(len(et), dtype=EVENT_DTYPE)
    ev["t"] = et[order]
    pix = epix[order]
    ev["x"] = pix % w
    ev["y"] = pix // w
    ev["p"] = ep[order]
    return ev, PixelState(log_prev, log_ref, last_t, state.thr_on, state.thr_off)


def sensor_shape(sensor_size: SensorSize) -> tuple[int, int]:
    """``(H, W)`` of a tonic-order ``(width, height, polarities)`` sensor size."""
    return int(sensor_size[1]), int(sensor_size[0])


@njit(cache=True)
def _grow(a: np.ndarray, n: int) -> np.ndarray:
    b = np.empty(max(2 * len(a), n), a.dtype)
    b[: len(a)] = a
    return b


@njit(cache=True)
def _simulate(
    frames, log_prev, log_ref, last_t, thr_on, thr_off, t0, dt, refr, moving, noise_start, n_t, n_p
):  # pragma: no cover - compiled
    """Numba kernel of :func:`pixel_step`; updates the state arrays in place.

    Pixel by pixel, step by step. ``noise_start[i]:noise_start[i + 1]`` are pixel
    ``i``'s noise events in ``n_t``/``n_p``, in time order. Returns
    ``(t_us, pixel_index, polarity)``, each pixel's events in time order.
    """
    n_steps, n_px = frames.shape
    cap = 1024
    out_t = np.empty(cap, np.int64)
    out_pix = np.empty(cap, np.int64)
    out_p = np.empty(cap, np.int8)
    n = 0
    for i in range(n_px):
        j = noise_start[i]
        j_end = noise_start[i + 1]
        old = log_prev[i]
        ref = log_ref[i]
        if not moving[i] and j == j_end and old - ref < thr_on[i] and ref - old < thr_off[i]:
            continue  # static, nothing pending, no noise: no event in this block
        last = last_t[i]
        for s in range(n_steps):
            new = frames[s, i]
            ts = t0 + s * dt
            te = ts + dt
            while True:
                # the pixel's next signal crossing in this step, if any
                sig_t = te
                sig_p = 0
                level = ref
                if new - ref >= thr_on[i]:
                    level = ref + thr_on[i]
                    sig_p = 1
                elif ref - new >= thr_off[i]:
                    level = ref - thr_off[i]
                    sig_p = -1
                if sig_p != 0:
                    frac = 0.0
                    if new != old:
                        frac = (level - old) / (new - old)
                    frac = min(max(frac, 0.0), 1.0)
                    sig_t = min(ts + np.int64(frac * dt), te - 1)
                    sig_t = max(sig_t, last + refr)
                # the pixel's next noise event in this step, if any
                has_noise = j < j_end and n_t[j] < te
                if sig_t >= te and not has_noise:
                    break
                if has_noise and n_t[j] <= sig_t:
                    et = n_t[j]
                    ep = n_p[j]
                    j += 1
                    if et < last + refr:
                        continue  # suppressed by the refractory period
                else:
                    et = sig_t
                    ep = np.int8(1 if sig_p > 0 else 0)
                    ref = level
                if n >= cap:
                    out_t = _grow(out_t, n + 1)
                    out_pix = _grow(out_pix, n + 1)
                    out_p = _grow(out_p, n + 1)
                    cap = len(out_t)
                out_t[n] = et
                out_pix[n] = i
                out_p[n] = ep
                n += 1
                last = et
            old = new
        log_prev[i] = old
        log_ref[i] = ref
        last_t[i] = last
    return out_t[:n], out_pix[:n], out_p[:n]
