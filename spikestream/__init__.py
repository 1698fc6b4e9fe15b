"""spikestream: run spiking neural networks on event-camera streams in real time.

The package is built from the top-level folders ``streams/``, ``runtime/``,
``training/`` and ``gui/`` (mapped in pyproject.toml); this facade holds the
version, the public names and the ``spikestream`` command.
"""

from ._version import __version__
from .streams import EVENT_DTYPE, FormatError, SourceError, open_source

__all__ = ["EVENT_DTYPE", "FormatError", "SourceError", "__version__", "open_source"]
