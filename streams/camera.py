"""Live USB event cameras through aestream: ``camera://``, ``camera://inivation``,
``camera://prophesee?serial=...``.

aestream reaches cameras only when it was compiled against the vendors'
drivers (libcaer for iniVation, OpenEB / Metavision SDK for Prophesee). The
binary wheels on PyPI (0.6.4 included) are built without them: ``aestream.drivers``
is empty and ``aestream.USBInput`` does not exist. :func:`open_camera` checks
that first and raises :class:`SourceError` saying how to get a build with
drivers (:data:`HOW_TO_GET_DRIVERS`).

What aestream 0.6's ``USBInput`` gives (``src/python/usb.cpp`` and
``module.cpp``): ``read()`` / ``read_buffer()`` returns a ``(width, height)``
float32 frame counting the events per pixel since the previous read, ON and
OFF summed, without timestamps; ``read_genn`` gives the same as a bitmask.
There is no event-level read. :class:`CameraSource` therefore polls frames and
turns every count ``c`` at ``(x, y)`` into ``c`` events at that pixel, stamped
with the receiver's monotonic clock (µs) at the read, with polarity 0 and a
one-polarity sensor ``(width, height, 1)`` (tonic's merged-polarity
convention). Time resolution is the poll interval; event order within a read
is by pixel, not by time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .errors import SourceError
from .events import EVENT_DTYPE, SensorSize
from .source import Source

VENDORS = {"inivation": "caer", "prophesee": "metavision"}
"""URI vendor -> the aestream driver name it needs."""

HOW_TO_GET_DRIVERS = (
    "the installed aestream has no camera drivers (aestream.drivers is empty and "
    "aestream.USBInput is missing; PyPI wheels are built without them). To read a "
    "camera: install the vendor driver first (iniVation: libcaer, "
    "https://gitlab.com/inivation/dv/libcaer ; Prophesee: OpenEB / Metavision SDK, "
    "https://github.com/prophesee-ai/openeb), then rebuild aestream from source so "
    "that it detects them: `pip install aestream --no-binary aestream -v` (look for "
    "'Inivation dependencies (libcaer) found' in the log), see "
    "https://aestream.github.io/aestream/install.html#event-camera-drivers. "
    "Meanwhile, stream a recording over UDP instead: spikestream send FILE udp://127.0.0.1:3333"
)


def _import_aestream():
    try:
        import aestream
    except ImportError as e:  # pragma: no cover - aestream is a dependency
        raise SourceError("camera://", f"aestream cannot be imported: {e}") from e
    return aestream


def camera_drivers(aestream_module=None) -> tuple[str, ...]:
    """Camera drivers the installed aestream was built with (``"caer"``,
    ``"metavision"``); empty when it has none or lacks ``USBInput``."""
    ae = aestream_module if aestream_module is not None else _import_aestream()
    if not hasattr(ae, "USBInput"):
        return ()
    return tuple(d for d in getattr(ae, "drivers", ()) if d in VENDORS.values())


def _parse_sensor(text: str, uri: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SourceError(uri, f"sensor={text!r}: give WIDTHxHEIGHT, e.g. 346x260") from None
    if w < 1 or h < 1:
        raise SourceError(uri, f"sensor={text!r}: sizes must be positive")
    return w, h


class CameraSource(Source):
    """Events from a USB camera, read through aestream's ``USBInput``.

    Args:
        usb_input: an aestream ``USBInput`` (not yet started).
        width, height: sensor size in pixels.
        name: URI, for messages.
        poll_interval_s: pause between frame reads when the last one was empty.
        clock_ns: monotonic clock (ns) stamping each read.
    """

    live = True

    def __init__(
        self,
        usb_input,
        width: int,
        height: int,
        name: str = "camera://",
        poll_interval_s: float = 0.001,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.name = name
        self.sensor_size: SensorSize = (int(width), int(height), 1)
        self.poll_interval_s = poll_interval_s
        self._usb = usb_input
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._started = False

    def _frame_events(self, frame: np.ndarray, t_us: int) -> np.ndarray:
        counts = np.asarray(frame)
        w, h, _ = self.sensor_size
        if counts.shape != (w, h):
            raise SourceError(
                self.name, f"aestream returned a {counts.shape} frame, expected {(w, h)}"
            )
        xs, ys = np.nonzero(counts)
        n = np.rint(counts[xs, ys]).astype(np.int64)
        if (n < 0).any():
            raise SourceError(self.name, "aestream returned negative event counts")
        ev = np.zeros(int(n.sum()), dtype=EVENT_DTYPE)
        ev["t"] = t_us
        ev["x"] = np.repeat(xs, n)
        ev["y"] = np.repeat(ys, n)
        return ev

    def _chunks(self) -> Iterator[np.ndarray]:
        if not self._started:
            self._usb.start_stream()
            self._started = True
        while not self._closed:
            frame = self._usb.read()
            t_us = self._clock_ns() // 1000
            self.counters["frames"] += 1
            ev = self._frame_events(frame, t_us)
            if len(ev):
                yield ev
            else:
                self._sleep(self.poll_interval_s)

    def close(self) -> None:
        """Stop the camera stream and end any iteration."""
        super().close()
        if self._started:
            self._started = False
            self._usb.stop_stream()


def open_camera(uri: str = "camera://", **kwargs) -> CameraSource:
    """Open a USB event camera.

    URIs: ``camera://`` (the first camera of a driver aestream has),
    ``camera://inivation[?device_id=N&device_address=M]``,
    ``camera://prophesee[?serial=SERIAL]``; all need ``sensor=WIDTHxHEIGHT``
    (or ``sensor_size=(w, h[, p])``): aestream cannot ask the camera.

    Keyword arguments override the query and go to :class:`CameraSource`
    (``poll_interval_s``...).

    Raises:
        SourceError: aestream has no camera drivers (at once, with how to get
            them), the vendor's driver is missing, the URI is wrong, or no
            camera can be opened.
    """
    ae = _import_aestream()
    drivers = camera_drivers(ae)
    if not drivers:
        raise SourceError(uri, HOW_TO_GET_DRIVERS)
    parts = urlsplit(uri)
    if parts.scheme != "camera":
        raise SourceError(uri, "not a camera:// URI")
    vendor = (parts.hostname or "").lower()
    if not vendor:
        vendor = "inivation" if "caer" in drivers else "prophesee"
    if vendor not in VENDORS:
        raise SourceError(uri, f"unknown camera vendor {vendor!r}; known: {', '.join(VENDORS)}")
    if VENDORS[vendor] not in drivers:
        raise SourceError(
            uri,
            f"aestream was built without the {vendor} driver ({VENDORS[vendor]}); it has: "
            f"{', '.join(drivers)}. {HOW_TO_GET_DRIVERS}",
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    known = {"sensor", "serial", "device_id", "device_address"}
    unknown = set(query) - known
    if unknown:
        raise SourceError(uri, f"unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
    sensor = kwargs.pop("sensor_size", None)
    if sensor is not None:
        w, h = int(sensor[0]), int(sensor[1])
    elif "sensor" in query:
        w, h = _parse_sensor(query["sensor"], uri)
    else:
        raise SourceError(uri, "give the sensor size: camera://VENDOR?sensor=WIDTHxHEIGHT")
    try:
        device_id = int(query.get("device_id", 0))
        device_address = int(query.get("device_address", 0))
    except ValueError:
        raise SourceError(uri, "device_id and device_address must be integers") from None
    try:
        if vendor == "prophesee" and query.get("serial"):
            usb = ae.USBInput((w, h), device="cpu", serial_number=query["serial"])
        elif vendor == "inivation" and device_id:
            usb = ae.USBInput(
                (w, h), device="cpu", device_id=device_id, device_address=device_address
            )
        else:
            camera = ae.Camera.Inivation if vendor == "inivation" else ae.Camera.Prophesee
            usb = ae.USBInput((w, h), device="cpu", camera=camera)
    except Exception as e:  # aestream raises RuntimeError/TypeError from C++
        raise SourceError(uri, f"cannot open the {vendor} camera: {e}") from e
    return CameraSource(usb, w, h, name=uri, **kwargs)
