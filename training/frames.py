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
                cache: bool = True) -> FrameSet:
    """Read and bin the samples of ``dataset``.

    Args:
        dataset: any registered layout (:func:`~.datasets.open_dataset`).
        binning: input stage, ``dt_us`` and ``T``; its sensor must be the dataset's.
        limit: keep only the first ``limit`` samples (the layout's order).
        cache: reuse (and keep) the in-memory result for the same arguments.

    Returns:
        ``N`` samples: frames ``(N, T, C, H, W)`` unsigned counts, labels ``(N,)``,
        names, ``n_events`` (events of the sample: the recording, or the segment)
        and ``n_used`` (those inside the ``T`` windows and the crop).

    Raises:
        FormatError: another sensor, no samples, or a bad recording (naming it).
    """
    key = (str(dataset.root.resolve()), dataset.layout, len(dataset.samples), binning, limit)
    if cache and key in _CACHE:
        return _CACHE[key]
    check_sensor(dataset, binning)
    ds = dataset.limited(limit)
    if not len(ds):
        raise FormatError(dataset.root, f"{dataset.layout} dataset: no recordings to load")
    frames, n_events, n_used = [], [], []
    for sample, ev in ds.iter_events():
        f, used = binning.frames(ev, sample.t_start_us)
        frames.append(f)
        n_events.append(len(ev))
        n_used.append(used)
    data = FrameSet(
        frames=pack_frames(frames),
        labels=ds.labels,
        classes=ds.classes,
        binning=binning,
        names=[s.name for s in ds.samples],
        n_events=np.array(n_events, np.int64),
        n_used=np.array(n_used, np.int64),
        source=str(dataset.root),
    )
    if cache:
        _CACHE[key] = data
    return data
