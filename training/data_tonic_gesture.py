"""DVS Gesture as tonic 1.7 ships it: ``ibmGestureTrain``/``ibmGestureTest`` of
``<user>_<lighting>/<label>.npy``.

``tonic.datasets.DVSGesture(save_to)`` unpacks tonic's preprocessed archives into
``<save_to>/DVSGesture/ibmGestureTrain/user01_fluorescent/0.npy`` ... (users 1-23)
and ``.../ibmGestureTest/user24_.../`` (users 24-29). Each recording has already
been cut into one file per labelled gesture; the file stem is the **0-based**
class (tonic: ``targets.append(int(file[:-4]))``, an index into its 11 classes, 0 =
hand clap ... 10 = other), the same order as
:data:`~spikestream.streams.gestures.GESTURE_CLASSES`. A file is an ``(N, 4)``
array ``x, y, p, t`` with ``t`` in milliseconds, read by
:mod:`spikestream.streams.readers.npfiles` (µs = ms x 1000; 128x128x2).

Point ``--data`` at ``ibmGestureTrain`` or ``ibmGestureTest`` (train on the
former; ``spikestream eval`` on the latter measures the official test users). The
folder above them is refused with a message saying so. Samples are whole files,
listed by user folder, then class.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..streams.errors import FormatError
from ..streams.gestures import GESTURE_CLASSES
from ..streams.open import open_source
from ..streams.readers.npfiles import DVSGESTURE_SENSOR_SIZE
from .datasets import Dataset, DatasetFormat, Sample

SPLIT_FOLDERS = ("ibmGestureTrain", "ibmGestureTest")
"""tonic's folders of the official training and test users."""

_USER_DIR = re.compile(r"user\d+_\w+")


def _user_dirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and _USER_DIR.fullmatch(d.name))


def _is_split_folder(p: Path) -> bool:
    return p.is_dir() and (p.name in SPLIT_FOLDERS or bool(_user_dirs(p)))


def is_tonic_gesture(path: Path) -> bool:
    """Whether ``path`` is tonic's ``ibmGestureTrain``/``ibmGestureTest`` folder (a
    folder of ``user<N>_<lighting>`` folders), or the folder above them."""
    p = Path(path)
    return _is_split_folder(p) or (p.is_dir() and any((p / s).is_dir() for s in SPLIT_FOLDERS))


def read_gesture_npy(path: Path) -> np.ndarray:
    """All events of one tonic DVS Gesture ``.npy``, ``(N,)`` EVENT_DTYPE, t in µs."""
    with open_source(path) as src:
        return src.read_all()


def open_tonic_gesture(path: Path) -> Dataset:
    """tonic's DVS Gesture ``ibmGestureTrain`` or ``ibmGestureTest`` folder.

    Raises:
        FormatError: the folder above them (pick one), a ``.npy`` whose stem is not
            a class 0..10 (naming it), or no ``.npy`` at all.
    """
    root = Path(path)
    if not _is_split_folder(root):
        have = [s for s in SPLIT_FOLDERS if (root / s).is_dir()]
        raise FormatError(root, f"holds tonic's DVS Gesture {' and '.join(have)} folders: "
                                f"point --data at one of them (train on "
                                f"{root / SPLIT_FOLDERS[0]})")
    samples = []
    n = len(GESTURE_CLASSES)
    for d in _user_dirs(root):
        files = []
        for f in d.glob("*.npy"):
            if not f.stem.isdigit() or not 0 <= int(f.stem) < n:
                raise FormatError(f, f"tonic names each gesture <class>.npy with a 0-based "
                                     f"class 0..{n - 1}; {f.name!r} is not one")
            files.append((int(f.stem), f))
        samples += [Sample(f"{d.name}/{f.name}", label, f) for label, f in sorted(files)]
    if not samples:
        raise FormatError(root, "no <user>_<lighting>/<class>.npy gesture files")
    return Dataset(root, "tonic-dvsgesture", DVSGESTURE_SENSOR_SIZE, GESTURE_CLASSES,
                   tuple(samples), read_gesture_npy)


LAYOUT = DatasetFormat("tonic-dvsgesture", "tonic's DVS Gesture: the ibmGestureTrain or "
                       "ibmGestureTest folder of <user>_<lighting>/<class>.npy",
                       is_tonic_gesture, open_tonic_gesture)
