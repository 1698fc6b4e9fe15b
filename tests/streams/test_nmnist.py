"""N-MNIST reader: the 1,000 real digits against tonic, overflow markers, labels
folder errors, sniffing, truncation, fuzzing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _fuzz import edits, fuzz_reader

from spikestream.streams import FormatError, open_source
from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.readers.nmnist import FORMAT, open_nmnist, read_nmnist_folder


def _records(x, y, p, t) -> bytes:
    t = np.asarray(t)
    rec = np.stack(
        [x, y, (np.asarray(p) << 7) | (t >> 16) & 0x7F, (t >> 8) & 0xFF, t & 0xFF], axis=1
    )
    return rec.astype(np.uint8).tobytes()


def test_real_digits_equal_tonic_and_are_time_ordered(nmnist_dir: Path) -> None:
    import tonic

    items = read_nmnist_folder(nmnist_dir)
    assert len(items) == 1000
    assert Counter(label for _, label in items).keys() == set(range(10))
    total = 0
    for path, _ in items:
        src = open_nmnist(path)
        ev = src.read_all()
        ref = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
        assert ev.dtype == EVENT_DTYPE and src.sensor_size == (34, 34, 2)
        assert len(ev) == len(ref) == path.stat().st_size // 5
        for f in "txyp":
            np.testing.assert_array_equal(ev[f], ref[f])
        assert np.all(np.diff(ev["t"]) >= 0) and ev["t"][-1] < 1 << 23  # 23-bit timestamps
        total += len(ev)
    assert total > 1_000_000


def test_chunks_and_open_source(nmnist_dir: Path) -> None:
    path, _ = read_nmnist_folder(nmnist_dir)[0]
    whole = open_source(path).read_all()
    for chunk in (1, 3, 1000):
        chunks = list(open_nmnist(path, chunk_events=chunk))
        assert max(len(c) for c in chunks) <= chunk
        np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_overflow_markers_like_tonic(tmp_path: Path) -> None:
    import tonic

    p = tmp_path / "o.bin"
    t = [10, 20, 30, 5, 6, 1]
    p.write_bytes(_records([1, 2, 0, 3, 0, 4], [1, 2, 240, 3, 240, 5], [1, 0, 0, 1, 0, 1], t))
    for chunk in (1, 2, 6):
        src = open_nmnist(p, chunk_events=chunk)
        ev = src.read_all()
        assert ev["t"].tolist() == [10, 20, 5 + 8192, 1 + 2 * 8192]
        assert ev["x"].tolist() == [1, 2, 3, 4] and ev["p"].tolist() == [1, 0, 1, 1]
        assert src.counters["time_overflow_markers"] == 2
    ref = tonic.io.read_mnist_file(str(p), dtype=tonic.datasets.NMNIST.dtype)
    np.testing.assert_array_equal(ev["t"], ref["t"])


def test_back_in_time_size_and_bounds_errors(tmp_path: Path) -> None:
    back = tmp_path / "back.bin"
    back.write_bytes(_records([1, 2, 3], [1, 2, 3], [0, 0, 0], [10, 30, 20]))
    with pytest.raises(FormatError, match=r"back.bin: event 2 \(byte 10\) goes back in time"):
        open_nmnist(back, chunk_events=2).read_all()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(_records([1, 2], [1, 2], [0, 0], [1, 2])[:-1])
    with pytest.raises(FormatError, match=r"cut.bin: truncated: 9 bytes .* at byte 5"):
        open_nmnist(cut)
    big = tmp_path / "big.bin"
    big.write_bytes(_records([40], [1], [0], [1]))
    with pytest.raises(FormatError, match="big.bin: .*outside the 34x34 sensor"):
        open_nmnist(big).read_all()
    assert len(open_nmnist(big, sensor_size=(240, 180)).read_all()) == 1  # N-Caltech101 size


def test_sniff(nmnist_dir: Path, recordings: Path) -> None:
    path, _ = read_nmnist_folder(nmnist_dir)[0]
    head = path.read_bytes()[:4096]
    assert FORMAT.sniff(head, ".bin")
    assert not FORMAT.sniff(head, ".raw")  # no magic: the suffix is required
    small = _records([1, 2], [1, 2], [0, 1], [5, 9])
    assert FORMAT.sniff(small, ".bin") and not FORMAT.sniff(small[:-1], ".bin")  # whole file
    assert not FORMAT.sniff(_records([1, 1], [1, 1], [0, 0], [50, 10]), ".bin")  # back in time
    assert not FORMAT.sniff(b"", ".bin")
    dat = (recordings / "formats" / "ncars-atis.dat").read_bytes()[:4096]
    assert not FORMAT.sniff(dat, ".dat")


def _folder(tmp: Path, labels: str, files=("3/1.bin", "7/2.bin")) -> Path:
    for f in files:
        (tmp / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp / f).write_bytes(_records([1], [1], [0], [1]))
    (tmp / "labels.csv").write_text(labels)
    return tmp


def test_read_nmnist_folder_errors(tmp_path: Path) -> None:
    ok = _folder(tmp_path / "ok", "file,label\n3/1.bin,3\n7/2.bin,7\n")
    assert read_nmnist_folder(ok) == [(ok / "3/1.bin", 3), (ok / "7/2.bin", 7)]
    with pytest.raises(FormatError, match="labels.csv: no labels file"):
        read_nmnist_folder(tmp_path)
    cases = {
        "head": ("name,digit\n3/1.bin,3\n", "expected header 'file,label'"),
        "nonint": ("file,label\n3/1.bin,three\n", "line 2: label 'three' is not an integer"),
        "range": ("file,label\n3/1.bin,12\n", "line 2: label 12 is not a digit"),
        "fields": ("file,label\n3/1.bin\n", "line 2: expected 2 fields"),
        "folder": ("file,label\n3/1.bin,4\n", "line 2: 3/1.bin is in folder 3 but labelled 4"),
        "missing": ("file,label\n3/9.bin,3\n", "line 2: 3/9.bin does not exist"),
        "twice": ("file,label\n3/1.bin,3\n3/1.bin,3\n", "line 3: 3/1.bin is listed twice"),
    }
    for name, (text, match) in cases.items():
        root = _folder(tmp_path / name, text)
        with pytest.raises(FormatError, match=f"labels.csv: {match}"):
            read_nmnist_folder(root)


def test_fuzzed_files_give_valid_events_or_format_error(nmnist_dir, tmp_path_factory) -> None:
    path0, _ = read_nmnist_folder(nmnist_dir)[0]
    data = path0.read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "f.bin"
    seen = fuzz_reader(path, edits(data), open_nmnist, 50)
    assert seen["events"] + seen["format_error"] == seen["run"] == 50
