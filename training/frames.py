"""A labelled :class:`~.datasets.Dataset` binned into a :class:`~.data.FrameSet`.

Every sample is read by the dataset's own reader (the stream readers a replay
uses) and binned by :meth:`~.data.Binning.frames` into ``T`` frames of ``dt_us``: a
whole recording from its first event's window (as the live Windower anchors), a
labelled segment from its ``t_start_us`` (the segment's events are those of
``[t_start_us, t_end_us)``; those past ``T * dt_us`` are not part of the sample and
are counted as unused). Loaded sets are cached in memory per process, keyed by the
dataset, the binning and the limit, so a loop that evaluates the same data twice
reads it once.
"""

from __future__ import annotations

import numpy as np

from ..streams.errors import FormatError
from ..streams.windowing import grid_start_us
from .data import Binning, FrameSet, pack_frames
from .datasets import Dataset

_CACHE: dict[tuple, FrameSet] = {}


def check_sensor(dataset: Dataset, binning: Binning) -> None:
    """Raise :class:`FormatError` unless the input stage is for the dataset's sensor.

    Only width and height must match (a 1-polarity spec reads 2-polarity data as
    the runtime does: ``polarity="merge"``)."""
    w, h = binning.input.sensor_size[:2]
    dw, dh = dataset.sensor_size[:2]
    if (w, h) != (dw, dh):
        raise FormatError(dataset.root, f"{dataset.layout} recordings are {dw}x{dh}, but the "
                                        f"model input expects {w}x{h}")


def load_frames(dataset: Dataset, binning: Binning, limit: int | None = None,
                cache: bool = True, keep_events: bool = False) -> FrameSet:
    """Read and bin the samples of ``dataset``.

    Args:
        dataset: any registered layout (:func:`~.datasets.open_dataset`).
        binning: input stage, ``dt_us`` and ``T``; its sensor must be the dataset's.
        limit: keep only the first ``limit`` samples (the layout's order).
        cache: reuse (and keep) the in-memory result for the same arguments.
        keep_events: also keep each sample's events and grid anchor
            (:attr:`~.data.FrameSet.events`, ``t0_us``) for augmentations that re-bin.

    Returns:
        ``N`` samples: frames ``(N, T, C, H, W)`` unsigned counts, labels ``(N,)``,
        names, ``n_events`` (events of the sample: the recording, or the segment)
        and ``n_used`` (those inside the ``T`` windows and the crop).

    Raises:
        FormatError: another sensor, no samples, or a bad recording (naming it).
    """
    key = (str(dataset.root.resolve()), dataset.layout, len(dataset.samples), binning, limit,
           keep_events)
    if cache and key in _CACHE:
        return _CACHE[key]
    check_sensor(dataset, binning)
    ds = dataset.limited(limit)
    if not len(ds):
        raise FormatError(dataset.root, f"{dataset.layout} dataset: no recordings to load")
    frames, n_events, n_used, kept, t0s = [], [], [], [], []
    for sample, ev in ds.iter_events():
        t0 = sample.t_start_us
        if t0 is None:
            t0 = grid_start_us(ev["t"][0], binning.dt_us) if len(ev) else 0
        f, used = binning.frames(ev, t0)
        frames.append(f)
        n_events.append(len(ev))
        n_used.append(used)
        if keep_events:
            kept.append(ev.copy())
            t0s.append(t0)
    data = FrameSet(
        frames=pack_frames(frames),
        labels=ds.labels,
        classes=ds.classes,
        binning=binning,
        names=[s.name for s in ds.samples],
        n_events=np.array(n_events, np.int64),
        n_used=np.array(n_used, np.int64),
        source=str(dataset.root),
        events=kept if keep_events else None,
        t0_us=np.array(t0s, np.int64) if keep_events else None,
    )
    if cache:
        _CACHE[key] = data
    return data
