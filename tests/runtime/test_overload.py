"""The overload policy: bounded queue, counted drops, blocking, errors handed over."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from spikestream.runtime.engine import Engine
from spikestream.runtime.overload import QueueClosed, WindowQueue, threaded
from spikestream.runtime.testing import random_model
from spikestream.streams.windowing import bin_events


def test_drop_oldest_counts_every_drop():
    q: WindowQueue[int] = WindowQueue(3, "drop_oldest")
    for k in range(10):
        q.put(k)
    q.end()
    got = []
    while (item := q.get()) is not None:
        got.append(item)
    assert got == [(7, 7), (8, 7), (9, 7)]
    assert q.dropped == 7


def test_block_never_drops_and_waits_for_room():
    q: WindowQueue[int] = WindowQueue(2, "block")
    done = threading.Event()

    def producer():
        for k in range(50):
            q.put(k)
        q.end()
        done.set()

    th = threading.Thread(target=producer)
    th.start()
    assert not done.wait(0.2)  # blocked on a full queue
    got = []
    while (item := q.get()) is not None:
        got.append(item[0])
    th.join(5)
    assert got == list(range(50)) and q.dropped == 0


def test_close_unblocks_a_waiting_producer():
    q: WindowQueue[int] = WindowQueue(1, "block")
    q.put(0)
    errors = []

    def producer():
        try:
            q.put(1)
        except QueueClosed:
            errors.append("closed")

    th = threading.Thread(target=producer)
    th.start()
    q.close()
    th.join(5)
    assert errors == ["closed"]
    with pytest.raises(QueueClosed):
        q.put(2)


def test_get_with_a_timeout_waits_at_most_that_long():
    q: WindowQueue[int] = WindowQueue(4)
    with pytest.raises(TimeoutError):
        q.get(timeout_s=0.05)
    q.put(7)
    assert q.get(timeout_s=0.05) == (7, 0)
    q.end()
    assert q.get(timeout_s=0.05) is None  # ended: no waiting


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown overload policy 'skip'"):
        WindowQueue(4, "skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        WindowQueue(0)


def test_threaded_hands_over_reader_errors():
    def items():
        yield 1
        raise OSError("socket went away")

    it = threaded(items(), 4, "block")
    assert next(it) == (1, 0)
    with pytest.raises(OSError, match="socket went away"):
        next(it)


def test_engine_counts_dropped_windows_when_compute_falls_behind(busy_events):
    """A slow consumer of a fast producer: drops are counted, never silent."""
    wins = bin_events(busy_events[:40_000], 1000)
    gate, finished = threading.Event(), threading.Event()

    def fast_source():
        yield wins[0]
        gate.wait(10)  # the engine holds the first window until all others are queued
        yield from wins[1:]
        finished.set()  # runs once the last window is in the queue

    eng = Engine(random_model("lif"))
    results = []
    for r in eng.run(fast_source(), overload="drop_oldest", queue_windows=8):
        results.append(r)
        if len(results) == 1:
            gate.set()
            assert finished.wait(10)
    assert len(results) == 1 + 8  # the first window, then the 8 newest
    assert results[-1].dropped == len(wins) - 9 > 0
    assert eng.counters["dropped"] == results[-1].dropped
    assert [r.index for r in results[1:]] == [w.index for w in wins[-8:]]
    # blocking policy: nothing dropped, every window stepped, identical to a pull run
    eng.reset()
    blocked = list(eng.run(iter(wins), overload="block", queue_windows=2))
    eng.reset()
    pulled = list(eng.run(iter(wins)))
    assert blocked[-1].dropped == 0 and len(blocked) == len(wins)
    np.testing.assert_array_equal([r.output for r in blocked], [r.output for r in pulled])
