"""A cached synthetic gesture dataset: continuous DVS128-like recordings with labels.

:func:`synthetic_gesture_dataset` renders ``n_train`` + ``n_test`` continuous
recordings from the built-in simulator (:mod:`spikestream.streams.synthetic`), each
performing ``n_gestures`` gestures with still pauses between them on a 128x128
sensor, each written with
:func:`~spikestream.streams.synthetic.recording.write_recording` (``<name>.npz`` +
``<name>_labels.csv``). Training and test recordings come from disjoint seeds
(``seed + i`` and ``seed + TEST_SEED_OFFSET + i``), so no test recording shares a
person, a background or a gesture's parameters with a training one.

Rendering is deterministic, so each recording is cached once, in
``<cache>/synthetic-gestures/recordings/<key>/``, where ``<cache>`` is
``$SPIKESTREAM_CACHE`` (default ``~/.cache/spikestream``) and ``<key>`` a hash of
what renders it (seed, gestures, durations, sensor, :data:`DATA_VERSION`): a dataset
with more recordings reuses those already rendered. A finished recording folder holds
``meta.json``; an interrupted render leaves only a temporary folder, never a
half-written recording. The dataset's ``manifest.json`` (in
``<cache>/synthetic-gestures/<dataset key>/``) lists its recordings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..streams.events import EVENT_DTYPE, SensorSize
from ..streams.gestures import read_labels
from ..streams.source import LabelledSegment
from ..streams.synthetic.recording import (
    TEST_SEED_OFFSET,
    WrittenRecording,
    recording_name,
    write_recording,
)

DATA_VERSION = 1
"""Bumped when the simulator or the layout changes what a key's folder holds."""

SPLITS = ("train", "test")


