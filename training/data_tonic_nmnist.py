"""N-MNIST as tonic 1.7 extracts it: ``NMNIST/Train`` and ``NMNIST/Test`` of
``<digit>/<id>.bin``.

``tonic.datasets.NMNIST(save_to)`` unpacks the original archives into
``<save_to>/NMNIST/Train/<digit>/<id>.bin`` (60,000 digits) and
``<save_to>/NMNIST/Test/<digit>/<id>.bin`` (10,000), with no labels file: the label
is the digit folder's name (tonic: ``int(path[-1])``). Point ``--data`` at the
``Train`` or the ``Test`` folder (train on ``Train``; the split's test part is then
drawn from it, and ``spikestream eval --data .../Test`` measures the official test
set). The ``NMNIST`` folder holding both is refused with a message saying so, so
that a model is never trained on the official test digits by accident.

Samples are listed as tonic lists them (digit folders in order, files sorted by
name) and each ``.bin`` is read by :mod:`spikestream.streams.readers.nmnist` (one
whole recording per sample, ~300 ms, 34x34x2).
"""

from __future__ import annotations

from pathlib import Path

from ..streams.errors import FormatError
from ..streams.readers.nmnist import LABELS_FILE, NMNIST_SENSOR_SIZE
from .data_nmnist import NMNIST_CLASSES, read_events
from .datasets import Dataset, DatasetFormat, Sample

SPLIT_FOLDERS = ("Train", "Test")
"""tonic's folders of the official training and test digits."""


def _digit_dirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))


def _is_digit_folder(p: Path) -> bool:
    """``p`` holds only single-digit folders (at least one) and no ``labels.csv``."""
    if not p.is_dir() or (p / LABELS_FILE).exists():
        return False
    dirs = _digit_dirs(p)
    return bool(dirs) and all(len(d.name) == 1 and d.name.isdigit() for d in dirs)


def is_tonic_nmnist(path: Path) -> bool:
    """Whether ``path`` is tonic's ``Train``/``Test`` folder (or the ``NMNIST``
    folder above them, which :func:`open_tonic_nmnist` refuses clearly)."""
    p = Path(path)
    if _is_digit_folder(p):
        return True
    return p.is_dir() and any(_is_digit_folder(p / s) for s in SPLIT_FOLDERS)


def open_tonic_nmnist(path: Path) -> Dataset:
    """tonic's N-MNIST ``Train`` or ``Test`` folder as a :class:`Dataset`.

    Raises:
        FormatError: the folder above ``Train``/``Test`` (pick one), a folder name
            that is not a digit, or no ``.bin`` recording at all.
    """
    root = Path(path)
    if not _is_digit_folder(root):
        have = [s for s in SPLIT_FOLDERS if (root / s).is_dir()]
        raise FormatError(root, f"holds tonic's N-MNIST {' and '.join(have)} folders: point "
                                f"--data at one of them (train on {root / 'Train'})")
    samples = []
    for d in _digit_dirs(root):
        label = int(d.name)
        for f in sorted(d.glob("*.bin")):
            samples.append(Sample(f"{d.name}/{f.name}", label, f))
    if not samples:
        raise FormatError(root, "no <digit>/<id>.bin recordings in the digit folders")
    return Dataset(root, "tonic-nmnist", NMNIST_SENSOR_SIZE, NMNIST_CLASSES, tuple(samples),
                   read_events)


LAYOUT = DatasetFormat("tonic-nmnist", "tonic's extracted N-MNIST: the Train or Test folder "
                       "of <digit>/<id>.bin", is_tonic_nmnist, open_tonic_nmnist)
