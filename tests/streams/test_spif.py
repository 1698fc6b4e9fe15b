"""SPIF words: bit layout as aestream writes it, round trips, malformed words, unwrapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, make_events
from spikestream.streams.spif import (
    END_MARKER,
    T_WRAP_US,
    TimestampUnwrapper,
    decode_spif,
    encode_spif,
)


def aestream_word(x: int, y: int, p: int, with_timestamp: bool) -> int:
    """The word as aestream's DVSToUDP::stream builds it, written out by hand."""
    x, y, p = int(x), int(y), int(p)
    word = ((x & 0x7FFF) << 16) if with_timestamp else ((x | 0x8000) << 16)
    word |= (y | 0x8000) if p else (y & 0x7FFF)
    return word & 0xFFFFFFFF


def test_word_layout_matches_aestream_without_timestamps():
    ev = make_events([5, 6, 7], [0, 127, 32767], [32767, 3, 0], [1, 0, 1])
    words = np.frombuffer(encode_spif(ev, with_timestamps=False), dtype="<u4")
    assert [int(w) for w in words] == [aestream_word(e["x"], e["y"], e["p"], False) for e in ev]
    assert int(words[1]) == 0x807F_0003  # no-ts bit, x=127, OFF, y=3
    assert int(words[0]) == 0x8000_FFFF  # x=0, ON, y=32767


def test_word_layout_with_timestamps_is_word_then_32_bit_time():
    ev = make_events([1_000_000, T_WRAP_US + 7], [10, 11], [20, 21], [1, 0])
    words = np.frombuffer(encode_spif(ev, with_timestamps=True), dtype="<u4")
    assert len(words) == 4
    assert int(words[0]) == aestream_word(10, 20, 1, True) == (10 << 16) | 0x8000 | 20
    assert int(words[1]) == 1_000_000
    assert int(words[2]) == (11 << 16) | 21
    assert int(words[3]) == 7  # truncated to 32 bits
    # little-endian on the wire
    assert encode_spif(ev[:1], True)[:4] == bytes([20, 0x80, 10, 0])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
    with_timestamps=st.booleans(),
)
def test_round_trip(n, seed, with_timestamps):
    rng = np.random.default_rng(seed)
    ev = make_events(
        np.sort(rng.integers(0, T_WRAP_US, n)),
        rng.integers(0, 32768, n),
        rng.integers(0, 32768, n),
        rng.integers(0, 2, n),
    )
    buf = encode_spif(ev, with_timestamps)
    assert len(buf) == n * (8 if with_timestamps else 4)
    dec = decode_spif(buf, with_timestamps, t_arrival_us=42)
    assert dec.malformed_words == 0
    assert dec.events.dtype == EVENT_DTYPE
    for f in ("x", "y", "p"):
        np.testing.assert_array_equal(dec.events[f], ev[f])
    np.testing.assert_array_equal(dec.events["t"], ev["t"] if with_timestamps else 42)


def test_arrival_times_per_event():
    ev = make_events([0, 0, 0], [1, 2, 3], [1, 2, 3], [0, 1, 0])
    dec = decode_spif(encode_spif(ev, False), False, t_arrival_us=np.array([10, 10, 20]))
    np.testing.assert_array_equal(dec.events["t"], [10, 10, 20])


@pytest.mark.parametrize("with_timestamps, size", [(False, 4), (True, 8)])
def test_length_not_a_whole_number_of_events_is_a_format_error(with_timestamps, size):
    ev = make_events([0, 1], [1, 2], [1, 2], [0, 1])
    buf = encode_spif(ev, with_timestamps)
    with pytest.raises(FormatError, match=f"{size}-byte SPIF events") as info:
        decode_spif(buf[:-1], with_timestamps, source="udp://x:1")
    assert str(info.value).startswith("udp://x:1: ")
    with pytest.raises(FormatError):
        decode_spif(END_MARKER, with_timestamps)


def test_words_whose_timestamp_bit_contradicts_the_mode_are_dropped_and_counted():
    ev = make_events([100, 200, 300], [1, 2, 3], [4, 5, 6], [1, 0, 1])
    words = np.frombuffer(encode_spif(ev, False), dtype="<u4").copy()
    words[1] &= 0x7FFF_FFFF  # claims a timestamp follows
    dec = decode_spif(words.tobytes(), False, t_arrival_us=np.array([7, 8, 9]))
    assert dec.malformed_words == 1
    np.testing.assert_array_equal(dec.events["x"], [1, 3])
    np.testing.assert_array_equal(dec.events["t"], [7, 9])

    pairs = np.frombuffer(encode_spif(ev, True), dtype="<u4").copy()
    pairs[0] |= 0x8000_0000  # claims no timestamp, in a timestamped stream
    dec = decode_spif(pairs.tobytes(), True)
    assert dec.malformed_words == 1
    np.testing.assert_array_equal(dec.events["t"], [200, 300])
    np.testing.assert_array_equal(dec.events["y"], [5, 6])


@pytest.mark.parametrize("field, value", [("x", -1), ("y", -1), ("p", 2), ("p", -1)])
def test_encode_refuses_what_spif_cannot_carry(field, value):
    ev = make_events([0], [1], [1], [1])
    ev[field] = value
    with pytest.raises(ValueError, match="encode_spif"):
        encode_spif(ev, False)


def test_encode_refuses_negative_timestamps():
    with pytest.raises(ValueError, match="negative"):
        encode_spif(make_events([-1], [1], [1], [1]), True)


def test_unwrapper_across_calls():
    unwrap = TimestampUnwrapper()
    t = np.array([T_WRAP_US - 30, T_WRAP_US - 10, 5], dtype=np.int64)
    np.testing.assert_array_equal(unwrap(t), [T_WRAP_US - 30, T_WRAP_US - 10, T_WRAP_US + 5])
    np.testing.assert_array_equal(unwrap(np.array([3, 20])), [T_WRAP_US + 3, T_WRAP_US + 20])
    big = 2 * T_WRAP_US + 1000
    np.testing.assert_array_equal(unwrap(np.array([T_WRAP_US - 1, 1000])), [big - 1001, big])
    assert len(unwrap(np.array([], dtype=np.int64))) == 0


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, 3 * T_WRAP_US),
    steps=st.lists(st.integers(0, T_WRAP_US // 2 - 1), min_size=1, max_size=50),
    split=st.integers(0, 50),
)
def test_unwrapper_recovers_any_timeline_with_steps_under_half_the_range(start, steps, split):
    t = start + np.cumsum(steps)
    raw = t % T_WRAP_US
    unwrap = TimestampUnwrapper()
    out = np.concatenate([unwrap(raw[:split]), unwrap(raw[split:])])
    np.testing.assert_array_equal(out - out[0], t - t[0])
