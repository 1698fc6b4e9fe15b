"""The EVT 3.0 event count that sizes the reader's buffers equals what the
decoder writes, for any words (a short count would write past the buffer)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.streams.events import EVENT_DTYPE
from spikestream.streams.readers.prophesee_raw import _N_STATE, count_evt3, decode_evt3

# mostly vectors and single events, with the other word types between them
WORD = st.one_of(
    st.builds(lambda k, v: (k << 12) | v, st.sampled_from([0x2, 0x4, 0x5]), st.integers(0, 0xFFF)),
    st.integers(0, 0xFFFF),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, max_size=300), st.integers(0, 50))
def test_count_equals_the_events_decoded(words: list[int], start: int) -> None:
    w = np.array(words, np.uint16)
    start = min(start, len(w))
    n = count_evt3(w, start)
    out = np.empty(12 * len(w) + 12, EVENT_DTYPE)
    got, end = decode_evt3(w, start, out, len(out), np.zeros(_N_STATE, np.int64))
    assert (got, end) == (n, len(w))