@dataclass(frozen=True)
class SyntheticGestureConfig:
    """Every parameter of a synthetic gesture dataset (all part of the cache key).

    Attributes:
        n_train, n_test: recordings per split.
        seed: first training seed; test seeds start at ``seed + TEST_SEED_OFFSET``.
        n_gestures: gestures per recording (11: each class once, in a seeded order).
        gesture_s: gesture duration range, s.
        pause_s: still pause before each gesture (and after the last), s.
        sensor_size: ``(width, height, 2)``.
    """

    n_train: int = 24
    n_test: int = 6
    seed: int = 0
    n_gestures: int = 11
    gesture_s: tuple[float, float] = (3.0, 6.0)
    pause_s: tuple[float, float] = (0.5, 1.5)
    sensor_size: SensorSize = (128, 128, 2)

    def __post_init__(self) -> None:
        if self.n_train < 0 or self.n_test < 0:
            raise ValueError(f"n_train and n_test must be >= 0, got {self.n_train}, "
                             f"{self.n_test}")
        if self.n_train > TEST_SEED_OFFSET:
            raise ValueError(f"n_train must be <= {TEST_SEED_OFFSET} (disjoint seeds)")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def key(self) -> str:
        """Cache key: a short hash of every parameter and :data:`DATA_VERSION`."""
        text = json.dumps({"version": DATA_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def seeds(self, split: str) -> list[int]:
        """Recording seeds of ``split`` (``"train"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        first, n = (self.seed, self.n_train) if split == "train" else (
            self.seed + TEST_SEED_OFFSET, self.n_test)
        return list(range(first, first + n))


def cache_root() -> Path:
    """``$SPIKESTREAM_CACHE`` or ``~/.cache/spikestream``."""
    env = os.environ.get("SPIKESTREAM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "spikestream"


def dataset_dir(config: SyntheticGestureConfig, cache: str | os.PathLike[str] | None = None
                ) -> Path:
    """Where ``config``'s manifest is (or will be) cached."""
    return Path(cache) if cache is not None else cache_root() / "synthetic-gestures" / \
        config.key()


def recordings_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Where the recordings are cached, one folder per recording key (shared by every
    dataset of the default cache, so a bigger dataset reuses a smaller one's)."""
    return Path(cache) / "recordings" if cache is not None else \
        cache_root() / "synthetic-gestures" / "recordings"


def recording_key(config: SyntheticGestureConfig, seed: int) -> str:
    """Cache key of one recording: a hash of what renders it."""
    d = config.to_dict()
    text = json.dumps({"version": DATA_VERSION, "seed": int(seed),
                       **{k: d[k] for k in ("n_gestures", "gesture_s", "pause_s",
                                            "sensor_size")}}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_recording(config: SyntheticGestureConfig, seed: int,
                     cache: str | os.PathLike[str] | None = None, log=None
                     ) -> WrittenRecording:
    """Recording ``seed`` of ``config``, rendered once into its own folder (written to a
    temporary folder first, so an interrupted render leaves no half-written one)."""
    folder = recordings_dir(cache) / recording_key(config, seed)
    name = recording_name(seed)
    meta = folder / "meta.json"
    if not meta.is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            if log is not None:
                log(f"rendering synthetic recording {name} into {folder}")
            w = write_recording(tmp, name, seed, n_gestures=config.n_gestures,
                                gesture_s=config.gesture_s, pause_s=config.pause_s,
                                sensor_size=config.sensor_size)
            (tmp / "meta.json").write_text(json.dumps(
                {"seed": w.seed, "n_events": w.n_events, "duration_us": w.duration_us}))
            try:
                os.replace(tmp, folder)
            except OSError:  # another process finished first: use theirs
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    m = json.loads(meta.read_text())
    labels_path = folder / f"{name}_labels.csv"
    return WrittenRecording(folder / f"{name}.npz", labels_path, int(m["seed"]),
                            int(m["n_events"]), int(m["duration_us"]), read_labels(labels_path))


def synthetic_gesture_dataset(
    config: SyntheticGestureConfig = SyntheticGestureConfig(),
    cache: str | os.PathLike[str] | None = None,
    log=None,
) -> dict[str, list[WrittenRecording]]:
    """The recordings of ``config``, rendered once and then read from the cache.

    Args:
        config: the dataset's parameters.
        cache: a folder holding the manifest and the recordings (default: the manifest
            in :func:`dataset_dir`, the recordings in :func:`recordings_dir`).
        log: called with a progress line while rendering (None: silent).

    Returns:
        ``{"train": [...], "test": [...]}``, each recording a
        :class:`~spikestream.streams.synthetic.recording.WrittenRecording`.
    """
    root = dataset_dir(config, cache)
    manifest = root / "manifest.json"
    out = {split: [cached_recording(config, s, cache, log) for s in config.seeds(split)]
           for split in SPLITS}
    text = json.dumps({
        "version": DATA_VERSION, "config": config.to_dict(),
        "splits": {s: [{"name": w.events_path.stem, "seed": w.seed,
                        "key": w.events_path.parent.name, "n_events": w.n_events,
                        "duration_us": w.duration_us} for w in out[s]] for s in SPLITS},
    }, indent=1)
    if manifest.is_file():
        if json.loads(manifest.read_text()).get("config") != config.to_dict():
            raise ValueError(f"{root}: the cached dataset was made with other parameters")
    else:
        root.mkdir(parents=True, exist_ok=True)
        manifest.write_text(text)
    return out


def load_events(recording: WrittenRecording | str | os.PathLike[str]) -> np.ndarray:
    """The ``(N,)`` :data:`EVENT_DTYPE` events of a written ``.npz`` recording."""
    path = recording.events_path if isinstance(recording, WrittenRecording) else recording
    with np.load(path, allow_pickle=False) as z:
        events = z["events"]
    if events.dtype != EVENT_DTYPE:
        events = events.astype(EVENT_DTYPE)
    return events


def segments_of(recordings: Sequence[WrittenRecording]) -> list[LabelledSegment]:
    """All labelled segments of ``recordings``, in order."""
    return [s for r in recordings for s in r.segments]
