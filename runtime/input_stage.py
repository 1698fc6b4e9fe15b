"""The input stage: an event window becomes the first layer's input.

Each event of the window is cropped to :attr:`InputSpec.region` (events outside are
not the network's input: they are counted in ``n_outside``, not lost silently),
downsampled (``x // fx``, ``y // fy``), given a channel (its polarity for
``"split"``, 0 for ``"merge"``) and turned into a flat index
``c * H * W + y * W + x`` of the ``(C, H, W)`` input. The dense input is the count
of events per index (``"count"``) or 1 where any (``"binary"``); the sparse input is
the same as sorted unique indices and their values. Pure vectorised numpy (it is
in the timed step); training bins its frames with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import InputSpec


@dataclass(frozen=True)
class InputStage:
    """Vectorised input stage for one :class:`InputSpec`.

    Attributes:
        spec: the model's input spec.
    """

    spec: InputSpec

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the input."""
        return self.spec.shape

    @property
    def size(self) -> int:
        """``C * H * W``."""
        c, h, w = self.spec.shape
        return c * h * w

    def indices(self, events: np.ndarray) -> np.ndarray:
        """Flat input index of every event inside the region, in event order.

        Args:
            events: ``(N,)`` EVENT_DTYPE.

        Returns:
            ``(M,)`` int64, ``M <= N`` (events outside the crop are left out).

        Raises:
            ValueError: without a crop, an event outside ``sensor_size``.
        """
        s = self.spec
        _, h, w = s.shape
        x0, y0, rw, rh = s.region
        fx, fy = s.downsample
        x = events["x"].astype(np.int64)
        y = events["y"].astype(np.int64)
        if s.crop is not None:
            if x0:
                x -= x0
            if y0:
                y -= y0
            keep = (x >= 0) & (x < rw) & (y >= 0) & (y < rh)
            if not keep.all():
                x, y, events = x[keep], y[keep], events[keep]
        elif len(x) and (x.max() >= rw or y.max() >= rh or x.min() < 0 or y.min() < 0):
            self._outside(events)
        if fx != 1:
            x //= fx
        if fy != 1:
            y //= fy
        idx = y * w
        idx += x
        if s.polarity == "split":
            idx += (events["p"] != 0).astype(np.int64) * (h * w)
        return idx

    def _outside(self, events: np.ndarray) -> None:
        w, h, _ = self.spec.sensor_size
        bad = (events["x"] < 0) | (events["x"] >= w) | (events["y"] < 0) | (events["y"] >= h)
        i = int(np.flatnonzero(bad)[0]) if bad.any() else 0
        raise ValueError(f"event {i} at (x={events['x'][i]}, y={events['y'][i]}) lies outside "
                         f"the model's {w}x{h} input sensor (input.sensor_size)")

    def n_outside(self, events: np.ndarray) -> int:
        """Events of ``events`` outside the crop region (0 without a crop)."""
        return len(events) - len(self.indices(events))

    def dense(self, events: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``(C, H, W)`` float32 input of one window (``out`` is filled if given)."""
        counts = np.bincount(self.indices(events), minlength=self.size)
        if self.spec.mode == "binary":
            np.minimum(counts, 1, out=counts)
        if out is None:
            return counts.astype(np.float32).reshape(self.shape)
        out.reshape(-1)[:] = counts
        return out

    def dense_batch(self, windows_events: list[np.ndarray],
                    out: np.ndarray | None = None) -> np.ndarray:
        """``(B, C, H, W)`` float32 input of ``B`` streams' windows."""
        if out is None:
            out = np.empty((len(windows_events), *self.shape), np.float32)
        for b, ev in enumerate(windows_events):
            self.dense(ev, out[b])
        return out

    def sparse(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Non-zero entries of :meth:`dense`: sorted unique flat ``(K,)`` int64
        indices and their ``(K,)`` float32 values."""
        idx = self.indices(events)
        if not len(idx):
            return idx, np.zeros(0, np.float32)
        u, counts = np.unique(idx, return_counts=True)
        if self.spec.mode == "binary":
            return u, np.ones(len(u), np.float32)
        return u, counts.astype(np.float32)
