"""Shared harness for the file readers' broken-file tests.

Fuzzing: mutate real file bytes, and check that each mutated file either decodes to valid
events or raises a FormatError naming the file. Each reader's test builds a strategy of
mutated files (``edits`` or ``splices``), calls ``fuzz_reader`` with a function that opens
its reader on a path, and asserts on the returned tally. ``raises_format_error`` checks one
hand-made broken file (truncated, wrong magic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, out_of_sensor
from spikestream.streams.source import Source

Open = Callable[[Path], Source]


def edits(
    data: bytes,
    head: int | None = None,
    ops: Sequence[str] = ("flip", "cut", "insert"),
    inserts: Sequence[bytes] = (),
    max_edits: int = 4,
) -> st.SearchStrategy[bytes]:
    """Files made from ``data`` by 1..``max_edits`` edits at byte positions.

    Positions are drawn from ``0..head`` (near the header) or anywhere (``head=None``: anywhere
    only). ``ops``: "flip" (one bit), "cut" (truncate), "insert" (1-6 random bytes), "set"
    (overwrite 1-6 bytes); ``inserts``: extra fixed byte strings to insert (e.g. separators).
    """
    n = len(data)
    pos = st.integers(0, n) if head is None else st.one_of(st.integers(0, head), st.integers(0, n))
    kinds = {
        "flip": st.tuples(st.just("flip"), pos, st.integers(0, 7)),
        "cut": st.tuples(st.just("cut"), pos, st.none()),
        "insert": st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=6)),
        "set": st.tuples(st.just("set"), pos, st.binary(min_size=1, max_size=6)),
    }
    choices = [kinds[k] for k in ops]
    if inserts:
        choices.append(st.tuples(st.just("insert"), pos, st.sampled_from(list(inserts))))

    def apply(edits_: list[tuple[str, int, int | bytes | None]]) -> bytes:
        b = bytearray(data)
        for kind, i, arg in edits_:
            i = min(i, len(b))
            if kind == "flip" and i < len(b):
                b[i] ^= 1 << arg
            elif kind == "cut":
                del b[i:]
            elif kind == "insert":
                b[i:i] = arg
            elif kind == "set":
                b[i : i + len(arg)] = arg
        return bytes(b)

    return st.lists(st.one_of(*choices), min_size=1, max_size=max_edits).map(apply)


def _splice(data: bytes, mutations: list[tuple[str, int | float, bytes]]) -> bytes:
    b = bytearray(data)
    for kind, where, payload in mutations:
        i = min(int(where * len(b)) if isinstance(where, float) else where, len(b) - 1)
        if kind == "flip":
            b[i] ^= payload[0] or 0x40
        elif kind == "truncate":
            del b[i:]
        elif kind == "insert":
            b[i:i] = payload
        else:
            del b[i : i + len(payload)]
        if not b:
            b = bytearray(b"#")
    return bytes(b)


def splices(data: bytes, near: int) -> st.SearchStrategy[bytes]:
    """Files made from ``data`` by 1-3 flips, truncations, inserts or deletes of 1-12 bytes,
    at a byte offset in ``0..near`` (near the header) or a fraction of the length (anywhere)."""
    mutation = st.tuples(
        st.sampled_from(["flip", "truncate", "insert", "delete"]),
        st.one_of(st.integers(0, near), st.floats(0, 1)),
        st.binary(min_size=1, max_size=12),
    )
    return st.lists(mutation, min_size=1, max_size=3).map(lambda m: _splice(data, m))


def fuzz_reader(
    path: Path,
    files: st.SearchStrategy[bytes],
    open_: Open,
    max_examples: int,
    derandomize: bool = False,
) -> Counter:
    """Write each drawn file to ``path``, ``open_`` it and read all its events (then close
    it): the events must be EVENT_DTYPE,
    inside the sensor, with p 0/1 and non-decreasing t; a FormatError must name ``path``.

    Returns the tally: "run" examples, "events" decoded, "format_error" raised, and
    "crash_free" (examples that ended in either).
    """
    seen: Counter = Counter()

    @settings(max_examples=max_examples, deadline=None, derandomize=derandomize,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(files)
    def run(blob: bytes) -> None:
        seen["run"] += 1
        path.write_bytes(blob)
        try:
            with open_(path) as src:
                ev = src.read_all()
            assert ev.dtype == EVENT_DTYPE and not out_of_sensor(ev, src.sensor_size).any()
            assert np.all((ev["p"] == 0) | (ev["p"] == 1))
            assert np.all(np.diff(ev["t"]) >= 0)
            seen["events"] += 1
        except FormatError as e:
            assert str(path) in str(e)
            seen["format_error"] += 1
        seen["crash_free"] += 1

    run()
    return seen


def raises_format_error(
    path: Path, blob: bytes, read: Callable[[Path], object], match: str
) -> None:
    """Write ``blob`` to ``path``: ``read(path)`` must raise a FormatError matching ``match``."""
    path.write_bytes(blob)
    with pytest.raises(FormatError, match=match):
        read(path)
