"""The AEDAT 4.0 kernel: LZ4 frames it decodes itself (checked against python-lz4,
whose xxHash-32 checksums it must reproduce), frames it leaves to Python, block
refills, growth of its buffers, and the Python fallback without liblz4."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
import zstandard

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, make_events
from spikestream.streams.readers import aedat4
from spikestream.streams.readers._aedat4_kernel import ARG0, N_STATE, lz4_frame
from spikestream.streams.readers.aedat4 import Aedat4Source

# ------------------------------------------------------------ a minimal DV writer


def _xml(streams: dict[int, str]) -> bytes:
    nodes = "".join(
        f'<node name="{sid}" path="/o/{sid}/"><attr key="typeIdentifier" type="string">{kind}'
        '</attr><node name="info" path="/o/i/"><attr key="sizeX" type="int">64</attr>'
        '<attr key="sizeY" type="int">48</attr></node></node>'
        for sid, kind in streams.items()
    )
    return f'<dv version="2.0"><node name="outInfo" path="/o/">{nodes}</node></dv>'.encode()


def _header(compression: int, xml: bytes) -> bytes:
    """IOHeader flatbuffer (root table at 20, vtable at 8), no data table."""
    text = xml + b"\0"
    vtable = struct.pack("<5H", 10, 20, 4, 8, 16) + b"\0\0"
    table = struct.pack("<iiqI", 12, compression, -1, 4)
    return struct.pack("<I", 20) + b"IOHE" + vtable + table + struct.pack("<I", len(xml)) + text


def _event_packet(ev: np.ndarray) -> bytes:
    """An EventPacket flatbuffer as DV lays it out (16-byte events)."""
    raw = np.zeros(len(ev), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("_", "V3")])
    raw["t"], raw["x"], raw["y"], raw["on"] = ev["t"], ev["x"], ev["y"], ev["p"]
    body = (struct.pack("<I", 16) + b"EVTS\0\0" + struct.pack("<3H", 6, 8, 4)
            + struct.pack("<iII", 6, 4, len(ev)) + raw.tobytes())  # fmt: skip
    return struct.pack("<I", len(body)) + body


COMPRESS = {0: lambda b: b, 1: lz4.frame.compress, 3: zstandard.ZstdCompressor().compress}


def write(path: Path, packets: list[tuple[int, bytes]], compression: int = 1) -> Path:
    xml = _xml({0: "EVTS", 2: "IMUS"})
    head = _header(compression, xml)
    body = b"".join(
        struct.pack("<ii", sid, len(c)) + c
        for sid, fb in packets
        for c in [COMPRESS[compression](fb)]
    )
    path.write_bytes(b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(head)) + head + body)
    return path


def events(n: int, seed: int = 0, t0: int = 10**12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(t0 + np.cumsum(rng.integers(0, 20, n)), rng.integers(0, 64, n),
                       rng.integers(0, 48, n), rng.integers(0, 2, n))  # fmt: skip


def _file(tmp_path: Path, sizes: list[int], compression: int = 1, imu: int = 30) -> tuple:
    ev = events(sum(sizes))
    packets = []
    for piece in np.split(ev, np.cumsum(sizes)[:-1]):
        packets += [(0, _event_packet(piece)), (2, b"\x10\0\0\0IMUS" + bytes(imu))]
    return write(tmp_path / "k.aedat4", packets, compression), ev


# ------------------------------------------------------------ LZ4 frames


def _frame_in(frame: bytes, dst_bytes: int) -> tuple[int, np.ndarray, np.ndarray]:
    src = np.frombuffer(frame, np.uint8)
    dst = np.zeros(dst_bytes, np.uint8)
    st = np.zeros(N_STATE, np.int64)
    return lz4_frame(src, 0, len(src), dst, st), dst, st


DATA = {
    "tiny": b"abc",
    "events": _event_packet(events(9000)),  # 144 KB: three 64 KB blocks
    "random": np.random.default_rng(1).integers(0, 256, 70_000, np.uint8).tobytes(),  # stored
}


@pytest.mark.parametrize("data", DATA, ids=str)
@pytest.mark.parametrize("linked", [True, False])
@pytest.mark.parametrize("checksums", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("store_size", [True, False])
def test_frames_it_decodes_match_python_lz4(data, linked, checksums, store_size) -> None:
    raw = DATA[data]
    frame = lz4.frame.compress(raw, block_linked=linked, content_checksum=checksums[0],
                               block_checksum=checksums[1], store_size=store_size)  # fmt: skip
    n, dst, _ = _frame_in(frame, 1 << 20)
    assert n == len(raw) and dst[:n].tobytes() == raw


def test_frames_it_cannot_vouch_for_go_to_python() -> None:
    raw = DATA["events"]
    frame = lz4.frame.compress(raw, content_checksum=True, block_checksum=True)
    assert _frame_in(frame, 1 << 20)[0] == len(raw)
    for where in (4, 6, len(frame) - 1, 20):  # FLG, header checksum, content checksum, data
        bad = bytearray(frame)
        bad[where] ^= 0x10
        assert _frame_in(bytes(bad), 1 << 20)[0] == -1, where
    assert _frame_in(frame[:-5], 1 << 20)[0] == -1  # cut short
    assert _frame_in(frame + b"\0", 1 << 20)[0] == -1  # bytes after the frame
    assert _frame_in(b"\0" * 4 + frame[4:], 1 << 20)[0] == -1  # not LZ4
    n, _, st = _frame_in(frame, 1000)  # too small a buffer: asks for more
    assert n == -2 and st[ARG0] >= len(raw)


# ------------------------------------------------------------ the reader around it


def _count_slow(monkeypatch) -> list[int]:
    calls = [0]
    real = Aedat4Source._slow_packet

    def spy(self, *args):
        calls[0] += 1
        return real(self, *args)

    monkeypatch.setattr(Aedat4Source, "_slow_packet", spy)
    return calls


@pytest.mark.parametrize("compression", [0, 1, 3])
def test_only_zstd_packets_take_the_python_path(tmp_path, monkeypatch, compression) -> None:
    path, ev = _file(tmp_path, [300, 0, 500], compression)
    calls = _count_slow(monkeypatch)
    src = Aedat4Source(path)
    assert np.array_equal(src.read_all(), ev) and src.counters["skipped_packets"] == 3
    assert calls[0] == (3 if compression == 3 else 0)


@pytest.mark.parametrize("block", [8, 40, 1000, 1 << 20])
@pytest.mark.parametrize("chunk", [1, 77, 1 << 16])
def test_packets_larger_than_the_read_block(tmp_path, monkeypatch, block, chunk) -> None:
    """Event and other packets bigger than the block buffer: it grows for events
    and seeks past the others."""
    monkeypatch.setattr(aedat4, "BLOCK_BYTES", block)
    path, ev = _file(tmp_path, [5, 700, 1, 300], imu=3000)
    chunks = list(Aedat4Source(path, chunk_events=chunk))
    assert all(len(c) == chunk for c in chunks[:-1]) and 0 < len(chunks[-1]) <= chunk
    assert np.array_equal(np.concatenate(chunks), ev)


def test_read_all_grows_its_guess_in_place(tmp_path, monkeypatch) -> None:
    path, ev = _file(tmp_path, [1000, 2000, 3000])
    monkeypatch.setattr(Aedat4Source, "_guess_events", lambda self, n_bytes: 3)
    got = Aedat4Source(path).read_all()
    assert got.dtype == EVENT_DTYPE and got.flags.owndata and np.array_equal(got, ev)


def test_time_going_back_between_packets_names_event_and_packet(tmp_path) -> None:
    ev = events(200)
    ev["t"][150:] -= ev["t"][150] - ev["t"][120]  # packet 2 starts before packet 1 ends
    ev["t"][150] -= 1
    packets = [(0, _event_packet(ev[:150])), (0, _event_packet(ev[150:]))]
    path = write(tmp_path / "b.aedat4", packets)
    second = 18 + struct.unpack_from("<I", path.read_bytes(), 14)[0]
    second += 8 + struct.unpack_from("<i", path.read_bytes(), second + 4)[0]
    for chunk in (1000, 150, 7):
        with pytest.raises(FormatError, match=f"time goes back at event 150: .*byte {second}\\)"):
            Aedat4Source(path, chunk_events=chunk).read_all()


def test_a_file_cut_after_it_was_opened(tmp_path) -> None:
    path, _ = _file(tmp_path, [1000, 1000])
    src = Aedat4Source(path)
    os.truncate(path, path.stat().st_size - 100)
    with pytest.raises(FormatError, match="truncated") as e:
        src.read_all()
    assert str(path) in str(e.value)


def test_without_liblz4_every_packet_is_decoded_in_python(tmp_path) -> None:
    """A python-lz4 that exports no decompressor: the kernel's stub fails every
    frame and the reader decodes them with lz4.frame instead."""
    path, ev = _file(tmp_path, [400, 600])
    np.save(tmp_path / "ev.npy", ev)
    script = textwrap.dedent(f"""
        import ctypes
        real = ctypes.CDLL
        class NoLz4(real):
            def __getattr__(self, name):
                if name.startswith("LZ4_"):
                    raise AttributeError(name)
                return super().__getattr__(name)
        ctypes.CDLL = NoLz4
        import numpy as np
        from spikestream.streams.readers import _aedat4_kernel as k
        from spikestream.streams.readers.aedat4 import Aedat4Source
        ctypes.CDLL = real
        assert not k.HAVE_LZ4
        got = Aedat4Source({str(path)!r}).read_all()
        assert np.array_equal(got, np.load({str(tmp_path / "ev.npy")!r}))
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
