"""AEDAT 4.0 reader: real DV recordings against faery and aestream, files this
test writes itself (every compression, both flatbuffer layouts, broken files),
and fuzzed real bytes."""

from __future__ import annotations

import os
import struct
import tracemalloc
from functools import partial
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
import zstandard
from _fuzz import fuzz_reader, splices

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, make_events
from spikestream.streams.formats import _READER_MODULES, open_file
from spikestream.streams.readers.aedat4 import FORMAT, Aedat4Source

# ---------------------------------------------------------------- a tiny writer

COMPRESS = {
    0: lambda b: b,
    1: lambda b: lz4.frame.compress(b),
    2: lambda b: lz4.frame.compress(b, compression_level=9),
    3: lambda b: zstandard.ZstdCompressor(level=3).compress(b),
    4: lambda b: zstandard.ZstdCompressor(level=19).compress(b),
}


def stream_xml(streams: dict[int, tuple[str, tuple[int, int] | None]]) -> str:
    """DV's infoNode XML for ``{id: (typeIdentifier, (sizeX, sizeY) or None)}``."""
    nodes = []
    for sid, (type_id, size) in streams.items():
        info = ""
        if size is not None:
            info = (
                f'<node name="info" path="/x/{sid}/info/">'
                f'<attr key="sizeX" type="int">{size[0]}</attr>'
                f'<attr key="sizeY" type="int">{size[1]}</attr></node>'
            )
        nodes.append(
            f'<node name="{sid}" path="/x/{sid}/">'
            f'<attr key="compression" type="string">LZ4</attr>'
            f'<attr key="typeIdentifier" type="string">{type_id}</attr>{info}</node>'
        )
    return f'<dv version="2.0"><node name="outInfo" path="/x/">{"".join(nodes)}</node></dv>'


def io_header(compression: int, table_pos: int, xml: str) -> bytes:
    """IOHeader flatbuffer: root at 20, vtable at 8 with fields at +4, +8, +16."""
    text = xml.encode() + b"\0"
    vtable = struct.pack("<5H", 10, 20, 4, 8, 16) + b"\0\0"
    table = struct.pack("<iiqI", 20 - 8, compression, table_pos, 40 - 36)
    return (
        struct.pack("<I", 20) + b"IOHE" + vtable + table + struct.pack("<I", len(text) - 1) + text
    )


def event_packet(ev: np.ndarray, pad: int = 2) -> bytes:
    """Size-prefixed EventPacket flatbuffer; ``pad=2`` is DV's own layout."""
    raw = np.zeros(len(ev), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"),
                                   ("pad", "V3")])  # fmt: skip
    raw["t"], raw["x"], raw["y"], raw["on"] = ev["t"], ev["x"], ev["y"], ev["p"]
    root = 8 + pad + 6
    body = (
        struct.pack("<I", root) + b"EVTS" + b"\0" * pad + struct.pack("<3H", 6, 8, 4)
        + struct.pack("<iII", 6, 4, len(ev)) + raw.tobytes()
    )  # fmt: skip
    return struct.pack("<I", len(body)) + body


def write_aedat4(
    path: Path,
    packets: list[tuple[int, bytes]],
    streams: dict[int, tuple[str, tuple[int, int] | None]],
    compression: int = 1,
    table: bool = True,
) -> Path:
    """An AEDAT 4.0 file of ``(stream_id, flatbuffer)`` packets; with ``table``
    a fake data table follows them and the header points at it."""
    xml = stream_xml(streams)
    body = b"".join(
        struct.pack("<ii", sid, len(c)) + c
        for sid, fb in packets
        for c in [COMPRESS.get(compression, COMPRESS[0])(fb)]
    )
    start = 14 + 4 + len(io_header(compression, 0, xml))
    head = io_header(compression, start + len(body) if table else -1, xml)
    tail = lz4.frame.compress(b"FTAB" + b"\0" * 40) if table else b""
    path.write_bytes(b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(head)) + head + body + tail)
    return path


def random_events(n: int, size: tuple[int, int], seed: int = 0, t0: int = 10**15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.integers(0, 30, n))
    return make_events(t, rng.integers(0, size[0], n), rng.integers(0, size[1], n),
                       rng.integers(0, 2, n))  # fmt: skip


DVS = {0: ("EVTS", (64, 48)), 2: ("IMUS", None), 3: ("TRIG", None)}


