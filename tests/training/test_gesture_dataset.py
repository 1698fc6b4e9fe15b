"""The cached synthetic gesture dataset (training/synthetic_gestures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.synthetic.recording import TEST_SEED_OFFSET
from spikestream.training.synthetic_gestures import (
    SyntheticGestureConfig,
    cache_root,
    dataset_dir,
    load_events,
    segments_of,
    synthetic_gesture_dataset,
)

TINY = SyntheticGestureConfig(n_train=2, n_test=1, seed=5, n_gestures=2,
                              gesture_s=(1.0, 1.2), pause_s=(0.2, 0.3), sensor_size=(64, 64, 2))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache") / "tiny"
    return root, synthetic_gesture_dataset(TINY, cache=root)


def test_splits_come_from_disjoint_seeds(tiny):
    root, data = tiny
    assert [w.seed for w in data["train"]] == [5, 6]
    assert [w.seed for w in data["test"]] == [5 + TEST_SEED_OFFSET]
    assert TINY.seeds("test") == [5 + TEST_SEED_OFFSET]
    with pytest.raises(ValueError, match="unknown split"):
        TINY.seeds("val")


def test_recordings_hold_events_and_labels(tiny):
    _, data = tiny
    for w in data["train"] + data["test"]:
        ev = load_events(w)
        assert ev.dtype == EVENT_DTYPE and len(ev) == w.n_events > 0
        assert (np.diff(ev["t"]) >= 0).all()
        assert ev["x"].max() < 64 and ev["y"].max() < 64
        assert len(w.segments) == 2
        for s in w.segments:
            assert 0 <= s.label < 11 and 0 <= s.t_start_us < s.t_end_us <= w.duration_us
    assert len(segments_of(data["train"])) == 4


def test_cached_equals_regenerated_and_same_seed_same_events(tiny, tmp_path):
    root, data = tiny
    manifest = (root / "manifest.json").read_text()
    again = synthetic_gesture_dataset(TINY, cache=root)  # read back from the cache
    assert (root / "manifest.json").read_text() == manifest
    fresh = synthetic_gesture_dataset(TINY, cache=tmp_path / "fresh")  # rendered anew
    for split in ("train", "test"):
        for a, b, c in zip(data[split], again[split], fresh[split], strict=True):
            ea, eb, ec = load_events(a), load_events(b), load_events(c)
            assert np.array_equal(ea, eb) and np.array_equal(ea, ec)
            assert a.segments == b.segments == c.segments
            assert a.labels_path.read_text() == c.labels_path.read_text()
    fresh_manifest = json.loads((tmp_path / "fresh" / "manifest.json").read_text())
    assert fresh_manifest == json.loads(manifest)


def test_another_seed_gives_other_events(tiny, tmp_path):
    _, data = tiny
    other = synthetic_gesture_dataset(
        SyntheticGestureConfig(**{**TINY.__dict__, "seed": 7, "n_train": 1, "n_test": 0}),
        cache=tmp_path / "other")
    assert other["train"][0].seed == 7
    assert not np.array_equal(load_events(other["train"][0]), load_events(data["train"][0]))


def test_a_cache_made_with_other_parameters_is_refused(tiny):
    root, _ = tiny
    with pytest.raises(ValueError, match="other parameters"):
        synthetic_gesture_dataset(SyntheticGestureConfig(**{**TINY.__dict__, "n_test": 2}),
                                  cache=root)


def test_cache_key_and_location(monkeypatch, tmp_path):
    assert TINY.key() == SyntheticGestureConfig(**TINY.__dict__).key()
    assert TINY.key() != SyntheticGestureConfig(**{**TINY.__dict__, "seed": 6}).key()
    monkeypatch.setenv("SPIKESTREAM_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    assert dataset_dir(TINY) == tmp_path / "synthetic-gestures" / TINY.key()
    monkeypatch.delenv("SPIKESTREAM_CACHE")
    assert ".cache" in str(cache_root())


def test_bad_configs():
    with pytest.raises(ValueError, match=">= 0"):
        SyntheticGestureConfig(n_train=-1)
    with pytest.raises(ValueError, match="disjoint"):
        SyntheticGestureConfig(n_train=TEST_SEED_OFFSET + 1)


def test_a_bigger_dataset_reuses_the_rendered_recordings(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKESTREAM_CACHE", str(tmp_path))
    small = synthetic_gesture_dataset(SyntheticGestureConfig(**{**TINY.__dict__,
                                                                "n_train": 1}))
    lines: list[str] = []
    big = synthetic_gesture_dataset(SyntheticGestureConfig(**{**TINY.__dict__, "n_train": 2}),
                                    log=lines.append)
    assert big["train"][0].events_path == small["train"][0].events_path
    assert big["test"][0].events_path == small["test"][0].events_path
    assert len(lines) == 1 and "synth_0000006" in lines[0]  # only the new one rendered
    assert (tmp_path / "synthetic-gestures" / "recordings").is_dir()
    assert not list((tmp_path / "synthetic-gestures" / "recordings").glob(".*"))  # no temp
