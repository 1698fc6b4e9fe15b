"""AEDAT 2.0 / 3.1 readers: the real jAER DVS128 recordings against a plain
struct decode written here, files this test writes (DAVIS240 layout, timestamp
wrap, AEDAT 3.1 with DVS Gesture labels, broken files), and fuzzed bytes."""

from __future__ import annotations

import struct
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from _fuzz import fuzz_reader, splices

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.formats import _READER_MODULES, open_file
from spikestream.streams.gestures import write_labels
from spikestream.streams.readers._aedat31 import Aedat31Source
from spikestream.streams.readers.aedat2 import FORMAT, Aedat2Source, open_aedat
from spikestream.streams.source import LabelledSegment

# ------------------------------------------------------------- tiny writers

DVS128_HEADER = (
    "#!AER-DAT2.0",
    "# This is a raw AE data file - do not edit",
    "# HardwareInterface: DVS128-V1 0298",
    "# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128",
)
DAVIS240_HEADER = ("#!AER-DAT2.0", "# AEChip: eu.seebetter.ini.chips.davis.DAVIS240C")


def write_aedat2(path: Path, addr, t, header=DVS128_HEADER) -> Path:
    """jAER AEDAT 2.0: ``#`` lines, then big-endian (int32 address, int32 t) pairs."""
    head = "".join(line + "\r\n" for line in header).encode()
    raw = np.empty(len(addr), dtype=[("a", ">u4"), ("t", ">u4")])
    raw["a"] = np.asarray(addr, dtype=np.uint32)
    raw["t"] = np.asarray(t, dtype=np.int64) & 0xFFFFFFFF  # int32 two's complement
    path.write_bytes(head + raw.tobytes())
    return path


def dvs128_addr(x, y, p) -> np.ndarray:
    """jAER DVS128 address of (x, y, p): x mirrored, raw polarity bit 0 means ON."""
    x, y, p = (np.asarray(v, dtype=np.uint32) for v in (x, y, p))
    return ((127 - x) << 1) | (y << 8) | (1 - p)


def davis_addr(x, y, p) -> np.ndarray:
    """jAER DAVIS240 DVS address: y bits 22-30, x (mirrored) bits 12-21, p bit 11."""
    x, y, p = (np.asarray(v, dtype=np.uint32) for v in (x, y, p))
    return (y << 22) | ((239 - x) << 12) | (p << 11)


def write_aedat31(path: Path, packets: list[bytes], source: str | None = "DVS128") -> Path:
    lines = ["#!AER-DAT3.1", "#Format: RAW"]
    lines += [f"#Source 1: {source}"] if source else []
    lines += ["#Start-Time: 2017-03-23 12:00:00 (TZ+0100)", "#!END-HEADER"]
    path.write_bytes("".join(ln + "\r\n" for ln in lines).encode() + b"".join(packets))
    return path


def polarity_packet(x, y, p, ts, overflow=0, valid=None, spare=0) -> bytes:
    """AEDAT 3.1 polarity packet (type 1); ``spare`` unused slots after the events."""
    x, y, p = (np.asarray(v, dtype=np.uint32) for v in (x, y, p))
    ok = np.ones(len(x), bool) if valid is None else np.asarray(valid)
    data = (x << 17) | (y << 2) | (p << 1) | ok.astype(np.uint32)
    raw = np.zeros(len(x) + spare, dtype=[("data", "<u4"), ("t", "<i4")])
    raw["data"][: len(x)], raw["t"][: len(x)] = data, ts
    head = struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, len(raw), len(x), int(ok.sum()))
    return head + raw.tobytes()


def special_packet(n: int) -> bytes:
    return struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, n, n, n) + b"\x01\0\0\0\0\0\0\0" * n


def _events(n: int, w: int, h: int, seed: int = 0, t0: int = 1000):
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.integers(0, 40, n))
    return rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n), t


