"""Event sources, pacing, filters and windowing: the front door of spikestream.

Everything downstream sees :data:`EVENT_DTYPE` arrays and :class:`EventWindow` s.
"""

from .errors import FormatError, SourceError, SpikestreamError
from .events import EVENT_DTYPE, SensorSize, as_events, empty_events, make_events
from .open import open_source
from .source import FileSource, LabelledSegment, Source

__all__ = [
    "EVENT_DTYPE",
    "FileSource",
    "FormatError",
    "LabelledSegment",
    "SensorSize",
    "Source",
    "SourceError",
    "SpikestreamError",
    "as_events",
    "empty_events",
    "make_events",
    "open_source",
]
