"""Writing recordings: spikestream ``.npz``, event CSV, and Prophesee EVT 2.0 ``.raw``.

:func:`save_events` picks the format from the suffix; every format it writes is
read back by :func:`~spikestream.streams.open.open_source` with the same events
and sensor size:

- ``.npz``: ``events`` (:data:`EVENT_DTYPE`) and ``sensor_size`` (``int64[3]``),
  written by ``np.savez`` (no pickles);
- ``.csv``: a ``# sensor_size: W H`` comment, a ``t,x,y,p`` header, one event per line;
- ``.raw``: EVT 2.0 (:func:`write_evt2`), so a recording can be replayed by any
  tool that reads Prophesee files.

Files are written to a temporary name beside the target and renamed into
place, so a failed write never leaves a half-written recording behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numba import njit

from .events import SensorSize, as_events, check_in_sensor

SUFFIXES = (".npz", ".csv", ".raw")
_CHUNK = 1 << 20
_TH_STEP = 1 << 26
"""Largest step between consecutive EVT 2.0 time-high words (2**32 µs): far below
half the 28-bit range, so a reader can always tell a wrap from a step back."""


def _checked(
    path: Path, events: np.ndarray, sensor_size: SensorSize
) -> tuple[np.ndarray, SensorSize]:
    size = tuple(int(v) for v in sensor_size)
    if len(size) == 2:
        size = (*size, 2)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(
            f"{path}: sensor_size must be (width, height, polarities) > 0, got {sensor_size}"
        )
    arr = np.asarray(events)
    if arr.ndim != 1:
        raise ValueError(f"{path}: events must be 1-D, got shape {arr.shape}")
    ev = as_events(arr, path)
    for name, limit in (("x", size[0]), ("y", size[1])):
        if len(arr) and (arr[name].min() < 0 or arr[name].max() >= limit):
            raise ValueError(
                f"{path}: {name} outside 0..{limit - 1} of the {size[0]}x{size[1]} sensor"
            )
    check_in_sensor(ev, size, path)  # type: ignore[arg-type]
    if len(ev) and np.any(np.diff(ev["t"]) < 0):
        i = int(np.argmax(np.diff(ev["t"]) < 0)) + 1
        raise ValueError(f"{path}: events are not in time order (event {i} goes back in time)")
    return ev, size  # type: ignore[return-value]


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_events(path: str | os.PathLike[str], events: np.ndarray, sensor_size: SensorSize) -> Path:
    """Write ``events`` (``(N,)``, any structured array with t, x, y, p) to ``path``.

    The format follows the suffix: ``.npz``, ``.csv`` or ``.raw`` (EVT 2.0).

    Raises:
        ValueError: unknown suffix, events outside ``sensor_size`` or out of time order.

    Returns:
        the path written.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".raw":
        return write_evt2(p, events, sensor_size)
    if suffix not in SUFFIXES:
        raise ValueError(
            f"{p}: cannot write {suffix or 'no suffix'!r}; known: {', '.join(SUFFIXES)}"
        )
    ev, size = _checked(p, events, sensor_size)
    with _atomic(p) as f:
        if suffix == ".npz":
            np.savez(f, events=ev, sensor_size=np.asarray(size, np.int64))
        else:
            npol = "" if size[2] == 2 else f" {size[2]}"
            f.write(f"# sensor_size: {size[0]} {size[1]}{npol}\nt,x,y,p\n".encode())
            for i in range(0, len(ev), _CHUNK):
                c = ev[i : i + _CHUNK]
                cols = np.column_stack([c["t"], c["x"], c["y"], c["p"]]).astype(np.int64)
                np.savetxt(f, cols, fmt="%d", delimiter=",")
    return p


@njit(cache=True)
def encode_evt2(t, x, y, p, out, state):  # pragma: no cover - numba
    """Encode events into EVT 2.0 words ``out`` (uint32); returns the word count.

    ``state[0]`` is the last time high written (``t >> 6``, -1 before the first),
    carried across calls. A time-high word precedes each event whose ``t >> 6``
    differs from the last; gaps longer than :data:`_TH_STEP` get intermediate
    time-high words.
    """
    n = 0
    last = state[0]
    for i in range(t.shape[0]):
        th = t[i] >> 6
        if th != last:
            if last >= 0:
                while th - last > _TH_STEP:
                    last += _TH_STEP
                    out[n] = (8 << 28) | (last & 0x0FFFFFFF)
                    n += 1
            out[n] = (8 << 28) | (th & 0x0FFFFFFF)
            n += 1
            last = th
        out[n] = (np.int64(p[i]) << 28) | ((t[i] & 63) << 22) | (np.int64(x[i]) << 11) | y[i]
        n += 1
    state[0] = last
    return n


def write_evt2(path: str | os.PathLike[str], events: np.ndarray, sensor_size: SensorSize) -> Path:
    """Write ``events`` as a Prophesee EVT 2.0 ``.raw`` file.

    The header states ``% evt 2.0``, ``% format EVT2;height=H;width=W`` and
    ``% geometry WxH`` and ends with ``% end``. Timestamps must be ``>= 0`` and in
    time order; the sensor at most 2048x2048 (11-bit coordinates).

    Returns:
        the path written.
    """
    p = Path(path)
    ev, size = _checked(p, events, sensor_size)
    w, h = size[0], size[1]
    if w > 2048 or h > 2048:
        raise ValueError(f"{p}: EVT 2.0 encodes at most 2048x2048 pixels, sensor is {w}x{h}")
    if len(ev) and ev["t"][0] < 0:
        raise ValueError(f"{p}: EVT 2.0 cannot encode negative timestamps (first t={ev['t'][0]})")
    header = (
        f"% evt 2.0\n% format EVT2;height={h};width={w}\n% geometry {w}x{h}\n"
        f"% integrator_name spikestream\n% end\n"
    )
    state = np.array([-1], np.int64)
    with _atomic(p) as f:
        f.write(header.encode("ascii"))
        for i in range(0, len(ev), _CHUNK):
            c = ev[i : i + _CHUNK]
            th = c["t"] >> 6
            gaps = np.diff(th, prepend=max(int(state[0]), int(th[0])))
            out = np.empty(2 * len(c) + int((gaps // _TH_STEP).sum()) + 1, np.uint32)
            n = encode_evt2(c["t"], c["x"], c["y"], c["p"], out, state)
            f.write(out[:n].tobytes())
    return p
