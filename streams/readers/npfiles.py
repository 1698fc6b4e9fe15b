"""numpy event files: spikestream's ``.npz``, structured ``.npy``, tonic's DVS Gesture ``.npy``.

- ``.npz`` (what :func:`~spikestream.streams.writers.save_events` writes): key
  ``events``, a 1-D structured array with fields t (integer µs), x, y, p (any
  order and int widths; :data:`EVENT_DTYPE` as written), and key ``sensor_size``,
  ``int64[3]`` ``(width, height, polarities)``. ``events`` is streamed from the
  zip member in chunks, so memory stays bounded.
- ``.npy`` holding such a structured array: it carries no sensor size, so
  ``sensor_size=`` is required.
- ``.npy`` of shape ``(N, 4)``: tonic's preprocessed DVS Gesture sample, columns
  ``x, y, p, t`` with ``t`` in **milliseconds** (tonic multiplies it by 1000), sensor
  128x128x2. tonic names each sample ``<user>_<lighting>/<class>.npy`` and takes
  the 0-based label from the file name: such a file gets one
  :class:`LabelledSegment` spanning its events.

``.npy`` files are memory-mapped and read in chunks. Nothing is ever unpickled
(``allow_pickle=False``). Timestamps must not go back; coordinates must fit
0..32767 and polarity be bool or -1/0/1; anything else is a :class:`FormatError`.
"""

from __future__ import annotations

import contextlib
import os
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats import FileFormat
from ..gestures import GESTURE_CLASSES
from ..source import FileSource, LabelledSegment
from ._prophesee_header import check_sensor_size

DVSGESTURE_SENSOR_SIZE = (128, 128, 2)
"""DVS128 array of tonic's DVS Gesture samples."""

_READ_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
    NotImplementedError,  # zip compression or flags zipfile does not support
    RuntimeError,  # an encrypted zip member
)  # fmt: skip
# numpy parses a .npy header with Python's tokenizer and ast: a corrupt header can
# raise any of these besides ValueError.
_HEADER_ERRORS = (
    *_READ_ERRORS, SyntaxError, TypeError, OverflowError, tokenize.TokenError, Warning,
)  # fmt: skip


