"""``SyntheticSource``: the simulated DVS128 as a :class:`~spikestream.streams.source.Source`.

It behaves like a recording (``live = False``: a pacer paces it): iterating it
renders the events from t = 0 in chunks of ``block_us``, and iterating again
starts again and gives the same events. A finite source carries its gestures in
``labels``; an unbounded one (``duration_s=None`` and no gesture count) exposes
the gestures begun so far in :attr:`SyntheticSource.segments_so_far`.

URI (see :func:`open_synthetic`)::

    synthetic://gesture?seed=3&duration_s=20&classes=0,1,2
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from ..errors import SourceError
from ..events import SensorSize
from ..gestures import GESTURE_CLASSES
from ..source import LabelledSegment, Source
from .render import DEFAULT_BLOCK_US, DEFAULT_SENSOR, Recording
from .simulator import PixelConfig

SCENES = ("gesture",)
"""Scenes a ``synthetic://`` URI may name (the host part)."""


class SyntheticSource(Source):
    """Events of the built-in gesture simulator.

    Args:
        seed: recording seed; the same seed gives the same events.
        duration_s: length in seconds; None: unbounded, unless ``gestures`` or
            ``n_gestures`` is given (then it ends after the last gesture's pause).
        sensor_size: ``(width, height, 2)``.
        gestures: classes (0-based) to perform in this order.
        classes: classes to draw from (default all 11), each round in a new order.
        n_gestures: number of gestures.
        gesture_s: gesture duration in seconds, or a ``(low, high)`` range.
        pause_s: still pause before each gesture, s or range.
        pixel: pixel model constants (default: drawn from the seed).
        pixel_overrides: :class:`PixelConfig` fields to set on top.
        block_us: stream time per chunk (a multiple of the 1 ms internal step).
        name: name in messages (default: the equivalent URI).
    """

    live = False

    def __init__(
        self,
        seed: int = 0,
        duration_s: float | None = None,
        sensor_size: SensorSize = DEFAULT_SENSOR,
        *,
        gestures: Sequence[int] | None = None,
        classes: Sequence[int] | None = None,
        n_gestures: int | None = None,
        gesture_s: float | Sequence[float] = (3.0, 6.0),
        pause_s: float | Sequence[float] = (0.5, 1.5),
        pixel: PixelConfig | None = None,
        pixel_overrides: dict | None = None,
        block_us: int = DEFAULT_BLOCK_US,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.name = name or f"synthetic://gesture?seed={seed}" + (
            "" if duration_s is None else f"&duration_s={duration_s:g}"
        )
        try:
            self.recording = Recording(
                seed,
                duration_s,
                gestures=gestures,
                classes=classes,
                n_gestures=n_gestures,
                gesture_s=gesture_s,
                pause_s=pause_s,
                sensor_size=sensor_size,
                pixel=pixel,
                pixel_overrides=pixel_overrides,
            )
            dt = self.recording.pixel.dt_us
            if block_us < dt or block_us % dt:
                raise ValueError(f"block_us must be a positive multiple of {dt}, got {block_us}")
        except (ValueError, TypeError) as e:
            raise SourceError(self.name, str(e)) from None
        self.block_us = int(block_us)
        self.sensor_size = self.recording.sensor_size
        if self.recording.end_us is not None:
            self.labels = self.recording.segments()

    @property
    def duration_us(self) -> int | None:
        """Length of the stream in µs (None: unbounded)."""
        return self.recording.end_us

    @property
    def segments_so_far(self) -> tuple[LabelledSegment, ...]:
        """Gestures begun before the end of the last chunk rendered (any source)."""
        return self.recording.segments(self.recording.rendered_until_us)

    def _chunks(self) -> Iterator[np.ndarray]:
        return self.recording.chunks(self.block_us)


def open_synthetic(uri: str, **kwargs) -> SyntheticSource:
    """Open ``synthetic://gesture?key=value&...`` as a :class:`SyntheticSource`.

    Keys: ``seed``, ``duration_s``, ``classes`` and ``gestures`` (comma-separated
    0-based indices or class names), ``n_gestures``, ``gesture_s`` and ``pause_s``
    (one number or ``low,high``), ``width``, ``height``, ``block_ms``, and pixel
    constants ``threshold`` (both polarities), ``thr_on``, ``thr_off``,
    ``thr_sigma``, ``refractory_us``, ``ba_rate_hz``, ``hot_pixels``,
    ``hot_rate_hz``. Keyword arguments are passed to :class:`SyntheticSource`
    and win over the URI.

    Raises:
        SourceError: an unknown scene or key (the message lists the valid ones),
            a repeated key, or a value that does not parse or is out of range.
    """
    parts = urlsplit(uri)
    if parts.scheme != "synthetic":
        raise SourceError(uri, "not a synthetic:// URI")
    scene = parts.netloc or "gesture"
    if scene not in SCENES or parts.path not in ("", "/"):
        raise SourceError(
            uri, f"unknown synthetic scene {scene + parts.path!r}; known: {', '.join(SCENES)}"
        )
    args: dict = {}
    pixel: dict = {}
    size = list(DEFAULT_SENSOR)
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _KEYS:
            raise SourceError(uri, f"unknown key {key!r}; valid keys: {', '.join(sorted(_KEYS))}")
        if key in seen:
            raise SourceError(uri, f"key {key!r} given twice")
        seen.add(key)
        try:
            parsed = _KEYS[key](value)
        except ValueError as e:
            raise SourceError(uri, f"bad value for {key}: {value!r} ({e})") from None
        if key in ("width", "height"):
            size[0 if key == "width" else 1] = parsed
        elif key == "block_ms":
            args["block_us"] = parsed * 1000
        elif key == "threshold":
            pixel["thr_on"] = pixel["thr_off"] = parsed
        elif key in _PIXEL_KEYS:
            pixel[_PIXEL_KEYS[key]] = parsed
        else:
            args[key] = parsed
    args["sensor_size"] = tuple(size)
    if pixel:
        args["pixel_overrides"] = pixel
    args.update(kwargs)
    args.setdefault("name", uri)
    return SyntheticSource(**args)


def _int(text: str) -> int:
    return int(text.strip())


def _nonneg_float(text: str) -> float:
    v = float(text)
    if not np.isfinite(v) or v < 0:
        raise ValueError("must be a finite number >= 0")
    return v


def _classes(text: str) -> tuple[int, ...]:
    names = {n.replace("-", " ").replace("_", " "): i for i, n in enumerate(GESTURE_CLASSES)}
    out = []
    for item in text.split(","):
        item = item.strip()
        if item.isdigit():
            out.append(int(item))
        elif item.lower().replace("-", " ").replace("_", " ") in names:
            out.append(names[item.lower().replace("-", " ").replace("_", " ")])
        else:
            raise ValueError(
                f"{item!r} is neither a class index 0..{len(GESTURE_CLASSES) - 1} "
                f"nor a class name ({', '.join(GESTURE_CLASSES)})"
            )
    return tuple(out)


def _range(text: str) -> float | tuple[float, float]:
    vals = [_nonneg_float(v) for v in text.split(",")]
    if len(vals) == 1:
        return vals[0]
    if len(vals) == 2:
        return vals[0], vals[1]
    raise ValueError("give one number or low,high")


_PIXEL_KEYS = {
    "thr_on": "thr_on",
    "thr_off": "thr_off",
    "thr_sigma": "thr_sigma",
    "refractory_us": "refractory_us",
    "ba_rate_hz": "ba_rate_hz",
    "hot_pixels": "n_hot_pixels",
    "hot_rate_hz": "hot_rate_hz",
}
_KEYS = {
    "seed": _int,
    "duration_s": _nonneg_float,
    "classes": _classes,
    "gestures": _classes,
    "n_gestures": _int,
    "gesture_s": _range,
    "pause_s": _range,
    "width": _int,
    "height": _int,
    "block_ms": _int,
    "threshold": _nonneg_float,
    "thr_on": _nonneg_float,
    "thr_off": _nonneg_float,
    "thr_sigma": _nonneg_float,
    "refractory_us": _int,
    "ba_rate_hz": _nonneg_float,
    "hot_pixels": _int,
    "hot_rate_hz": _nonneg_float,
}