def split(ev: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    return np.split(ev, np.cumsum(sizes)[:-1])


# ---------------------------------------------------------- files we write


@pytest.mark.parametrize("compression", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("pad", [2, 10])
def test_every_compression_and_layout_round_trips(tmp_path, compression, pad):
    ev = random_events(5000, (64, 48), seed=compression)
    packets: list[tuple[int, bytes]] = []
    for piece in split(ev, [1000, 0, 2500, 1500]):
        packets += [(0, event_packet(piece, pad)), (2, b"\x10\0\0\0IMUS" + b"\0" * 30)]
    path = write_aedat4(tmp_path / "a.bin", packets, DVS, compression)
    with Aedat4Source(path, chunk_events=700) as src:
        assert src.sensor_size == (64, 48, 2)
        chunks = list(src)
    assert [len(c) for c in chunks] == [700] * 7 + [100]
    got = np.concatenate(chunks)
    assert got.dtype == EVENT_DTYPE and np.array_equal(got, ev)
    assert src.counters["skipped_packets"] == 4 and src.counters["events"] == 5000


def test_packets_end_at_the_data_table_or_at_the_end_of_file(tmp_path):
    ev = random_events(300, (64, 48))
    for table in (True, False):
        path = write_aedat4(
            tmp_path / f"t{table}.aedat4", [(0, event_packet(ev))], DVS, table=table
        )
        assert np.array_equal(Aedat4Source(path).read_all(), ev)


def test_a_packet_without_elements_is_empty(tmp_path):
    empty = struct.pack("<I", 12) + b"EVTS" + struct.pack("<2H", 4, 4) + struct.pack("<i", 4)
    ev = random_events(10, (64, 48))
    path = write_aedat4(
        tmp_path / "e.aedat4",
        [(0, struct.pack("<I", len(empty)) + empty), (0, event_packet(ev))],
        DVS,
    )
    assert np.array_equal(Aedat4Source(path).read_all(), ev)


def test_the_lowest_event_stream_is_read(tmp_path):
    a, b = random_events(50, (64, 48), 1), random_events(60, (64, 48), 2)
    streams = {5: ("EVTS", (64, 48)), 1: ("EVTS", (64, 48))}
    path = write_aedat4(
        tmp_path / "s.aedat4", [(5, event_packet(a)), (1, event_packet(b))], streams
    )
    src = Aedat4Source(path)
    assert src.stream_id == 1
    assert np.array_equal(src.read_all(), b) and src.counters["skipped_packets"] == 1


def _good_file(tmp_path: Path, **kw) -> tuple[Path, bytes]:
    ev = random_events(2000, (64, 48))
    packets = [(0, event_packet(p)) for p in split(ev, [1000] * 2)]
    path = write_aedat4(tmp_path / "g.aedat4", packets, DVS, **kw)
    return path, path.read_bytes()


def _read(path: Path) -> np.ndarray:
    return Aedat4Source(path).read_all()


def test_wrong_magic(tmp_path):
    path, data = _good_file(tmp_path)
    path.write_bytes(b"#!AER-DAT3.1" + data[12:])
    with pytest.raises(FormatError, match="not an AEDAT 4.0 file") as e:
        _read(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("table", [True, False])
def test_truncated_file_names_the_byte(tmp_path, table):
    path, data = _good_file(tmp_path, table=table)
    header_end = 18 + struct.unpack_from("<I", data, 14)[0]
    for cut in (header_end + 5, header_end + 300, len(data) - 50):
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError, match="truncated") as e:
            _read(path)
        assert str(path) in str(e.value)
    path.write_bytes(data[:100])
    with pytest.raises(FormatError, match="header length"):
        _read(path)


def test_unknown_compression(tmp_path):
    path, _ = _good_file(tmp_path, compression=5)  # not a CompressionType
    with pytest.raises(FormatError, match="unknown compression code 5"):
        _read(path)


def test_corrupt_header_xml_and_missing_event_stream(tmp_path):
    path, data = _good_file(tmp_path)
    path.write_bytes(data.replace(b'<dv version="2.0">', b'<dv version="2.0"!'))
    with pytest.raises(FormatError, match="XML"):
        _read(path)
    path = write_aedat4(tmp_path / "n.aedat4", [], {2: ("IMUS", None)})
    with pytest.raises(FormatError, match="no event stream"):
        _read(path)


def test_corrupt_packet_unknown_stream_and_time_going_back(tmp_path):
    path, data = _good_file(tmp_path)
    start = 18 + struct.unpack_from("<I", data, 14)[0]
    bad = bytearray(data)
    bad[start + 8 : start + 12] = b"\0\0\0\0"  # LZ4 magic of the first packet
    path.write_bytes(bytes(bad))
    with pytest.raises(FormatError, match=f"packet at byte {start} does not decompress"):
        _read(path)
    bad = bytearray(data)
    bad[start : start + 4] = struct.pack("<i", 9)
    path.write_bytes(bytes(bad))
    with pytest.raises(FormatError, match="stream id 9"):
        _read(path)
    ev = random_events(100, (64, 48))
    ev["t"][60] = ev["t"][59] - 1
    path = write_aedat4(tmp_path / "b.aedat4", [(0, event_packet(ev))], DVS)
    for chunk_events in (1000, 60, 30):  # inside a chunk, or first of a chunk
        with pytest.raises(FormatError, match="time goes back at event 60"):
            Aedat4Source(path, chunk_events=chunk_events).read_all()


def test_events_outside_the_declared_sensor(tmp_path):
    ev = random_events(100, (64, 48))
    ev["x"][7] = 64
    path = write_aedat4(tmp_path / "o.aedat4", [(0, event_packet(ev))], DVS)
    with pytest.raises(FormatError, match="outside the 64x48 sensor"):
        _read(path)
    src = Aedat4Source(path, out_of_range="drop")
    assert len(src.read_all()) == 99 and src.counters["dropped_out_of_range"] == 1


def test_sniffed_by_magic_not_suffix(tmp_path):
    _, data = _good_file(tmp_path)
    assert FORMAT.sniff(data[:4096], ".bin")
    assert not FORMAT.sniff(b"#!AER-DAT2.0\r\n# jAER", ".aedat4")
    assert not FORMAT.sniff(b"% Data file containing CD events", ".aedat4")
    assert "aedat4" in _READER_MODULES and FORMAT.name == "aedat4"


def test_open_file_finds_it_under_any_name(tmp_path):
    path, data = _good_file(tmp_path)
    renamed = tmp_path / "recording.bin"
    renamed.write_bytes(data)
    src = open_file(renamed)
    assert isinstance(src, Aedat4Source) and len(src.read_all()) == 2000


def _open_fds_to(path: Path) -> int:
    fd_dir = Path("/proc/self/fd")
    n = 0
    for fd in fd_dir.iterdir():
        try:
            n += os.readlink(fd) == str(path.resolve())
        except OSError:
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_close_mid_iteration_closes_the_file(tmp_path):
    path, _ = _good_file(tmp_path)
    src = Aedat4Source(path, chunk_events=100)
    it = iter(src)
    assert len(next(it)) == 100
    assert _open_fds_to(path) == 1
    src.close()
    assert _open_fds_to(path) == 0
    with pytest.raises(StopIteration):
        next(it)


# ---------------------------------------------------------- real recordings

FORMAT_FILES = {
    "davis346.aedat4": ((346, 260, 2), 117_667),
    "dvxplorer.aedat4": ((320, 240, 2), 111_954),
}


@pytest.fixture(scope="module")
def real_files(recordings: Path, dvs128_files: list[Path]) -> list[Path]:
    files = dvs128_files + [recordings / "formats" / n for n in FORMAT_FILES]
    assert len(dvs128_files) == 8 and all(p.is_file() for p in files)
    return files


def test_real_files_match_faery_event_for_event(real_files):
    faery = pytest.importorskip("faery")
    for path in real_files:
        src = Aedat4Source(path)
        ev = src.read_all()
        ref = faery.events_stream_from_file(str(path)).to_array()
        assert len(ev) == len(ref) > 10_000, path
        for ours, theirs in (("t", "t"), ("x", "x"), ("y", "y"), ("p", "on")):
            assert np.array_equal(ev[ours].astype(np.int64), ref[theirs].astype(np.int64)), path
        w, h, _ = src.sensor_size
        assert ev["x"].min() >= 0 and ev["x"].max() < w and ev["y"].min() >= 0 and ev["y"].max() < h
        assert np.all(np.diff(ev["t"]) >= 0), path
        assert 0.3 < ev["p"].mean() < 0.7, path
        if path.name in FORMAT_FILES:
            assert (src.sensor_size, len(ev)) == FORMAT_FILES[path.name]
            assert src.counters["skipped_packets"] > 0  # frames, IMU, triggers
        else:
            assert src.sensor_size == (128, 128, 2)


def test_busy_dvs128_files_match_aestream(busy_dvs128_files):
    aestream = pytest.importorskip("aestream")
    for path in busy_dvs128_files[:2]:
        ref = aestream.FileInput(str(path), (128, 128)).load()
        ev = Aedat4Source(path).read_all()
        assert len(ev) == len(ref) > 100_000
        for ours, theirs in (("t", "timestamp"), ("x", "x"), ("y", "y"), ("p", "polarity")):
            assert np.array_equal(ev[ours].astype(np.int64), ref[theirs].astype(np.int64))


def test_chunking_gives_the_same_stream(busy_dvs128_files):
    path = busy_dvs128_files[0]
    whole = Aedat4Source(path).read_all()
    chunks = list(Aedat4Source(path, chunk_events=1000))
    assert all(len(c) == 1000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 1000
    assert np.array_equal(np.concatenate(chunks), whole)


def test_memory_stays_bounded_by_the_chunk(busy_dvs128_files):
    path = busy_dvs128_files[0]
    decoded_bytes = 348_461 * EVENT_DTYPE.itemsize  # the whole file, decoded
    tracemalloc.start()
    try:
        n = sum(len(c) for c in Aedat4Source(path, chunk_events=1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 348_461
    assert peak < decoded_bytes / 2


# ---------------------------------------------------------- fuzzing real bytes


@pytest.mark.parametrize("which", ["dvs128", "dvxplorer"])
def test_fuzzed_real_bytes_give_events_or_format_error(which, recordings, dvs128_files, tmp_path):
    source = dvs128_files[0] if which == "dvs128" else recordings / "formats" / "dvxplorer.aedat4"
    data = source.read_bytes()
    target = tmp_path / "fuzz.aedat4"
    files = splices(data, near=2000)
    open_ = partial(Aedat4Source, chunk_events=5000)
    seen = fuzz_reader(target, files, open_, 60, derandomize=True)
    assert seen["crash_free"] == seen["run"] >= 50
    assert seen["format_error"] > 0
