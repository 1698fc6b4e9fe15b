"""Summary statistics of an event stream, computed in one streaming pass.

Used by ``spikestream info`` and the demos. Memory is bounded by the number of
milliseconds in the stream (one int64 per ms for the rate histogram), never by
the number of events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from .events import SensorSize


@dataclass(frozen=True)
class StreamStats:
    """What a user wants to know about a recording first.

    Attributes:
        sensor_size: ``(width, height, polarities)``.
        events: number of events.
        on, off: events with ``p == 1`` and ``p == 0``.
        t_first_us, t_last_us: first and last timestamps (0 when empty).
        duration_us: ``t_last_us - t_first_us``.
        rate_mean_per_ms: events per millisecond over the duration.
        rate_p99_per_ms: 99th percentile of the per-millisecond event count.
        x_range, y_range: smallest and largest coordinate seen (``(0, -1)`` when empty).
        non_monotonic: events whose timestamp is smaller than the one before.
    """

    sensor_size: SensorSize
    events: int
    on: int
    off: int
    t_first_us: int
    t_last_us: int
    duration_us: int
    rate_mean_per_ms: float
    rate_p99_per_ms: float
    x_range: tuple[int, int]
    y_range: tuple[int, int]
    non_monotonic: int

    def to_json(self) -> dict:
        d = asdict(self)
        d["sensor_size"] = list(self.sensor_size)
        d["x_range"] = list(self.x_range)
        d["y_range"] = list(self.y_range)
        return d


def stream_stats(chunks: Iterable[np.ndarray], sensor_size: SensorSize) -> StreamStats:
    """Statistics of a stream of event chunks (``(N,)`` EVENT_DTYPE arrays).

    The per-ms histogram is anchored at the first event's millisecond and grows
    as the stream goes on; timestamps that go back before the first event are
    counted as non-monotonic and binned into the first millisecond.
    """
    n = on = 0
    t_first = t_last = None
    prev_t = None
    xmin = ymin = np.iinfo(np.int64).max
    xmax = ymax = -1
    non_mono = 0
    per_ms = np.zeros(0, dtype=np.int64)
    for ev in chunks:
        if not len(ev):
            continue
        t = ev["t"]
        if t_first is None:
            t_first = int(t[0])
        non_mono += int(np.count_nonzero(np.diff(t) < 0))
        if prev_t is not None and t[0] < prev_t:
            non_mono += 1
        prev_t = int(t[-1])
        t_last = int(t.max()) if t_last is None else max(t_last, int(t.max()))
        n += len(ev)
        on += int(np.count_nonzero(ev["p"] > 0))
        xmin, xmax = min(xmin, int(ev["x"].min())), max(xmax, int(ev["x"].max()))
        ymin, ymax = min(ymin, int(ev["y"].min())), max(ymax, int(ev["y"].max()))
        ms = np.maximum((t - t_first) // 1000, 0)
        counts = np.bincount(ms)
        if len(counts) > len(per_ms):
            per_ms = np.concatenate([per_ms, np.zeros(len(counts) - len(per_ms), np.int64)])
        per_ms[: len(counts)] += counts
    if t_first is None:
        return StreamStats(sensor_size, 0, 0, 0, 0, 0, 0, 0.0, 0.0, (0, -1), (0, -1), 0)
    duration = t_last - t_first
    return StreamStats(
        sensor_size=tuple(sensor_size),
        events=n,
        on=on,
        off=n - on,
        t_first_us=t_first,
        t_last_us=t_last,
        duration_us=duration,
        rate_mean_per_ms=n / max(duration / 1000.0, 1e-3),
        rate_p99_per_ms=float(np.percentile(per_ms, 99)),
        x_range=(xmin, xmax),
        y_range=(ymin, ymax),
        non_monotonic=non_mono,
    )
