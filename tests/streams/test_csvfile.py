"""CSV reader: our layout, faery's and Prophesee's, column orders, sensor size
sources, line-numbered errors, chunking, fuzzing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fuzz import edits, fuzz_reader

from spikestream.streams import FormatError, open_source
from spikestream.streams.events import make_events
from spikestream.streams.readers.csvfile import FORMAT, open_csv
from spikestream.streams.writers import save_events


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    rng = np.random.default_rng(3)
    n = 3000
    return make_events(
        np.sort(rng.integers(0, 10**7, n)), rng.integers(0, 64, n), rng.integers(0, 48, n),
        rng.integers(0, 2, n),
    )  # fmt: skip


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_own_layout_round_trip_in_chunks(events: np.ndarray, tmp_path: Path) -> None:
    p = save_events(tmp_path / "e.csv", events, (64, 48, 2))
    assert p.read_text().startswith("# sensor_size: 64 48\nt,x,y,p\n")
    src = open_source(p)
    assert src.sensor_size == (64, 48, 2) and src.columns == ("t", "x", "y", "p")
    np.testing.assert_array_equal(src.read_all(), events)
    for chunk in (1, 7, 5000):
        chunks = list(open_csv(p, chunk_events=chunk))
        assert max(len(c) for c in chunks) <= chunk
        np.testing.assert_array_equal(np.concatenate(chunks), events)


def test_faery_csv_header_gives_order_and_size(events: np.ndarray, tmp_path: Path) -> None:
    import faery
    from faery.events_stream import EVENTS_DTYPE

    ev = np.zeros(len(events), EVENTS_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["on"] = events["t"], events["x"], events["y"], events["p"]
    p = tmp_path / "faery.csv"
    faery.events_stream_from_array(ev, dimensions=(64, 48)).to_file(p)
    assert p.read_bytes().startswith(b"t,x@64,y@48,on\r\n")
    src = open_csv(p)
    assert src.sensor_size == (64, 48, 2)
    np.testing.assert_array_equal(src.read_all(), events)


def test_prophesee_csv_geometry_line_and_xypt_order(tmp_path: Path) -> None:
    p = _write(tmp_path, "mv.csv", "%geometry:320,240\n5,6,1,100\n7,8,0,150\n")
    src = open_csv(p)
    assert src.sensor_size == (320, 240, 2) and src.columns == ("x", "y", "p", "t")
    ev = src.read_all()
    assert ev["t"].tolist() == [100, 150] and ev["x"].tolist() == [5, 7]
    assert ev["p"].tolist() == [1, 0]


def test_column_orders_aliases_and_polarity(tmp_path: Path) -> None:
    text = "# sensor_size: 10 10\nx,y,timestamp,polarity\n1,2,5,-1\n3,4,6,1\n"
    ev = open_csv(_write(tmp_path, "a.csv", text)).read_all()
    assert ev["t"].tolist() == [5, 6] and ev["x"].tolist() == [1, 3] and ev["p"].tolist() == [0, 1]
    bare = _write(tmp_path, "bare.csv", "1,2,5,0\n3,4,6,1\n\n# note\n5,6,7,1\n")
    ev = open_csv(bare, sensor_size=(10, 10), columns=("x", "y", "t", "p")).read_all()
    assert ev["t"].tolist() == [5, 6, 7] and ev["y"].tolist() == [2, 4, 6]
    ev = open_csv(bare, sensor_size=(10, 10)).read_all()  # documented default t,x,y,p
    assert ev["t"].tolist() == [1, 3, 5]
    with pytest.raises(FormatError, match="disagrees with the header"):
        open_csv(
            _write(tmp_path, "h.csv", "t,x,y,p\n1,1,1,1\n"), sensor_size=(4, 4), columns="xytp"
        )
    with pytest.raises(FormatError, match="must name t, x, y and p once each"):
        open_csv(bare, sensor_size=(10, 10), columns=("t", "x", "x", "p"))
    with pytest.raises(FormatError, match="header column 'z' is not one of"):
        open_csv(_write(tmp_path, "z.csv", "t,x,y,z\n"), sensor_size=(4, 4))


def test_sensor_size_is_required_and_checked(tmp_path: Path) -> None:
    bare = _write(tmp_path, "n.csv", "t,x,y,p\n1,2,3,1\n")
    with pytest.raises(FormatError, match=r"n.csv: the file states no sensor size.*sensor_size="):
        open_csv(bare)
    assert open_csv(bare, sensor_size=(8, 8)).sensor_size == (8, 8, 2)
    stated = _write(tmp_path, "s.csv", "# sensor_size: 8 6 1\nt,x,y,p\n1,2,3,0\n")
    assert open_csv(stated).sensor_size == (8, 6, 1)
    with pytest.raises(FormatError, match="disagrees with the file's 8x6"):
        open_csv(stated, sensor_size=(9, 6))
    zero = _write(tmp_path, "zero.csv", "t,x@0,y@6,on\n")
    with pytest.raises(FormatError, match="zero.csv: impossible sensor size 0x6x2"):
        open_csv(zero)
    both = _write(tmp_path, "b.csv", "# sensor_size: 8 6\nt,x@9,y@6,on\n")
    with pytest.raises(FormatError, match="sensor sizes disagree"):
        open_csv(both)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("1,2,3,1\n2,2,3\n", "line 4: expected 4 integers, got '2,2,3'"),
        ("1,2,3,1\n2,2,x,1\n", "line 4: expected 4 integers"),
        ("1,2,3,1\n\n2,2,3,1.5\n", "line 5: expected 4 integers"),
        ("5,2,3,1\n4,2,3,1\n", "line 4: a timestamp before the previous line's"),
        ("1,2,3,1\n2,2,3,2\n", "line 4: a polarity other than -1, 0 or 1"),
        ("1,2,3,1\n2,70000,3,1\n", "line 4: a coordinate outside 0..32767"),
    ],
)
def test_bad_lines_name_their_line(tmp_path: Path, body: str, match: str) -> None:
    p = _write(tmp_path, "bad.csv", "# sensor_size: 8 8\nt,x,y,p\n" + body)
    for chunk in (1, 100):
        with pytest.raises(FormatError, match=f"bad.csv: {match}"):
            open_csv(p, chunk_events=chunk).read_all()


def test_out_of_sensor_and_non_text(tmp_path: Path) -> None:
    p = _write(tmp_path, "o.csv", "# sensor_size: 8 8\nt,x,y,p\n1,9,3,1\n")
    with pytest.raises(FormatError, match="o.csv: event 0 .* outside the 8x8 sensor"):
        open_csv(p).read_all()
    src = open_csv(p, out_of_range="drop")
    assert len(src.read_all()) == 0 and src.counters["dropped_out_of_range"] == 1
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"# sensor_size: 8 8\n\xff\xfe\x00\x01")
    with pytest.raises(FormatError, match="bin.csv: not a UTF-8 text file"):
        open_csv(binary)


def test_sniff() -> None:
    assert FORMAT.sniff(b"t,x,y,p\n", ".csv") and not FORMAT.sniff(b"t,x,y,p\n", ".txt")
    assert not FORMAT.sniff(b"\x00\x01", ".csv")


def test_fuzzed_files_give_valid_events_or_format_error(events, tmp_path_factory) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    data = save_events(d / "base.csv", events[:300], (64, 48, 2)).read_bytes()
    path = d / "f.csv"
    files = edits(data, head=40, inserts=[b",", b"\n", b"-", b"9", b"#", b"%"])
    seen = fuzz_reader(path, files, lambda p: open_csv(p, chunk_events=64), 50)
    assert seen["events"] + seen["format_error"] == seen["run"] == 50
