"""Prophesee EVT 2.0 / EVT 3.0 ``.raw`` reader: real files against expelliarmus and
faery, synthetic word streams for wraparound and block splits, header handling, fuzzing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fuzz import edits, fuzz_reader, raises_format_error

from spikestream.streams import FormatError, open_source
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.readers._prophesee_header import read_header
from spikestream.streams.readers.prophesee_raw import FORMAT, open_raw

EVT2_EVENTS, EVT3_EVENTS = 521_252, 219_596


@pytest.fixture(scope="module")
def evt2_file(recordings: Path) -> Path:
    return recordings / "formats" / "gen3-evt2.raw"


@pytest.fixture(scope="module")
def evt3_file(recordings: Path) -> Path:
    return recordings / "formats" / "gen41-evt3.raw"


def _faery(path: Path, dims: tuple[int, int]) -> np.ndarray:
    import faery

    return faery.events_stream_from_file(path, dimensions_fallback=dims).to_array()


def _same(ours: np.ndarray, ref: np.ndarray, fields: str = "txyp") -> None:
    pol = "on" if "on" in (ref.dtype.names or ()) else "p"
    assert len(ours) == len(ref)
    for f in fields:
        np.testing.assert_array_equal(ours[f], ref[pol if f == "p" else f].astype(ours[f].dtype))


def test_evt2_equals_expelliarmus_and_faery(evt2_file: Path) -> None:
    from expelliarmus import Wizard

    src = open_source(evt2_file)
    ev = src.read_all()
    assert src.encoding == "evt2" and src.sensor_size == (640, 480, 2)  # from system_ID 21
    assert ev.dtype == EVENT_DTYPE and len(ev) == EVT2_EVENTS == src.counters["events"]
    _same(ev, Wizard(encoding="evt2").read(evt2_file))
    _same(ev, _faery(evt2_file, (640, 480)))
    assert np.all(np.diff(ev["t"]) >= 0) and src.counters["t_clamped"] == 0


def test_evt3_equals_faery_and_expelliarmus_until_its_time_glitch(evt3_file: Path) -> None:
    from expelliarmus import Wizard

    src = open_source(evt3_file)
    ev = src.read_all()
    assert src.encoding == "evt3" and src.sensor_size == (1280, 720, 2)  # system_ID 48
    assert len(ev) == EVT3_EVENTS
    _same(ev, _faery(evt3_file, (1280, 720)))
    assert (ev["t"][0], ev["t"][-1]) == (11_718_656, 11_727_467)  # 8.8 ms
    # The file holds one TIME_LOW word that jumps ahead (811) and back (800):
    # faery and we clamp those events; expelliarmus adds 4096 µs from there on.
    ex = Wizard(encoding="evt3").read(evt3_file)
    _same(ev, ex, "xyp")
    first_diff = int(np.argmax(ev["t"] != ex["t"]))
    assert first_diff > 20_000 and np.array_equal(ev["t"][:first_diff], ex["t"][:first_diff])
    assert src.counters["t_clamped"] > 0


@pytest.mark.parametrize(
    ("block_words", "chunk_events"), [(1, 1), (3, 7), (4096, 1), (4096, 1 << 16), (1 << 20, 999)]
)
def test_block_and_chunk_splits_change_nothing(
    evt2_file: Path, evt3_file: Path, tmp_path: Path, block_words: int, chunk_events: int
) -> None:
    for path in (evt2_file, evt3_file):
        if block_words * chunk_events < 1 << 20:  # a prefix keeps the tiny splits fast
            _, offset = read_header(path)
            prefix = tmp_path / path.name
            prefix.write_bytes(path.read_bytes()[: offset + (1 << 15)])
            path = prefix
        whole = open_raw(path).read_all()
        chunks = list(open_raw(path, block_words=block_words, chunk_events=chunk_events))
        assert max(len(c) for c in chunks) <= chunk_events
        np.testing.assert_array_equal(np.concatenate(chunks), whole)


# --- synthetic word streams -------------------------------------------------------------


def _evt3(*words: int) -> bytes:
    return np.array(words, "<u2").tobytes()


def TH3(v: int) -> int:
    """EVT 3.0 EVT_TIME_HIGH word."""
    return 0x8000 | v


def TL3(v: int) -> int:
    """EVT 3.0 EVT_TIME_LOW word."""
    return 0x6000 | v


def Y3(v: int) -> int:
    """EVT 3.0 EVT_ADDR_Y word."""
    return 0x0000 | v


def X3(x: int, p: int) -> int:
    """EVT 3.0 EVT_ADDR_X word (one event)."""
    return 0x2000 | (p << 11) | x


def BX3(x: int, p: int) -> int:
    """EVT 3.0 VECT_BASE_X word."""
    return 0x3000 | (p << 11) | x


def _write(tmp: Path, name: str, header: str, body: bytes) -> Path:
    p = tmp / name
    p.write_bytes(header.encode() + body)
    return p


EVT3_HEADER = "% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"
EVT2_HEADER = "% evt 2.0\n% geometry 640x480\n"


def test_evt3_time_high_wraps_every_2_pow_24_us_and_vectors(tmp_path: Path) -> None:
    body = _evt3(
        TH3(4094), TL3(10), Y3(5), X3(3, 1),  # t = 4094*4096 + 10
        TH3(4095), TL3(4000), X3(4, 0),  # t = 4095*4096 + 4000
        TH3(0), TL3(7), X3(5, 1),  # wrap: t = 2**24 + 7
        TH3(1), BX3(100, 0), 0x4000 | 0b1000_0000_0101, 0x5000 | 0b1000_0001,  # vectors
        0xA000 | 0x101, 0xE000, 0xF000, 0x7000, 0x9000,  # trigger, others x3, unknown
        TH3(4095), TH3(0), TL3(1), Y3(719), X3(1279, 1),  # second wrap
    )  # fmt: skip
    p = _write(tmp_path, "w.raw", EVT3_HEADER, body)
    L = 1 << 24
    want_t = [4094 * 4096 + 10, 4095 * 4096 + 4000, L + 7] + [L + 4096] * 5 + [2 * L + 1]
    want_x = [3, 4, 5, 100, 102, 111, 112, 119, 1279]
    want_y = [5] * 8 + [719]
    want_p = [1, 0, 1, 0, 0, 0, 0, 0, 1]
    for block_words in (1, 2, 3, 5, 64):
        for chunk in (1, 2, 100):
            src = open_raw(p, block_words=block_words, chunk_events=chunk)
            ev = src.read_all()
            assert ev["t"].tolist() == want_t
            assert ev["x"].tolist() == want_x and ev["y"].tolist() == want_y
            assert ev["p"].tolist() == want_p
            assert src.counters["ext_triggers"] == 1 and src.counters["other_words"] == 3
            assert src.counters["unknown_words"] == 1


def test_evt3_small_step_back_is_clamped_and_counted(tmp_path: Path) -> None:
    body = _evt3(TH3(2), TL3(50), Y3(1), X3(1, 1), TL3(40), X3(2, 1), TL3(60), X3(3, 1))
    src = open_raw(_write(tmp_path, "c.raw", EVT3_HEADER, body))
    assert src.read_all()["t"].tolist() == [2 * 4096 + 50, 2 * 4096 + 50, 2 * 4096 + 60]
    assert src.counters["t_clamped"] == 1


def _evt2(*words: int) -> bytes:
    return np.array(words, "<u4").tobytes()


def CD2(p: int, tl: int, x: int, y: int) -> int:
    """EVT 2.0 CD_OFF / CD_ON word."""
    return (p << 28) | (tl << 22) | (x << 11) | y


def TH2(v: int) -> int:
    """EVT 2.0 EVT_TIME_HIGH word."""
    return 0x8000_0000 | v


def test_evt2_time_high_wraps_every_2_pow_34_us(tmp_path: Path) -> None:
    top = (1 << 28) - 1
    body = _evt2(
        CD2(1, 3, 7, 9),  # before any time high: t = 3
        TH2(top), CD2(0, 5, 639, 479), 0xA000_0000, 0xE000_0000, 0xF000_0000, 0x3000_0000,
        TH2(0), CD2(1, 1, 0, 0),  # wrap
        TH2(top - 5), CD2(0, 0, 1, 1),  # a big jump back again: second wrap
        TH2(top - 6), CD2(0, 2, 2, 2),  # a small step back: clamped
    )  # fmt: skip
    p = _write(tmp_path, "w2.raw", EVT2_HEADER, body)
    for block_words in (1, 2, 7):
        src = open_raw(p, block_words=block_words, chunk_events=2)
        ev = src.read_all()
        L = 1 << 34
        t2 = L + ((top - 5) << 6)
        assert ev["t"].tolist() == [3, (top << 6) + 5, L + 1, t2, t2]
        assert ev["x"].tolist() == [7, 639, 0, 1, 2] and ev["p"].tolist() == [1, 0, 1, 0, 0]
        assert src.counters["ext_triggers"] == 1 and src.counters["other_words"] == 2
        assert src.counters["unknown_words"] == 1 and src.counters["t_clamped"] == 1


# --- header ---------------------------------------------------------------------------


def test_geometry_sources_and_conflicts(tmp_path: Path) -> None:
    body = _evt2(TH2(1), CD2(1, 0, 1, 1))
    cases = {
        "% evt 2.0\n% format EVT2;height=48;width=64\n": (64, 48, 2),
        "% evt 2.0\n% geometry 32x24\n": (32, 24, 2),
        "% evt 3.0\n% sensor_generation 4.1\n": (1280, 720, 2),
        "% evt 2.0\n% integrator_name Prophesee\n% system_ID 28\n": (640, 480, 2),
        "% integrator_name Prophesee\n% system_ID 48\n": (1280, 720, 2),  # EVT3 inferred
    }
    for i, (header, size) in enumerate(cases.items()):
        assert open_raw(_write(tmp_path, f"g{i}.raw", header, body)).sensor_size == size
    bare = _write(tmp_path, "bare.raw", "% evt 2.0\n% system_ID 48\n% integrator_name Acme\n", body)
    with pytest.raises(FormatError, match="bare.raw: .*pass sensor_size"):
        open_raw(bare)
    assert open_raw(bare, sensor_size=(8, 4)).sensor_size == (8, 4, 2)
    with pytest.raises(FormatError, match="disagrees"):
        open_raw(tmp_path / "g1.raw", sensor_size=(640, 480))
    # an inferred geometry yields to sensor_size=
    assert open_raw(tmp_path / "g2.raw", sensor_size=(4, 4)).sensor_size == (4, 4, 2)
    for name, header, match in [
        ("e21.raw", "% evt 2.1\n% geometry 4x4\n", "unsupported encoding"),
        ("none.raw", "% Date today\n% geometry 4x4\n", "no '% evt'"),
        ("geo.raw", "% evt 2.0\n% geometry 4by4\n", "not WIDTHxHEIGHT"),
    ]:
        with pytest.raises(FormatError, match=f"{name}: .*{match}"):
            open_raw(_write(tmp_path, name, header, body))


def test_end_marker_and_binary_starting_with_percent(tmp_path: Path) -> None:
    words = _evt2(CD2(0, 0, 1, 0x25), TH2(1), CD2(1, 0, 2, 3))  # first byte is '%'
    assert words[:1] == b"%"
    with_end = _write(tmp_path, "end.raw", "% evt 2.0\n% geometry 640x480\n% end\n", words)
    without = _write(tmp_path, "noend.raw", "% evt 2.0\n% geometry 640x480\n", words)
    for p in (with_end, without):
        assert open_raw(p).read_all()["y"].tolist() == [0x25, 3]


def test_faery_written_files_with_t0_read_back(tmp_path: Path) -> None:
    import faery
    from faery.events_stream import EVENTS_DTYPE

    rng = np.random.default_rng(1)
    ev = np.zeros(2000, EVENTS_DTYPE)
    ev["t"] = np.sort(rng.integers(10**6, 3 * 10**7, len(ev)))  # crosses an EVT3 wrap
    ev["x"], ev["y"], ev["on"] = rng.integers(0, 64, len(ev)), rng.integers(0, 48, len(ev)), 1
    for version in ("evt2", "evt3"):
        p = tmp_path / f"f-{version}.raw"
        faery.events_stream_from_array(ev, dimensions=(64, 48)).to_file(p, version=version)
        src = open_raw(p)
        assert src.encoding == version and src.sensor_size == (64, 48, 2) and src.t0_us > 0
        _same(src.read_all(), ev)


def test_sniff(evt2_file: Path, evt3_file: Path, recordings: Path) -> None:
    for p in (evt2_file, evt3_file):
        assert FORMAT.sniff(p.read_bytes()[:4096], ".raw")
    assert FORMAT.sniff(b"% evt 3.0\n% end\n", ".bin")  # content first
    assert not FORMAT.sniff((recordings / "formats" / "ncars-atis.dat").read_bytes()[:4096], ".dat")
    assert not FORMAT.sniff(b"\x00" * 64, ".raw")


def test_truncated_and_wrong_magic_raise_format_error(evt2_file: Path, tmp_path: Path) -> None:
    data = evt2_file.read_bytes()
    cut, head, magic = tmp_path / "cut.raw", tmp_path / "head.raw", tmp_path / "magic.raw"

    def read_all(p: Path) -> np.ndarray:
        return open_raw(p).read_all()

    # the file itself ends 2 bytes past a word
    raises_format_error(
        cut, data[: len(data) - 3], read_all, r"cut.raw: truncated: \d+ byte\(s\) at byte \d+"
    )
    raises_format_error(head, data[:60], open_raw, "head.raw: header line at byte")  # in the header
    raises_format_error(magic, b"\x00\x01" + data[2:], open_raw, "magic.raw: no '% ' header")


# --- fuzz -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gen3-evt2.raw", "gen41-evt3.raw"])
def test_fuzzed_files_give_valid_events_or_format_error(recordings, tmp_path_factory, name):
    data = (recordings / "formats" / name).read_bytes()[: 1 << 15]
    data = data[: len(data) - len(data) % 4]
    path = tmp_path_factory.mktemp("fuzz") / name
    files = edits(data, head=400, ops=("flip", "cut", "insert", "set"))
    seen = fuzz_reader(path, files, open_raw, 50)
    assert seen["events"] + seen["format_error"] == seen["run"] == 50


def test_memory_stays_bounded_by_block_and_chunk(evt2_file: Path) -> None:
    import tracemalloc

    size = evt2_file.stat().st_size  # 2.1 MB of words, 6.8 MB of decoded events
    next(iter(open_raw(evt2_file, chunk_events=10)))  # load the kernel before measuring
    tracemalloc.start()
    try:
        n = sum(len(c) for c in open_raw(evt2_file, block_words=4096, chunk_events=4096))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == EVT2_EVENTS
    assert peak < 300_000 < size  # one 16 KiB block + a few 53 KB chunks, not the file
