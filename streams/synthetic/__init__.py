"""The built-in synthetic event camera: a DVS128 watching a person perform gestures.

The demo's default source and the gesture model's training data until a user
brings the real DVS Gesture dataset. A v2e/ESIM-style pixel model
(:mod:`.simulator`, :mod:`.noise`) watches a rendered scene (:mod:`.scene`): a
person whose arms perform the 11 DVS Gesture classes (:mod:`.gestures`; "right"
and "clockwise" are as seen in the image) one after the other with still pauses
between them (:mod:`.timeline`). Rendering is block-wise with bounded memory
(:mod:`.render`) and deterministic by seed: any block size gives the same events.

- :func:`render_recording`: a whole finite recording ``(events, segments)``.
- :class:`SyntheticSource` / :func:`open_synthetic`: the simulator as a source,
  ``synthetic://gesture?seed=3&duration_s=20&classes=0,1,2``.
- :func:`write_recording` / :func:`write_dataset`: ``.npz`` + ``_labels.csv`` files.
"""

from .gestures import MIRRORED_LABEL
from .recording import write_dataset, write_recording
from .render import Recording, iter_recording, render_recording
from .simulator import PixelConfig
from .source import SyntheticSource, open_synthetic

__all__ = [
    "MIRRORED_LABEL",
    "PixelConfig",
    "Recording",
    "SyntheticSource",
    "iter_recording",
    "open_synthetic",
    "render_recording",
    "write_dataset",
    "write_recording",
]
