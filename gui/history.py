"""``Ring``: fixed-capacity float history (stream time, value), for timelines.

Appending is O(1) without allocation; :meth:`Ring.tail` returns fresh, time-ordered
copies reduced to at most ``points`` samples (bucket max or mean), so a snapshot
holding them is immutable and small whatever the window rate.
"""

from __future__ import annotations

import numpy as np


class Ring:
    """The last ``capacity`` ``(t_s, value)`` samples.

    Args:
        capacity: samples kept (>= 1).
        dtype: value dtype.
    """

    def __init__(self, capacity: int, dtype: type = np.float32) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.t = np.zeros(self.capacity, np.float64)
        self.v = np.zeros(self.capacity, dtype)
        self.n = 0  # samples ever appended

    def append(self, t_s: float, value: float) -> None:
        k = self.n % self.capacity
        self.t[k] = t_s
        self.v[k] = value
        self.n += 1

    def clear(self) -> None:
        self.n = 0

    def __len__(self) -> int:
        return min(self.n, self.capacity)

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, v)`` copies, oldest first."""
        m = len(self)
        if self.n <= self.capacity:
            return self.t[:m].copy(), self.v[:m].copy()
        k = self.n % self.capacity
        return np.concatenate((self.t[k:], self.t[:k])), np.concatenate((self.v[k:], self.v[:k]))

    def tail(self, points: int, reduce: str = "max", since_s: float | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """At most ``points`` samples, oldest first, from ``since_s`` on: consecutive
        samples are merged by ``reduce`` (``"max"``, ``"mean"`` or ``"last"``)."""
        t, v = self.ordered()
        if since_s is not None and len(t):
            k = int(np.searchsorted(t, since_s, side="left"))
            t, v = t[k:], v[k:]
        step = -(-len(t) // points) if points > 0 else 1
        if step <= 1:
            return t, v
        m = len(t) // step * step
        head_t, head_v = t[:m].reshape(-1, step), v[:m].reshape(-1, step)
        if reduce == "max":
            rv = head_v.max(axis=1)
        elif reduce == "mean":
            rv = head_v.mean(axis=1).astype(v.dtype)
        else:
            rv = head_v[:, -1]
        return head_t[:, -1].copy(), rv
