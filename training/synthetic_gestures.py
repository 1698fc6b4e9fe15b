"""A cached synthetic gesture dataset: continuous DVS128-like recordings with labels.

:func:`synthetic_gesture_dataset` renders ``n_train`` + ``n_test`` continuous
recordings from the built-in simulator (:mod:`spikestream.streams.synthetic`), each
performing ``n_gestures`` gestures with still pauses between them on a 128x128
sensor, and writes them with
:func:`~spikestream.streams.synthetic.recording.write_dataset` (``<name>.npz`` +
``<name>_labels.csv``). Training and test recordings come from disjoint seeds
(``seed + i`` and ``seed + TEST_SEED_OFFSET + i``), so no test recording shares a
person, a background or a gesture's parameters with a training one.

Rendering is deterministic, so the result is cached: the folder is
``<cache>/synthetic-gestures/<key>``, where ``<cache>`` is ``$SPIKESTREAM_CACHE``
(default ``~/.cache/spikestream``) and ``<key>`` a hash of every parameter (and of
:data:`DATA_VERSION`). A finished folder holds ``manifest.json``; an interrupted
render leaves only a temporary folder, never a half-written dataset.
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
from ..streams.synthetic.recording import TEST_SEED_OFFSET, WrittenRecording, write_dataset

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
    """Where ``config``'s recordings are (or will be) cached."""
    return Path(cache) if cache is not None else cache_root() / "synthetic-gestures" / \
        config.key()


def synthetic_gesture_dataset(
    config: SyntheticGestureConfig = SyntheticGestureConfig(),
    cache: str | os.PathLike[str] | None = None,
    log=None,
) -> dict[str, list[WrittenRecording]]:
    """The recordings of ``config``, rendered once and then read from the cache.

    Args:
        config: the dataset's parameters.
        cache: the dataset folder itself (default: :func:`dataset_dir`).
        log: called with a progress line while rendering (None: silent).

    Returns:
        ``{"train": [...], "test": [...]}`` as
        :func:`~spikestream.streams.synthetic.recording.write_dataset` returns it.
    """
    root = dataset_dir(config, cache)
    manifest = root / "manifest.json"
    if manifest.is_file():
        return _read_manifest(root, config)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        if log is not None:
            log(f"rendering {config.n_train} + {config.n_test} synthetic recordings "
                f"into {root}")
        written = write_dataset(tmp, config.n_train, config.n_test, seed=config.seed,
                                n_gestures=config.n_gestures, gesture_s=config.gesture_s,
                                pause_s=config.pause_s, sensor_size=config.sensor_size)
        (tmp / "manifest.json").write_text(json.dumps({
            "version": DATA_VERSION, "config": config.to_dict(),
            "splits": {s: [{"name": w.events_path.stem, "seed": w.seed,
                            "n_events": w.n_events, "duration_us": w.duration_us}
                           for w in written[s]] for s in SPLITS},
        }, indent=1))
        try:
            os.replace(tmp, root)
        except OSError:  # another process finished first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _read_manifest(root, config)


def _read_manifest(root: Path, config: SyntheticGestureConfig) -> dict[str, list[
        WrittenRecording]]:
    data = json.loads((root / "manifest.json").read_text())
    if data.get("config") != config.to_dict():
        raise ValueError(f"{root}: the cached dataset was made with other parameters "
                         f"({data.get('config')})")
    out: dict[str, list[WrittenRecording]] = {}
    for split in SPLITS:
        rows = []
        for r in data["splits"][split]:
            events_path = root / split / f"{r['name']}.npz"
            labels_path = root / split / f"{r['name']}_labels.csv"
            rows.append(WrittenRecording(events_path, labels_path, int(r["seed"]),
                                         int(r["n_events"]), int(r["duration_us"]),
                                         read_labels(labels_path)))
        out[split] = rows
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
