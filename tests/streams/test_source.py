"""FileSource internals every reader relies on: the file check, read_all as one
chunk, and chunks a reader has already checked against the sensor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, make_events
from spikestream.streams.source import FileSource, InSensor


class Toy(FileSource):
    """Yields ``events`` in chunks; ``vet``: hand chunks over through ``_vetted``."""

    sensor_size = (10, 10, 2)

    def __init__(self, path, events: np.ndarray, vet: bool = False, fail_at: int = -1, **kw):
        super().__init__(path, **kw)
        self.events, self.vet, self.fail_at = events, vet, fail_at
        self.chunk_sizes_seen: list[int] = []

    def _chunks(self) -> Iterator[np.ndarray | InSensor]:
        self.chunk_sizes_seen.append(self.chunk_events)
        for i in range(0, len(self.events), self.chunk_events):
            if i >= self.fail_at >= 0:
                raise FormatError(self.path, "broken on purpose")
            ev = self.events[i : i + self.chunk_events].copy()
            if self.vet:
                yield self._vetted(ev, int(ev["x"].max()), int(ev["y"].max()), int(ev["p"].max()))
            else:
                yield ev


class Growing(Toy):
    _grows_its_chunks = True


def _events(n: int = 50) -> np.ndarray:
    i = np.arange(n)
    return make_events(i * 10, i % 10, (i * 3) % 10, i % 2)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "f.bin"
    p.write_bytes(b"x")
    return p


def test_missing_files_and_folders_are_no_such_file(tmp_path: Path) -> None:
    for bad in (tmp_path / "none.bin", tmp_path):
        with pytest.raises(FormatError, match="no such file") as e:
            Toy(bad, _events())
        assert str(bad) in str(e.value)


@pytest.mark.parametrize("cls", [Toy, Growing])
def test_read_all_equals_the_chunks(path: Path, cls) -> None:
    ev = _events()
    src = cls(path, ev, chunk_events=7)
    assert [len(c) for c in src] == [7] * 7 + [1]
    got = src.read_all()
    assert got.dtype == EVENT_DTYPE and np.array_equal(got, ev)
    assert src.chunk_events == 7 and src.counters["events"] == 100


def test_a_growing_reader_is_asked_for_the_whole_file_at_once(path: Path) -> None:
    src = Growing(path, _events(), chunk_events=7)
    src.read_all()
    assert src.chunk_sizes_seen[-1] > 50
    broken = Growing(path, _events(), fail_at=0, chunk_events=7)
    with pytest.raises(FormatError, match="broken on purpose"):
        broken.read_all()
    assert broken.chunk_events == 7  # restored after the error


def test_vetted_chunks_skip_the_check_and_the_rest_are_checked(path: Path) -> None:
    ev = _events()
    src = Toy(path, ev, vet=True, chunk_events=10)
    assert all(type(c) is InSensor for c in src._chunks())
    assert np.array_equal(src.read_all(), ev)
    bad = ev.copy()
    bad["x"][23] = 10
    with pytest.raises(FormatError, match="event 23 at .* outside the 10x10 sensor"):
        Toy(path, bad, vet=True, chunk_events=10).read_all()
    dropped = Toy(path, bad, vet=True, chunk_events=10, out_of_range="drop")
    assert len(dropped.read_all()) == 49 and dropped.counters["dropped_out_of_range"] == 1


def test_vetted_compares_with_every_bound(path: Path) -> None:
    src = Toy(path, _events())
    ev = _events(3)
    assert type(src._vetted(ev, 9, 9, 1)) is InSensor
    for maxima in ((10, 0, 0), (0, 10, 0), (0, 0, 2)):
        assert src._vetted(ev, *maxima) is ev


def test_reading_again_and_again_keeps_no_finished_iterations(path: Path) -> None:
    src = Toy(path, _events(), chunk_events=7)
    for _ in range(20):
        src.read_all()
    running = iter(src)
    next(running)
    assert src._open_iters == [running]
    src.close()
    with pytest.raises(StopIteration):
        next(running)
