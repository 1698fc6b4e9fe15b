"""Writers: save_events round trips (.npz, .csv, .raw) and our EVT 2.0 encoder
against our reader, expelliarmus and faery, including time-high wraps and long gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikestream.streams import FormatError, open_source
from spikestream.streams.events import make_events
from spikestream.streams.readers.prophesee_raw import open_raw
from spikestream.streams.writers import save_events, write_evt2


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    rng = np.random.default_rng(7)
    n = 20_000
    return make_events(
        np.sort(rng.integers(0, 5 * 10**6, n)), rng.integers(0, 346, n), rng.integers(0, 260, n),
        rng.integers(0, 2, n),
    )  # fmt: skip


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".raw"])
def test_save_events_round_trips_through_open_source(events, tmp_path: Path, suffix) -> None:
    p = save_events(tmp_path / f"rec{suffix}", events, (346, 260, 2))
    assert p == tmp_path / f"rec{suffix}" and p.is_file()
    src = open_source(p)
    assert src.sensor_size == (346, 260, 2)
    np.testing.assert_array_equal(src.read_all(), events)
    assert [q.name for q in tmp_path.iterdir()] == [p.name]  # no temporary file left
    empty = save_events(tmp_path / f"empty{suffix}", events[:0], (346, 260))
    assert len(open_source(empty).read_all()) == 0


def test_save_events_accepts_other_layouts(events, tmp_path: Path) -> None:
    other = np.empty(len(events), [("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "?")])
    for f in "txyp":
        other[f] = events[f]
    p = save_events(tmp_path / "o.npz", other, (346, 260))
    np.testing.assert_array_equal(open_source(p).read_all(), events)


def test_save_events_rejects_bad_input(events, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot write '.txt'; known: .npz, .csv, .raw"):
        save_events(tmp_path / "e.txt", events, (346, 260))
    with pytest.raises(ValueError, match="x outside 0..99 of the 100x260 sensor"):
        save_events(tmp_path / "e.npz", events, (100, 260))
    wide = np.zeros(1, [("t", "<i8"), ("x", "<i4"), ("y", "<i4"), ("p", "<i4")])
    wide["x"] = 65536 + 3  # would wrap to 3 in int16: refused before conversion
    with pytest.raises(ValueError, match="x outside"):
        save_events(tmp_path / "w.npz", wide, (346, 260))
    shuffled = events[::-1]
    with pytest.raises(ValueError, match="not in time order"):
        save_events(tmp_path / "s.csv", shuffled, (346, 260))
    with pytest.raises(FormatError, match="lacks field"):
        save_events(tmp_path / "f.npz", events[["t", "x"]], (346, 260))
    with pytest.raises(ValueError, match="sensor_size must be"):
        save_events(tmp_path / "z.npz", events, (0, 260))
    assert not any(tmp_path.iterdir())  # nothing written, nothing left behind


def test_evt2_read_by_expelliarmus_and_faery(events, tmp_path: Path) -> None:
    import faery
    from expelliarmus import Wizard

    p = write_evt2(tmp_path / "e.raw", events, (346, 260))
    header = p.read_bytes()[:200]
    assert header.startswith(b"% evt 2.0\n% format EVT2;height=260;width=346\n")
    ex = Wizard(encoding="evt2").read(p)
    fa = faery.events_stream_from_file(p)
    assert fa.dimensions() == (346, 260)
    fa = fa.to_array()
    for f in "txyp":
        np.testing.assert_array_equal(ex[f], events[f].astype(ex[f].dtype))
        np.testing.assert_array_equal(fa["on" if f == "p" else f], events[f].astype(fa[f].dtype))


def test_evt2_recording_round_trips(recordings: Path, tmp_path: Path) -> None:
    src = open_raw(recordings / "formats" / "gen3-evt2.raw")
    ev = src.read_all()
    p = write_evt2(tmp_path / "copy.raw", ev, src.sensor_size)
    np.testing.assert_array_equal(open_raw(p, block_words=4099).read_all(), ev)


def test_evt2_wrap_and_long_gaps(tmp_path: Path) -> None:
    wrap = 1 << 34  # EVT 2.0 time high wraps every 2**34 µs (~4.8 h)
    t = [0, 63, 64, wrap - 1, wrap, wrap + 5, 3 * wrap + 7, 3 * wrap + 7, 10 * wrap]
    ev = make_events(t, np.arange(len(t)), np.arange(len(t)), np.arange(len(t)) % 2)
    p = write_evt2(tmp_path / "w.raw", ev, (16, 16))
    for block_words in (1, 5, 1 << 20):
        got = open_raw(p, block_words=block_words, chunk_events=3).read_all()
        np.testing.assert_array_equal(got, ev)
    words = np.frombuffer(p.read_bytes().split(b"% end\n", 1)[1], "<u4")
    # a time high at least every 2**26 * 64 µs: 10 * 2**34 µs need >= 40 of them
    assert np.count_nonzero(words >> 28 == 8) >= 40


def test_evt2_limits(events, tmp_path: Path) -> None:
    neg = make_events([-1, 5], [0, 0], [0, 0], [0, 1])
    with pytest.raises(ValueError, match="negative timestamps"):
        write_evt2(tmp_path / "n.raw", neg, (4, 4))
    big = make_events([1], [3000], [0], [1])
    with pytest.raises(ValueError, match="at most 2048x2048"):
        write_evt2(tmp_path / "b.raw", big, (4096, 4))