@contextlib.contextmanager
def _header_warnings_as_errors() -> Iterator[None]:
    """Any warning while numpy parses a header (a deprecated dtype alias in a corrupt
    header...) becomes an error, reported as a :class:`FormatError`; except the
    note that a header needed numpy's Python 2 fallback parse: such files read fine."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings(
            "ignore", message="Reading `.npy` or `.npz` file required additional header"
        )
        yield


class _Converter:
    """Checks and converts raw columns to :data:`EVENT_DTYPE`, carrying the last t."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.last_t: int | None = None
        self.index = 0

    def __call__(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        t = t.astype(np.int64, copy=False)  # unsigned differences would never go negative
        checks = [
            ("x or y outside 0..32767", (x < 0) | (x > 32767) | (y < 0) | (y > 32767)),
        ]
        if p.dtype != np.bool_:
            checks.append(("polarity other than -1, 0 or 1", (p < -1) | (p > 1)))
        if t.size:
            first = t[0] if self.last_t is None else self.last_t
            checks.append(("timestamp before the previous event's", np.diff(t, prepend=first) < 0))
        for what, bad in checks:
            if np.any(bad):
                i = self.index + int(np.argmax(bad))
                raise FormatError(self.source, f"event {i}: {what}")
        ev = np.empty(len(t), EVENT_DTYPE)
        ev["t"], ev["x"], ev["y"] = t, x, y
        ev["p"] = p > 0
        if t.size:
            self.last_t = int(t[-1])
        self.index += len(t)
        return ev


def _structured_fields(source: Path, dtype: np.dtype) -> None:
    names = dtype.names or ()
    missing = [f for f in "txyp" if f not in names]
    if missing:
        raise FormatError(source, f"event array lacks field(s) {missing}; has {list(names)}")
    for f in "txy":
        if dtype[f].kind not in "iu":
            raise FormatError(
                source,
                f"field {f!r} must be integer ({'µs' if f == 't' else 'pixels'}), got {dtype[f]}",
            )
    if dtype["p"].kind not in "iub":
        raise FormatError(source, f"field 'p' must be integer or bool, got {dtype['p']}")


class NpzSource(FileSource):
    """spikestream's ``.npz`` (keys ``events`` and ``sensor_size``)."""

    def __init__(
        self, path: str | os.PathLike[str], sensor_size: tuple[int, ...] | None = None, **kwargs
    ) -> None:
        super().__init__(path, **kwargs)
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = set(zf.namelist())
                for key in ("events", "sensor_size"):
                    if f"{key}.npy" not in names:
                        raise FormatError(
                            self.path,
                            f"no {key!r} array (has {sorted(n[:-4] for n in names)})",
                        )
                with zf.open("sensor_size.npy") as f:
                    with _header_warnings_as_errors():
                        size = np.lib.format.read_array(f, allow_pickle=False)
                with zf.open("events.npy") as f:
                    self._dtype, self._count = self._read_header(f)
        except FormatError:
            raise
        except _HEADER_ERRORS as e:
            raise FormatError(self.path, f"not a readable .npz ({type(e).__name__}: {e})") from None
        if (
            size.shape not in ((2,), (3,))
            or size.dtype.kind not in "iu"
            or size.min() < 1
            or size[:2].max() > 1 << 15
        ):
            raise FormatError(self.path, f"sensor_size must be 3 positive integers, got {size!r}")
        self.sensor_size = check_sensor_size(tuple(int(v) for v in size))
        if sensor_size is not None and check_sensor_size(sensor_size) != self.sensor_size:
            raise FormatError(
                self.path,
                f"sensor_size={tuple(sensor_size)} disagrees with the file's {self.sensor_size}",
            )

    def _read_header(self, f) -> tuple[np.dtype, int]:
        version = npformat.read_magic(f)
        with _header_warnings_as_errors():
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
        if dtype.hasobject:
            raise FormatError(
                self.path, "'events' holds Python objects; only plain arrays are read"
            )
        if len(shape) != 1:
            raise FormatError(self.path, f"'events' must be 1-D, has shape {shape}")
        _structured_fields(self.path, dtype)
        return dtype, shape[0]

    def _chunks(self) -> Iterator[np.ndarray]:
        convert = _Converter(self.path)
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open("events.npy") as f:
                self._read_header(f)
                left = self._count
                while left:
                    n = min(left, self.chunk_events)
                    raw = f.read(n * self._dtype.itemsize)
                    if len(raw) < n * self._dtype.itemsize:
                        done = self._count - left + len(raw) // self._dtype.itemsize
                        raise FormatError(
                            self.path, f"'events' ends after {done} of {self._count} events"
                        )
                    a = np.frombuffer(raw, self._dtype)
                    left -= n
                    yield convert(a["t"], a["x"], a["y"], a["p"])
        except FormatError:
            raise
        except _HEADER_ERRORS as e:
            raise FormatError(
                self.path, f"cannot read 'events' ({type(e).__name__}: {e})"
            ) from None


class NpySource(FileSource):
    """A ``.npy``: a structured event array (``sensor_size=`` required) or tonic's
    DVS Gesture ``(N, 4)`` ``x, y, p, t_ms`` layout (128x128x2 unless told)."""

    def __init__(
        self, path: str | os.PathLike[str], sensor_size: tuple[int, ...] | None = None, **kwargs
    ) -> None:
        super().__init__(path, **kwargs)
        try:
            with _header_warnings_as_errors():
                arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except _HEADER_ERRORS as e:
            raise FormatError(self.path, f"not a readable .npy ({type(e).__name__}: {e})") from None
        if arr.dtype.names is not None:
            if arr.ndim != 1:
                raise FormatError(
                    self.path, f"a structured event array must be 1-D, has shape {arr.shape}"
                )
            _structured_fields(self.path, arr.dtype)
            if sensor_size is None:
                raise FormatError(
                    self.path, "a .npy event array holds no sensor size: pass sensor_size=(W, H)"
                )
            self.layout = "events"
        elif arr.ndim == 2 and arr.shape[1] == 4 and arr.dtype.kind in "iuf":
            self.layout = "dvsgesture"
            sensor_size = DVSGESTURE_SENSOR_SIZE if sensor_size is None else sensor_size
        else:
            raise FormatError(
                self.path,
                "expected a structured event array or tonic's DVS Gesture (N, 4) "
                f"x,y,p,t_ms array; got {arr.dtype} of shape {arr.shape}",
            )
        self.sensor_size = check_sensor_size(sensor_size)
        self._array = arr
        if self.layout == "dvsgesture" and self.path.stem.isdigit() and len(arr):
            label = int(self.path.stem)
            ends = np.asarray(arr[[0, -1]])
            if label < len(GESTURE_CLASSES) and np.all(np.isfinite(ends)):
                t0, t1 = (int(v) for v in self._columns(ends)[0])
                self.labels = (LabelledSegment(label, GESTURE_CLASSES[label], t0, t1 + 1),)

    @staticmethod
    def _columns(a: np.ndarray) -> tuple[np.ndarray, ...]:
        """tonic DVS Gesture rows ``(n, 4)`` -> ``t_us, x, y, p``."""
        t = a[:, 3] * 1000
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise ValueError("non-finite value")
            t = np.rint(t)
        return t.astype(np.int64), a[:, 0], a[:, 1], a[:, 2]

    def _chunks(self) -> Iterator[np.ndarray]:
        convert = _Converter(self.path)
        a = self._array
        for i in range(0, len(a), self.chunk_events):
            part = np.asarray(a[i : i + self.chunk_events])
            if self.layout == "events":
                yield convert(part["t"], part["x"], part["y"], part["p"])
                continue
            try:
                cols = self._columns(part)
            except ValueError:
                raise FormatError(
                    self.path, f"rows {i}..{i + len(part) - 1} hold NaN or infinity"
                ) from None
            x, y = cols[1], cols[2]
            if a.dtype.kind == "f" and np.any((x != np.floor(x)) | (y != np.floor(y))):
                raise FormatError(
                    self.path, f"rows {i}..{i + len(part) - 1}: x or y is not a whole number"
                )
            yield convert(cols[0], x, y, cols[3])

    def close(self) -> None:
        super().close()
        self.__dict__.pop("_array", None)


def _sniff(head: bytes, suffix: str) -> bool:
    if suffix == ".npy":
        return head.startswith(b"\x93NUMPY")
    if suffix == ".npz":
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    return False


def open_np(path: str | os.PathLike[str], **kwargs) -> FileSource:
    """Open a ``.npz`` or ``.npy`` event file; see :class:`NpzSource`, :class:`NpySource`."""
    p = Path(path)
    return NpzSource(p, **kwargs) if p.suffix.lower() == ".npz" else NpySource(p, **kwargs)


FORMAT = FileFormat(
    name="numpy",
    description="spikestream .npz (events + sensor_size), structured .npy, tonic DVS Gesture .npy",
    suffixes=(".npz", ".npy"),
    sniff=_sniff,
    open=open_np,
)
