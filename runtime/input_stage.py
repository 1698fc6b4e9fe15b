"""The input stage: an event window becomes the first layer's input.

Each event of the window is cropped to :attr:`InputSpec.region` (events outside are
not the network's input: :meth:`InputStage.n_outside` counts them),
downsampled (``x // fx``, ``y // fy``), given a channel (its polarity for
``"split"``, 0 for ``"merge"``) and turned into a flat index
``c * H * W + y * W + x`` of the ``(C, H, W)`` input, all by one table lookup
(:attr:`InputStage.lut`). The dense input is the count
of events per index (``"count"``) or 1 where any (``"binary"``); the sparse input is
the same as sorted unique indices and their values. Pure vectorised numpy (it is
in the timed step); training bins its frames with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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

    @cached_property
    def lut(self) -> np.ndarray:
        """``(2, sensor_h, sensor_w)`` int32 flat input index of each sensor pixel and
        polarity, -1 outside the crop: the whole input stage as one table."""
        s = self.spec
        sw, sh, _ = s.sensor_size
        _, h, w = s.shape
        x0, y0, rw, rh = s.region
        fx, fy = s.downsample
        x = np.arange(sw) - x0
        y = np.arange(sh) - y0
        inside = ((y >= 0) & (y < rh))[:, None] & ((x >= 0) & (x < rw))[None, :]
        flat = (y // fy)[:, None] * w + (x // fx)[None, :]
        lut = np.where(inside, flat, -1)
        off = h * w if s.polarity == "split" else 0
        table = np.stack([lut, np.where(inside, lut + off, -1)]).astype(np.int32)
        table.setflags(write=False)
        return table

    def indices(self, events: np.ndarray) -> np.ndarray:
        """Flat input index of every event inside the region, in event order.

        Args:
            events: ``(N,)`` EVENT_DTYPE.

        Returns:
            ``(M,)`` int32, ``M <= N`` (events outside the crop are left out).

        Raises:
            ValueError: an event outside ``sensor_size`` (or with a polarity not 0/1).
        """
        try:  # unsigned views: a negative coordinate is out of range, never wrapped
            idx = self.lut[events["p"].view(np.uint8), events["y"].view(np.uint16),
                           events["x"].view(np.uint16)]
        except IndexError:
            self._outside(events)
        if self.spec.crop is not None:
            idx = idx[idx >= 0]
        return idx

    def _outside(self, events: np.ndarray) -> None:
        w, h, _ = self.spec.sensor_size
        x, y, p = events["x"], events["y"], events["p"]
        bad = (x < 0) | (x >= w) | (y < 0) | (y >= h) | (p < 0) | (p > 1)
        i = int(np.flatnonzero(bad)[0]) if bad.any() else 0
        raise ValueError(f"event {i} at (x={x[i]}, y={y[i]}, p={p[i]}) lies outside the "
                         f"model's {w}x{h} input sensor (input.sensor_size)")

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
        """Non-zero entries of :meth:`dense`: sorted unique flat ``(K,)`` int32
        indices and their ``(K,)`` float32 values."""
        idx = self.indices(events)
        if not len(idx):
            return idx, np.zeros(0, np.float32)
        u, counts = np.unique(idx, return_counts=True)
        if self.spec.mode == "binary":
            return u, np.ones(len(u), np.float32)
        return u, counts.astype(np.float32)
