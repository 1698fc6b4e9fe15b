"""numpy readers: our .npz, structured .npy, tonic's DVS Gesture .npy layout;
no pickles, bounded chunks, errors, fuzzing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _fuzz import edits, fuzz_reader

from spikestream.streams import FormatError, open_source
from spikestream.streams.events import EVENT_DTYPE, make_events
from spikestream.streams.readers.npfiles import FORMAT, NpySource, NpzSource, open_np
from spikestream.streams.writers import save_events


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    rng = np.random.default_rng(5)
    n = 5000
    return make_events(
        np.sort(rng.integers(0, 10**7, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
        rng.integers(0, 2, n),
    )  # fmt: skip


def test_npz_round_trip_in_chunks(events: np.ndarray, tmp_path: Path) -> None:
    p = save_events(tmp_path / "e.npz", events, (128, 128, 2))
    with np.load(p, allow_pickle=False) as z:
        assert sorted(z.files) == ["events", "sensor_size"]
        assert z["sensor_size"].dtype == np.int64 and z["events"].dtype == EVENT_DTYPE
    src = open_source(p)
    assert isinstance(src, NpzSource) and src.sensor_size == (128, 128, 2)
    np.testing.assert_array_equal(src.read_all(), events)
    for chunk in (1, 999, 10**6):
        chunks = list(open_np(p, chunk_events=chunk))
        assert max(len(c) for c in chunks) <= chunk
        np.testing.assert_array_equal(np.concatenate(chunks), events)


def test_npz_any_structured_layout_and_compression(events: np.ndarray, tmp_path: Path) -> None:
    tonic_dtype = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "?")])
    other = np.empty(len(events), tonic_dtype)
    for f in "txyp":
        other[f] = events[f]
    p = tmp_path / "t.npz"
    np.savez_compressed(p, events=other, sensor_size=np.array([128, 128, 2]))
    np.testing.assert_array_equal(open_np(p, chunk_events=100).read_all(), events)


def _npz(tmp: Path, name: str, **arrays) -> Path:
    p = tmp / name
    np.savez(p, **arrays)
    return p


def test_npz_errors(events: np.ndarray, tmp_path: Path) -> None:
    size = np.array([128, 128, 2])
    cases = {
        "nosize.npz": ({"events": events}, "no 'sensor_size' array"),
        "badsize.npz": ({"events": events, "sensor_size": np.array([0, 5])}, "3 positive"),
        "hugesize.npz": ({"events": events, "sensor_size": np.array([1 << 20, 5, 2])}, "3 pos"),
        "field.npz": ({"events": events[["t", "x", "y"]], "sensor_size": size}, "lacks field"),
        "flat.npz": ({"events": np.zeros((3, 4)), "sensor_size": size}, "must be 1-D"),
        "float.npz": (
            {
                "events": np.zeros(2, [("t", "f8"), ("x", "i2"), ("y", "i2"), ("p", "i1")]),
                "sensor_size": size,
            },
            "field 't' must be integer",
        ),  # fmt: skip
    }
    for name, (arrays, match) in cases.items():
        with pytest.raises(FormatError, match=f"{name}: .*{match}"):
            open_np(_npz(tmp_path, name, **arrays))
    with pytest.raises(FormatError, match="disagrees"):
        open_np(save_events(tmp_path / "ok.npz", events, (128, 128, 2)), sensor_size=(64, 64))


def test_npz_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    obj = np.array([{"t": 1}], dtype=object)
    p = tmp_path / "obj.npz"
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("events.npy", buf.getvalue())
        sbuf = io.BytesIO()
        np.save(sbuf, np.array([4, 4, 2]))
        zf.writestr("sensor_size.npy", sbuf.getvalue())
    with pytest.raises(FormatError, match="obj.npz: 'events' holds Python objects"):
        open_np(p)
    npy = tmp_path / "obj.npy"
    np.save(npy, obj, allow_pickle=True)
    with pytest.raises(FormatError, match="obj.npy: not a readable .npy"):
        open_np(npy, sensor_size=(4, 4))


def test_npy_structured_needs_sensor_size(events: np.ndarray, tmp_path: Path) -> None:
    p = tmp_path / "e.npy"
    np.save(p, events)
    with pytest.raises(FormatError, match=r"e.npy: .*holds no sensor size: pass sensor_size"):
        open_np(p)
    src = open_np(p, sensor_size=(128, 128), chunk_events=333)
    assert isinstance(src, NpySource) and src.layout == "events"
    np.testing.assert_array_equal(src.read_all(), events)
    bad = events.copy()
    bad["t"][10] = -1
    np.save(p, bad)
    with pytest.raises(FormatError, match="event 10: timestamp before the previous event's"):
        open_np(p, sensor_size=(128, 128), chunk_events=7).read_all()
    unsigned = np.zeros(3, [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    unsigned["t"] = [5, 9, 7]
    np.save(p, unsigned)
    with pytest.raises(FormatError, match="event 2: timestamp before"):
        open_np(p, sensor_size=(128, 128)).read_all()


def test_tonic_dvsgesture_layout(events: np.ndarray, tmp_path: Path) -> None:
    # tonic stores each sample as user<NN>_<lighting>/<class>.npy, (N, 4): x, y, p, t in ms.
    folder = tmp_path / "ibmGestureTrain" / "user01_fluorescent"
    folder.mkdir(parents=True)
    t_ms = np.sort(np.random.default_rng(0).integers(0, 6000, len(events))).astype(np.float64)
    rows = np.stack([events["x"], events["y"], events["p"], t_ms], axis=1).astype(np.float64)
    p = folder / "4.npy"
    np.save(p, rows)
    src = open_source(p)
    assert src.layout == "dvsgesture" and src.sensor_size == (128, 128, 2)
    ev = src.read_all()
    np.testing.assert_array_equal(ev["t"], (t_ms * 1000).astype(np.int64))
    np.testing.assert_array_equal(ev["x"], events["x"])
    np.testing.assert_array_equal(ev["p"], events["p"])
    (seg,) = src.labels
    assert (seg.label, seg.name) == (4, "right arm counter-clockwise")
    assert (seg.t_start_us, seg.t_end_us) == (ev["t"][0], ev["t"][-1] + 1)
    # tonic's own conversion of the same file gives the same events
    import numpy.lib.recfunctions as rfn
    from tonic.datasets import DVSGesture

    raw = np.load(p)
    raw[:, 3] *= 1000
    ref = rfn.unstructured_to_structured(raw, DVSGesture.dtype)
    for f in "txyp":
        np.testing.assert_array_equal(ev[f], ref[f].astype(ev[f].dtype))
    np.save(folder / "clip.npy", rows)  # a name that is no class index: no label
    assert open_np(folder / "clip.npy").labels == ()
    rows[3, 0] = 1.5
    np.save(folder / "frac.npy", rows)
    with pytest.raises(FormatError, match="frac.npy: rows 0..4999: x or y is not a whole"):
        open_np(folder / "frac.npy").read_all()
    rows[3, 0] = np.nan
    np.save(folder / "nan.npy", rows)
    with pytest.raises(FormatError, match="nan.npy: rows 0..4999 hold NaN"):
        open_np(folder / "nan.npy").read_all()
    np.save(folder / "shape.npy", np.zeros((4, 3)))
    with pytest.raises(FormatError, match=r"shape.npy: expected a structured .* \(4, 3\)"):
        open_np(folder / "shape.npy")


def test_truncated_and_wrong_magic(events: np.ndarray, tmp_path: Path) -> None:
    npz = save_events(tmp_path / "e.npz", events, (128, 128, 2)).read_bytes()
    (tmp_path / "cut.npz").write_bytes(npz[: len(npz) // 2])
    with pytest.raises(FormatError, match="cut.npz: not a readable .npz"):
        open_np(tmp_path / "cut.npz")
    np.save(tmp_path / "e.npy", events)
    npy = (tmp_path / "e.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(npy[:-5])
    with pytest.raises(FormatError, match="cut.npy: not a readable .npy"):
        open_np(tmp_path / "cut.npy", sensor_size=(128, 128))
    (tmp_path / "magic.npy").write_bytes(b"\x00NUMPY" + npy[6:])
    with pytest.raises(FormatError, match="magic.npy: not a readable .npy"):
        open_np(tmp_path / "magic.npy", sensor_size=(128, 128))
    assert FORMAT.sniff(npy[:4096], ".npy") and FORMAT.sniff(npz[:4096], ".npz")
    assert not FORMAT.sniff(npy[:4096], ".npz") and not FORMAT.sniff(b"\x00NUMPY", ".npy")


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_fuzzed_files_give_valid_events_or_format_error(events, tmp_path_factory, suffix) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    if suffix == ".npz":
        data = save_events(d / "base.npz", events[:500], (128, 128, 2)).read_bytes()
    else:
        np.save(d / "base.npy", events[:500])
        data = (d / "base.npy").read_bytes()
    path = d / f"f{suffix}"
    size = None if suffix == ".npz" else (128, 128)
    seen = fuzz_reader(path, edits(data, head=200), lambda p: open_np(p, sensor_size=size), 50)
    assert seen["events"] + seen["format_error"] == seen["run"] == 50
