"""Prophesee DAT reader: the real N-CARS file against expelliarmus and faery,
synthetic v1/v2/CD files, geometry, timestamp wrap, truncation, fuzzing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fuzz import edits, fuzz_reader, raises_format_error

from spikestream.streams import FormatError, open_source
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.readers.prophesee_dat import DEFAULT_SENSOR_SIZE, FORMAT, open_dat


@pytest.fixture(scope="module")
def dat_file(recordings: Path) -> Path:
    return recordings / "formats" / "ncars-atis.dat"


def test_ncars_equals_expelliarmus_and_faery(dat_file: Path) -> None:
    from expelliarmus import Wizard
    from faery.extension import dat

    src = open_source(dat_file)
    ev = src.read_all()
    assert src.version == 2 and src.event_type == "2D"
    assert src.header["Version"] == "2" and "Width" not in src.header  # no geometry stated
    assert src.sensor_size == DEFAULT_SENSOR_SIZE == (304, 240, 2)
    assert ev.dtype == EVENT_DTYPE and len(ev) == 2009
    assert ev["x"].max() == 77 and ev["y"].max() == 41 and ev["t"][-1] == 99_952
    ex = Wizard(encoding="dat").read(dat_file)
    with dat.Decoder(dat_file, (304, 240), "dat2") as decoder:
        fa = np.concatenate(list(decoder))
    for ref, pol in ((ex, "p"), (fa, "payload")):
        assert len(ref) == len(ev)
        for f in "txyp":
            np.testing.assert_array_equal(ev[f], ref[pol if f == "p" else f].astype(ev[f].dtype))
    for chunk in (1, 5, 2009):
        np.testing.assert_array_equal(open_dat(dat_file, chunk_events=chunk).read_all(), ev)
    assert open_dat(dat_file, sensor_size=(120, 100)).sensor_size == (120, 100, 2)
    with pytest.raises(FormatError, match="outside the 64x32 sensor"):
        open_dat(dat_file, sensor_size=(64, 32)).read_all()


def _dat(tmp: Path, name: str, header: str, t, data, kind: int = 0x0C) -> Path:
    rec = np.zeros(len(t), [("t", "<u4"), ("data", "<u4")])
    rec["t"], rec["data"] = t, data
    p = tmp / name
    p.write_bytes(header.encode() + bytes([kind, 8]) + rec.tobytes())
    return p


def _v2(x: int, y: int, p: int) -> int:
    return x | (y << 14) | (p << 28)


def test_v2_cd_with_geometry_wrap_and_clamp(tmp_path: Path) -> None:
    header = "% Data file containing CD events.\n% Version 2\n% Height 480\n% Width 640\n"
    t = [5, (1 << 32) - 10, 3, 2, 7]  # wrap after the 2nd event, then a small step back
    data = [_v2(639, 479, 1), _v2(0, 0, 0), _v2(1, 2, 1), _v2(3, 4, 0), _v2(5, 6, 1)]
    p = _dat(tmp_path, "cd.dat", header, t, data)
    for chunk in (1, 2, 10):
        src = open_dat(p, chunk_events=chunk)
        ev = src.read_all()
        assert src.sensor_size == (640, 480, 2) and src.event_type == "CD"
        L = 1 << 32
        assert ev["t"].tolist() == [5, L - 10, L + 3, L + 3, L + 7]
        assert ev["x"].tolist() == [639, 0, 1, 3, 5] and ev["y"].tolist() == [479, 0, 2, 4, 6]
        assert ev["p"].tolist() == [1, 0, 1, 0, 1] and src.counters["t_clamped"] == 1
    with pytest.raises(FormatError, match="disagrees"):
        open_dat(p, sensor_size=(304, 240))


def test_v1_layout_and_geometry_key(tmp_path: Path) -> None:
    header = "% Data file containing Event2D events.\n% Version 1\n% geometry 304x240\n"
    data = [303 | (239 << 9) | (1 << 17), 7 | (8 << 9)]
    src = open_dat(_dat(tmp_path, "v1.dat", header, [1, 2], data, kind=0x00))
    ev = src.read_all()
    assert src.version == 1 and src.sensor_size == (304, 240, 2)
    assert ev["x"].tolist() == [303, 7] and ev["y"].tolist() == [239, 8]
    assert ev["p"].tolist() == [1, 0]


def test_bad_type_size_version_and_truncation(dat_file: Path, tmp_path: Path) -> None:
    h = "% Data file containing CD events.\n"
    cases = [
        ("trig.dat", h, 0x0E, 8, "holds external trigger events only"),
        ("kind.dat", h, 0x05, 8, "unsupported DAT event type 0x05"),
        ("size.dat", h, 0x0C, 16, "unsupported DAT event size 16"),
        ("ver.dat", h + "% Version 3\n", 0x0C, 8, "unsupported DAT version '3'"),
    ]
    for name, header, kind, size, match in cases:
        p = tmp_path / name
        p.write_bytes(header.encode() + bytes([kind, size]) + bytes(16))
        with pytest.raises(FormatError, match=f"{name}: {match}"):
            open_dat(p)
    data = dat_file.read_bytes()
    cut, bare, magic = tmp_path / "cut.dat", tmp_path / "bare.dat", tmp_path / "magic.dat"

    def read_all(p: Path) -> np.ndarray:
        return open_dat(p).read_all()

    raises_format_error(cut, data[:-3], read_all, r"cut.dat: truncated: 5 byte\(s\) at byte \d+")
    raises_format_error(bare, h.encode(), open_dat, "bare.dat: truncated: no event type")
    raises_format_error(magic, b"#" + data[1:], open_dat, "magic.dat: no '% ' header")


def test_sniff(dat_file: Path, recordings: Path) -> None:
    head = dat_file.read_bytes()[:4096]
    assert FORMAT.sniff(head, ".dat") and FORMAT.sniff(head, ".bin")  # its header line
    assert FORMAT.sniff(b"% Date x\n% Height 2\n\x0c\x08" + bytes(8), ".dat")  # suffix + size byte
    assert not FORMAT.sniff(b"% Date x\n% Height 2\n\x0c\x08" + bytes(8), ".raw")
    evt2 = (recordings / "formats" / "gen3-evt2.raw").read_bytes()[:4096]
    assert not FORMAT.sniff(evt2, ".raw")
    assert not FORMAT.sniff(b"\x93NUMPY", ".dat")


def test_fuzzed_files_give_valid_events_or_format_error(dat_file, tmp_path_factory) -> None:
    data = dat_file.read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "f.dat"
    files = edits(data, head=120, ops=("flip", "cut", "insert", "set"))
    seen = fuzz_reader(path, files, lambda p: open_dat(p, chunk_events=500), 50)
    assert seen["events"] + seen["format_error"] == seen["run"] == 50