def _check(ev: np.ndarray, x, y, p, t) -> None:
    assert ev.dtype == EVENT_DTYPE
    for name, want in (("x", x), ("y", y), ("p", p), ("t", t)):
        assert np.array_equal(ev[name].astype(np.int64), np.asarray(want, dtype=np.int64)), name


# ------------------------------------------------------------- AEDAT 2.0


def reference_decode(path: Path) -> tuple[np.ndarray, ...]:
    """Plain decode: skip '#' lines, struct-unpack big-endian pairs, jAER DVS128."""
    data = path.read_bytes()
    i = 0
    while data[i : i + 1] == b"#":
        i = data.index(b"\n", i) + 1
    rows = [(a, t) for a, t in struct.iter_unpack(">Ii", data[i:]) if not a & 0x80008000]
    a = np.array([r[0] for r in rows], dtype=np.int64)
    t = np.array([r[1] for r in rows], dtype=np.int64)
    return 127 - ((a >> 1) & 0x7F), (a >> 8) & 0x7F, 1 - (a & 1), t


def test_real_jaer_dvs128_files_match_a_plain_decode(recordings):
    files = sorted((recordings / "dvs128-aedat2").glob("*.aedat"))
    counts = {}
    for path in files:
        src = open_aedat(path)
        assert isinstance(src, Aedat2Source) and src.layout == "dvs128"
        assert src.sensor_size == (128, 128, 2)
        ev = src.read_all()
        _check(ev, *reference_decode(path))
        counts[path.name] = len(ev)
        assert np.all(np.diff(ev["t"]) >= 0)
        assert 6.5e6 < ev["t"][-1] - ev["t"][0] < 1e7  # people walking, ~7 to 9 s
        assert 0.3 < ev["p"].mean() < 0.7
        assert ev["x"].min() >= 0 and ev["x"].max() <= 127
        chunks = list(Aedat2Source(path, chunk_events=1000))
        assert all(len(c) == 1000 for c in chunks[:-1])
        assert np.array_equal(np.concatenate(chunks), ev)
    assert counts == {"alex_walking_again.aedat": 19_182, "neal_walking.aedat": 70_304}


def test_dvs128_layout_and_special_events(tmp_path):
    x, y, p, t = _events(500, 128, 128)
    addr = dvs128_addr(x, y, p)
    addr[[10, 20]] = 0x8000  # sync events
    path = write_aedat2(tmp_path / "d.aedat", addr, t)
    src = Aedat2Source(path, chunk_events=64)
    keep = np.ones(500, bool)
    keep[[10, 20]] = False
    _check(src.read_all(), x[keep], y[keep], p[keep], t[keep])
    assert src.counters["skipped_special"] == 2 and src.counters["events"] == 498


def test_davis240_layout_from_the_header(tmp_path):
    x, y, p, t = _events(400, 240, 180, seed=1)
    addr = davis_addr(x, y, p)
    addr[5] = 0x80000C00 | 7  # IMU sample word
    addr[6] = 0x80000000 | (3 << 22) | 100  # APS sample
    addr[7] = 0x400  # external input event
    path = write_aedat2(tmp_path / "d.aedat", addr, t, DAVIS240_HEADER)
    src = open_aedat(path)
    assert src.layout == "davis240" and src.sensor_size == (240, 180, 2)
    keep = np.ones(400, bool)
    keep[5:8] = False
    _check(src.read_all(), x[keep], y[keep], p[keep], t[keep])
    assert (src.counters["skipped_imu"], src.counters["skipped_aps"]) == (1, 1)
    assert src.counters["skipped_special"] == 1


