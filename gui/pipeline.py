"""What the GUI runs: a source, a model chosen for it, an engine and a window feed.

:func:`choose_model` picks the model when the user gave none: the shipped gesture
model ``gesture-synthetic`` when it is installed, else the shipped N-MNIST model for a
34x34 source, else a clear error saying which model to pass. :func:`open_pipeline`
opens the source (``spikestream.streams.open.open_source``), the engine and the feed,
and checks that the model's input sensor is the source's (``Engine.check_source``
raises :class:`~spikestream.runtime.errors.ModelError` otherwise); on any error the
source is closed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models import available
from ..models import resolve as resolve_model
from ..runtime.errors import ModelError
from ..runtime.timeline import source_labels
from .feed import WindowFeed

GESTURE_MODEL = "gesture-synthetic"
"""The shipped DVS gesture model, preferred when installed."""
NMNIST_MODEL = "nmnist-stbp"
"""The shipped N-MNIST model, the default for a 34x34 source."""


def model_sensor(model: str) -> tuple[int, int]:
    """``(width, height)`` of a model file's input sensor (name or path)."""
    from ..runtime.model_file import load_model

    w, h, _ = load_model(resolve_model(model)).spec.input.sensor_size
    return int(w), int(h)


def choose_model(model: str | None, sensor_size: tuple[int, ...], source: str = "source",
                 shipped: list[str] | None = None) -> str:
    """The model file to run on a source of ``sensor_size``.

    Args:
        model: the user's choice (a shipped name or a path), used as is when given.
        sensor_size: the source's ``(width, height, ...)``.
        source: the source's name, for the message.
        shipped: names of the shipped models (default: ``models.available()``).

    Raises:
        ModelError: no model given and no shipped model fits the sensor.
    """
    if model:
        return resolve_model(model)
    names = available() if shipped is None else shipped
    w, h = int(sensor_size[0]), int(sensor_size[1])
    nmnist = NMNIST_MODEL in names and (w, h) == (34, 34)
    if GESTURE_MODEL in names:
        path = resolve_model(GESTURE_MODEL)
        if not nmnist or model_sensor(path) == (w, h):
            return path  # on another sensor, Engine.check_source says so clearly
    if nmnist:
        return resolve_model(NMNIST_MODEL)
    problem = (f"no shipped model takes a {w}x{h} sensor (the gesture model "
               f"{GESTURE_MODEL!r} is not installed; shipped: {', '.join(names) or 'none'}"
               f"); choose a model file (--model FILE.safetensors)")
    raise ModelError(source, problem)


class TruthTrack:
    """The labelled class at a stream time, from a source's labelled segments
    (:func:`~spikestream.runtime.timeline.source_labels`: its ``labels``, a
    ``_labels.csv`` beside its file, or, for an unbounded synthetic camera, the
    gestures begun so far: call :meth:`refresh` now and then)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.live_labels = hasattr(source, "segments_so_far")
        # a recording's labels are read once; a synthetic camera's grow as it plays
        self._fixed = None if self.live_labels else source_labels(source)
        self.starts = np.zeros(0, np.int64)
        self.ends = np.zeros(0, np.int64)
        self.names: list[str] = []
        self.refresh()

    @property
    def labelled(self) -> bool:
        return bool(self.names) or self.live_labels

    def refresh(self) -> None:
        segs = self._fixed if self._fixed is not None else source_labels(self.source)
        if len(segs) == len(self.names):
            return
        segs = tuple(sorted(segs, key=lambda s: s.t_start_us))
        self.starts = np.array([s.t_start_us for s in segs], np.int64)
        self.ends = np.array([s.t_end_us for s in segs], np.int64)
        self.names = [s.name for s in segs]

    def at(self, t_us: int) -> str | None:
        """Name of the segment holding ``t_us``, or None."""
        k = int(np.searchsorted(self.starts, t_us, side="right")) - 1
        if k >= 0 and t_us < self.ends[k]:
            return self.names[k]
        return None


@dataclass
class Pipeline:
    """An open source, its engine and feed.

    Attributes:
        uri: the source as the user gave it.
        model_path: the model file running.
        source: the open source.
        engine: the :class:`~spikestream.runtime.engine.Engine`.
        feed: windows of the source.
        truth: labels of the source.
    """

    uri: str
    model_path: str
    source: Any
    engine: Any
    feed: WindowFeed
    truth: TruthTrack

    def close(self) -> None:
        self.feed.close()


def open_pipeline(uri: str, model: str | None, backend: str) -> Pipeline:
    """Open ``uri`` and the engine of ``model`` (or :func:`choose_model`'s) on
    ``backend``. Raises a ``SpikestreamError`` (``SourceError``, ``FormatError``,
    ``ModelError``, ``BackendError``) with the source closed again."""
    from ..runtime.engine import Engine
    from ..streams.open import open_source

    source = open_source(uri)
    try:
        path = choose_model(model, source.sensor_size, str(getattr(source, "name", uri)))
        engine = Engine(path, backend=backend)
        engine.check_source(source)
        engine.warm_up()  # compile before playing: no stall on the first windows
        feed = WindowFeed(source, engine.dt_us)
    except BaseException:
        source.close()
        raise
    return Pipeline(uri, path, source, engine, feed, TruthTrack(source))
