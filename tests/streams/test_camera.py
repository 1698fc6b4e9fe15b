"""Camera source: the no-driver path says how to get drivers; the driver path is
exercised with a fake aestream module."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from spikestream.streams import open_source
from spikestream.streams.camera import (
    CameraSource,
    camera_drivers,
    open_camera,
)
from spikestream.streams.errors import SourceError
from spikestream.streams.events import EVENT_DTYPE


class FakeUSBInput:
    """Mimics aestream 0.6's USBInput: read() gives a (W, H) count frame."""

    instances: list[FakeUSBInput] = []

    def __init__(self, shape, device="cpu", **kwargs) -> None:
        self.shape = tuple(shape)
        self.kwargs = kwargs
        self.frames: list[np.ndarray] = []
        self.started = False
        self.stopped = False
        FakeUSBInput.instances.append(self)

    def start_stream(self):
        self.started = True
        return self

    def stop_stream(self) -> None:
        self.stopped = True

    def read(self) -> np.ndarray:
        if self.frames:
            return self.frames.pop(0)
        return np.zeros(self.shape, dtype=np.float32)


def fake_aestream(drivers: list[str], with_usb: bool = True) -> types.ModuleType:
    mod = types.ModuleType("aestream")
    mod.drivers = drivers
    mod.Camera = types.SimpleNamespace(Inivation="Camera.Inivation", Prophesee="Camera.Prophesee")
    if with_usb:
        mod.USBInput = FakeUSBInput
    return mod


@pytest.fixture
def with_aestream(monkeypatch):
    def install(drivers: list[str], with_usb: bool = True) -> types.ModuleType:
        mod = fake_aestream(drivers, with_usb)
        monkeypatch.setitem(sys.modules, "aestream", mod)
        FakeUSBInput.instances.clear()
        return mod

    return install


def test_installed_aestream_wheel_has_no_camera_drivers():
    import aestream

    # the facts this module is built on (aestream 0.6.4 from PyPI)
    assert not hasattr(aestream, "USBInput")
    assert list(aestream.drivers) == []
    assert camera_drivers() == ()
    with pytest.raises(SourceError, match="no camera drivers"):
        open_camera("camera://inivation?sensor=128x128")


@pytest.mark.parametrize(
    "uri", ["camera://", "camera://inivation", "camera://prophesee?serial=00050423", "camera://x"]
)
def test_no_driver_path_raises_at_once_with_how_to_get_them(with_aestream, uri):
    with_aestream([], with_usb=False)
    with pytest.raises(SourceError) as info:
        open_source(uri)
    msg = str(info.value)
    assert msg.startswith(uri)
    assert "no camera drivers" in msg
    assert "pip install aestream --no-binary aestream" in msg
    assert "libcaer" in msg and "Metavision" in msg
    assert FakeUSBInput.instances == []


def test_drivers_listed_without_usbinput_count_as_none(with_aestream):
    with_aestream(["caer"], with_usb=False)
    assert camera_drivers() == ()
    with pytest.raises(SourceError, match="no camera drivers"):
        open_camera("camera://?sensor=128x128")


def test_missing_vendor_driver_is_named(with_aestream):
    with_aestream(["caer"])
    with pytest.raises(SourceError, match="without the prophesee driver"):
        open_camera("camera://prophesee?sensor=640x480")


@pytest.mark.parametrize(
    "uri, problem",
    [
        ("camera://inivation", "sensor size"),
        ("camera://inivation?sensor=wide", "WIDTHxHEIGHT"),
        ("camera://sony?sensor=128x128", "unknown camera vendor"),
        ("camera://inivation?sensor=128x128&fps=30", "unknown option"),
        ("camera://inivation?sensor=128x128&device_id=one", "integers"),
    ],
)
def test_uri_errors(with_aestream, uri, problem):
    with_aestream(["caer", "metavision"])
    with pytest.raises(SourceError, match=problem):
        open_camera(uri)


def test_vendor_arguments_reach_usbinput(with_aestream):
    with_aestream(["caer", "metavision"])
    with open_camera("camera://prophesee?sensor=640x480&serial=00050423") as cam:
        assert FakeUSBInput.instances[-1].kwargs == {"serial_number": "00050423"}
        assert FakeUSBInput.instances[-1].shape == (640, 480)
        assert cam.sensor_size == (640, 480, 1)
    with open_camera("camera://inivation?sensor=346x260&device_id=2&device_address=5"):
        assert FakeUSBInput.instances[-1].kwargs == {"device_id": 2, "device_address": 5}
    with open_camera("camera://?sensor=128x128"):  # first driver: caer -> inivation
        assert FakeUSBInput.instances[-1].kwargs == {"camera": "Camera.Inivation"}
    with open_camera("camera://prophesee", sensor_size=(1280, 720)):
        assert FakeUSBInput.instances[-1].kwargs == {"camera": "Camera.Prophesee"}


def test_usbinput_failure_is_a_source_error(with_aestream):
    mod = with_aestream(["caer"])

    def no_camera(*args, **kwargs):
        raise RuntimeError("Failed to open device")

    mod.USBInput = no_camera
    with pytest.raises(SourceError, match="cannot open the inivation camera: Failed to open"):
        open_camera("camera://inivation?sensor=128x128")


def test_count_frames_become_events_at_the_boundary(with_aestream):
    with_aestream(["caer"])
    stamps = iter([1_000_000_000, 2_000_000_000, 3_000_000_000])
    cam = open_camera(
        "camera://inivation?sensor=4x3",
        clock_ns=lambda: next(stamps),
        sleep=lambda s: None,
    )
    usb = FakeUSBInput.instances[-1]
    f1 = np.zeros((4, 3), dtype=np.float32)
    f1[0, 2] = 2
    f1[3, 1] = 1
    f2 = np.zeros((4, 3), dtype=np.float32)  # nothing happened
    f3 = np.zeros((4, 3), dtype=np.float32)
    f3[1, 0] = 3
    usb.frames = [f1, f2, f3]
    with cam:
        assert cam.live
        it = iter(cam)
        a = next(it)
        b = next(it)
        assert usb.started
    assert usb.stopped
    assert a.dtype == EVENT_DTYPE
    assert a.tolist() == [(1_000_000, 0, 2, 0), (1_000_000, 0, 2, 0), (1_000_000, 3, 1, 0)]
    assert b.tolist() == [(3_000_000, 1, 0, 0)] * 3
    assert cam.counters["frames"] == 3
    assert cam.counters["events"] == 6


def test_wrong_frame_shape_is_reported(with_aestream):
    with_aestream(["caer"])
    with open_camera("camera://inivation?sensor=4x3", sleep=lambda s: None) as cam:
        FakeUSBInput.instances[-1].frames = [np.ones((3, 4), dtype=np.float32)]
        with pytest.raises(SourceError, match=r"\(3, 4\) frame, expected \(4, 3\)"):
            next(iter(cam))


def test_camera_source_is_a_plain_source():
    src = CameraSource(FakeUSBInput((2, 2)), 2, 2)
    assert src.sensor_size == (2, 2, 1)
    src.close()