def test_sensor_keyword_when_the_header_has_no_chip(tmp_path):
    x, y, p, t = _events(100, 240, 180)
    path = write_aedat2(tmp_path / "n.aedat", davis_addr(x, y, p), t, ("#!AER-DAT2.0",))
    _check(Aedat2Source(path, sensor="davis240").read_all(), x, y, p, t)
    assert Aedat2Source(path).layout == "dvs128"  # the default
    with pytest.raises(FormatError, match="sensor='davis240'"):
        Aedat2Source(write_aedat2(tmp_path / "c.aedat", [], [], DVS128_HEADER), sensor="davis240")
    other = ("#!AER-DAT2.0", "# AEChip: eu.seebetter.ini.chips.davis.DAVIS346B")
    with pytest.raises(FormatError, match="pass sensor="):
        Aedat2Source(write_aedat2(tmp_path / "o.aedat", [], [], other))
    with pytest.raises(FormatError, match="unknown"):
        Aedat2Source(path, sensor="atis")


def test_timestamp_wrap_is_unwrapped_monotonically(tmp_path):
    n = 300
    t_true = (1 << 31) - 150 * 7 + 7 * np.arange(n, dtype=np.int64)  # crosses 2^31
    t_true = np.concatenate([t_true, (1 << 32) - 50 + 11 * np.arange(n)])  # and 2^32
    x, y, p, _ = _events(2 * n, 128, 128)
    path = write_aedat2(tmp_path / "w.aedat", dvs128_addr(x, y, p), t_true)
    raw_t = np.frombuffer(path.read_bytes()[-8 * 2 * n :], dtype=">i4")[1::2]
    assert raw_t.min() < 0  # jAER's int32 went negative
    for chunk in (1000, 37):
        ev = Aedat2Source(path, chunk_events=chunk).read_all()
        _check(ev, x, y, p, t_true)


def test_time_going_back_is_an_error(tmp_path):
    x, y, p, t = _events(200, 128, 128)
    t[150] = t[149] - 3
    path = write_aedat2(tmp_path / "b.aedat", dvs128_addr(x, y, p), t)
    with pytest.raises(FormatError, match="time goes back at event 150"):
        Aedat2Source(path, chunk_events=64).read_all()


def test_truncated_and_wrong_magic(tmp_path):
    x, y, p, t = _events(50, 128, 128)
    path = write_aedat2(tmp_path / "t.aedat", dvs128_addr(x, y, p), t)
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(FormatError, match="truncated") as e:
        open_aedat(path)
    assert str(path) in str(e.value)
    path.write_bytes(data.replace(b"#!AER-DAT2.0", b"#!AER-DAT1.0", 1))
    with pytest.raises(FormatError, match="not an AEDAT 2.0 / 3.1 file"):
        open_aedat(path)
    with pytest.raises(FormatError, match="not an AEDAT 2.0 file"):
        Aedat2Source(path)


def test_sniffed_by_magic_not_suffix():
    assert FORMAT.sniff(b"#!AER-DAT2.0\r\n# This is a raw AE data file", ".bin")
    assert FORMAT.sniff(b"#!AER-DAT3.1\r\n#Format: RAW\r\n", ".dat")
    assert not FORMAT.sniff(b"#!AER-DAT4.0\r\n", ".aedat")
    assert not FORMAT.sniff(b"% Data file containing CD events", ".aedat")
    assert "aedat2" in _READER_MODULES and FORMAT.name == "aedat2"


def test_open_file_finds_both_versions_under_any_name(tmp_path):
    x, y, p, t = _events(40, 128, 128)
    v2 = write_aedat2(tmp_path / "rec2.bin", dvs128_addr(x, y, p), t)
    v31 = write_aedat31(tmp_path / "rec31.bin", [polarity_packet(x, y, p, t)])
    assert isinstance(open_file(v2), Aedat2Source)
    assert isinstance(open_file(v31), Aedat31Source)
    _check(open_file(v31).read_all(), x, y, p, t)


# ------------------------------------------------------------- AEDAT 3.1


