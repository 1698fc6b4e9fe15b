"""``open_source(uri)``: one entry point for files, UDP, cameras and the simulator.

- a path: format sniffed from the header (see :mod:`.formats`);
- ``udp://HOST:PORT``: SPIF event words over UDP (see :mod:`.udp`);
- ``camera://`` (or ``camera://inivation``, ``camera://prophesee``): a USB camera
  through aestream (see :mod:`.camera`);
- ``synthetic://gesture?seed=0&duration_s=10``: the built-in DVS simulator
  (see :mod:`.synthetic`).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from .errors import SourceError
from .source import Source

SCHEMES = ("udp", "camera", "synthetic", "file")


def open_source(uri: str | os.PathLike[str], **kwargs) -> Source:
    """Open ``uri`` as a :class:`Source`; keyword arguments go to that source.

    Raises:
        SourceError: unknown scheme, or the source cannot be opened.
        FormatError: a file that is not a readable recording.
    """
    text = os.fspath(uri)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme == "udp":
        from .udp import UdpSource

        return UdpSource.from_uri(text, **kwargs)
    if scheme == "camera":
        from .camera import open_camera

        return open_camera(text, **kwargs)
    if scheme == "synthetic":
        from .synthetic import open_synthetic

        return open_synthetic(text, **kwargs)
    if scheme == "file":
        text = urlsplit(text).path
    elif scheme:
        raise SourceError(text, f"unknown source scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    from .formats import open_file

    return open_file(text, **kwargs)
