"""Sniffing and opening files: errors that name the file, and the bytes
``open_file`` reads once and hands to the reader (a small file is opened once)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from spikestream.streams.errors import FormatError
from spikestream.streams.formats import HANDOVER_BYTES, formats, open_file, sniff_format
from spikestream.streams.readers.nmnist import NmnistSource
from spikestream.streams.readers.prophesee_dat import PropheseeDatSource
from spikestream.streams.source import HANDOVER


def _dat(path: Path, n: int) -> np.ndarray:
    """A DAT v2 file of ``n`` CD events; returns its (t, x, y, p) as columns."""
    i = np.arange(n, dtype=np.uint32)
    t, x, y, p = i * 3, i % 304, (i * 7) % 240, i % 2
    rec = np.empty(n, [("t", "<u4"), ("d", "<u4")])
    rec["t"], rec["d"] = t, x | (y << 14) | (p << 28)
    path.write_bytes(b"% Data file containing CD events.\n% Version 2\n\x0c\x08" + rec.tobytes())
    return np.stack([t, x, y, p])


def _nmnist(path: Path, n: int) -> None:
    i = np.arange(n)
    t = i * 5
    rec = np.stack([i % 34, (i * 3) % 34, ((i % 2) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    path.write_bytes(rec.T.astype(np.uint8).tobytes())


def _columns(ev: np.ndarray) -> np.ndarray:
    return np.stack([ev["t"], ev["x"], ev["y"], ev["p"]])


def test_errors_name_the_file(tmp_path: Path) -> None:
    empty, text = tmp_path / "e.dat", tmp_path / "t.xyz"
    empty.write_bytes(b"")
    text.write_bytes(b"hello")
    cases = [(tmp_path / "missing.dat", "no such file"), (tmp_path, "no such file"),
             (empty, "file is empty"), (text, "not a known event file format")]  # fmt: skip
    for path, problem in cases:
        for fn in (sniff_format, open_file):
            with pytest.raises(FormatError, match=problem) as e:
                fn(path)
            assert str(e.value).startswith(f"{path}: ")


def test_formats_is_a_fresh_list() -> None:
    first = formats()
    first.clear()
    assert [f.name for f in formats()][:2] == ["aedat4", "aedat2"]


@pytest.mark.parametrize("kind", ["dat", "nmnist"])
def test_a_small_file_is_opened_once(tmp_path: Path, monkeypatch, kind: str) -> None:
    path = tmp_path / ("s.dat" if kind == "dat" else "s.bin")
    if kind == "dat":
        _dat(path, 2000)
    else:
        _nmnist(path, 3000)
    expected = open_file(path).read_all()
    opened: list[str] = []
    real_open = os.open

    def counting_open(p, *args, **kwargs):
        opened.append(os.fspath(p))
        return real_open(p, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    src = open_file(path)
    got = src.read_all()
    assert opened == [str(path)]
    assert np.array_equal(got, expected) and len(got) > 1000
    assert src._sniffed_head() == (path.read_bytes(), path.stat().st_size)
    assert HANDOVER.path is None  # handed over only while open_file opens it


def test_readers_opened_directly_read_the_file_themselves(tmp_path: Path) -> None:
    dat, bin_ = tmp_path / "d.dat", tmp_path / "n.bin"
    cols = _dat(dat, 100)
    _nmnist(bin_, 100)
    for src in (PropheseeDatSource(dat), NmnistSource(bin_)):
        assert src._sniffed_head() is None and len(src.read_all()) == 100
    assert np.array_equal(_columns(PropheseeDatSource(dat).read_all()), cols)


def test_files_larger_than_the_handover_read_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "big.dat"
    cols = _dat(path, 3 * HANDOVER_BYTES // 8)
    src = open_file(path, chunk_events=10_000)
    head, size = src._sniffed_head()
    assert len(head) == HANDOVER_BYTES < size
    chunks = list(src)
    assert max(len(c) for c in chunks) == 10_000
    assert np.array_equal(_columns(np.concatenate(chunks)), cols)
    assert np.array_equal(_columns(open_file(path).read_all()), cols)


def test_the_handover_is_cleared_when_the_reader_fails(tmp_path: Path) -> None:
    path = tmp_path / "v9.dat"
    path.write_bytes(b"% Data file containing CD events.\n% Version 9\n\x0c\x08" + bytes(16))
    with pytest.raises(FormatError, match="unsupported DAT version '9'"):
        open_file(path)
    assert HANDOVER.path is None and HANDOVER.head == b""