def _gesture_file(tmp_path: Path, name: str = "user01_led.aedat"):
    """A small DVS Gesture-like AEDAT 3.1 recording with its labels csv."""
    x, y, p, t = _events(700, 128, 128, seed=3)
    valid = np.ones(700, bool)
    valid[[3, 400]] = False
    parts = [(0, 250), (250, 600), (600, 700)]
    packets = [special_packet(2)]
    for i, (a, b) in enumerate(parts):
        packets.append(polarity_packet(x[a:b], y[a:b], p[a:b], t[a:b], valid=valid[a:b], spare=i))
        packets.append(special_packet(1))
    path = write_aedat31(tmp_path / name, packets)
    segments = [LabelledSegment(0, "hand clap", int(t[10]), int(t[300])),
                LabelledSegment(10, "other", int(t[310]), int(t[690]))]  # fmt: skip
    write_labels(tmp_path / name.replace(".aedat", "_labels.csv"), segments)
    return path, (x[valid], y[valid], p[valid], t[valid]), tuple(segments)


def test_aedat31_gesture_recording_with_labels(tmp_path):
    path, want, segments = _gesture_file(tmp_path)
    src = open_aedat(path, chunk_events=64)
    assert isinstance(src, Aedat31Source) and src.sensor_size == (128, 128, 2)
    chunks = list(src)
    assert all(len(c) == 64 for c in chunks[:-1])
    _check(np.concatenate(chunks), *want)
    assert src.labels == segments
    assert src.counters["dropped_invalid"] == 2 and src.counters["events"] == 698
    assert (src.counters["skipped_packets"], src.counters["skipped_events"]) == (4, 5)


def test_aedat31_without_labels_and_with_ts_overflow(tmp_path):
    x, y, p, t = _events(100, 240, 180, t0=(1 << 31) - 500)
    lo = t & 0x7FFFFFFF
    first = int(np.argmax(t >= 1 << 31))
    a, b = slice(0, first), slice(first, None)
    packets = [
        polarity_packet(x[a], y[a], p[a], lo[a], overflow=0),
        polarity_packet(x[b], y[b], p[b], lo[b], overflow=1),
    ]
    path = write_aedat31(tmp_path / "rec.aedat", packets, source="DAVIS240C")
    src = open_aedat(path)
    assert src.sensor_size == (240, 180, 2) and src.labels == ()
    _check(src.read_all(), x, y, p, t)


def test_aedat31_broken_files(tmp_path):
    path, _, _ = _gesture_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(FormatError, match="truncated packet at byte"):
        open_aedat(path).read_all()
    header_end = data.index(b"#!END-HEADER\r\n") + 14
    path.write_bytes(data[: header_end + 20])
    with pytest.raises(FormatError, match="truncated packet header"):
        open_aedat(path).read_all()
    path.write_bytes(data.replace(b"#!END-HEADER", b"#!END-HEADEX"))
    with pytest.raises(FormatError, match="without its #!END-HEADER"):
        open_aedat(path)
    bad = polarity_packet([1], [2], [1], [5])
    bad = bad[:4] + struct.pack("<i", 16) + bad[8:] + bytes(8)  # eventSize 16 for polarity
    with pytest.raises(FormatError, match="eventSize=16"):
        open_aedat(write_aedat31(tmp_path / "s.aedat", [bad])).read_all()
    with pytest.raises(FormatError, match="not a known sensor"):
        open_aedat(write_aedat31(tmp_path / "u.aedat", [], source="Mystery640"))


# ------------------------------------------------------------- fuzzing


@pytest.mark.parametrize("which", ["aedat2", "aedat31"])
def test_fuzzed_bytes_give_events_or_format_error(which, request, tmp_path):
    if which == "aedat2":
        recordings = request.getfixturevalue("recordings")
        data = (recordings / "dvs128-aedat2" / "alex_walking_again.aedat").read_bytes()
    else:
        data = _gesture_file(tmp_path)[0].read_bytes()
    target = tmp_path / "fuzz" / "user02_led.aedat"
    target.parent.mkdir()
    files = splices(data, near=5000)
    open_ = partial(open_aedat, chunk_events=4000)
    seen = fuzz_reader(target, files, open_, 60, derandomize=True)
    assert seen["crash_free"] == seen["run"] >= 50
    assert seen["format_error"] > 0
