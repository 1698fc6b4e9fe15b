import numpy as np

from spikestream.streams.events import make_events
from spikestream.streams.stats import stream_stats


def test_stats_of_hand_made_stream():
    t = np.array([1000, 1100, 1500, 2000, 2001, 2002, 5000])
    ev = make_events(t, [0, 1, 2, 3, 4, 5, 6], [9, 8, 7, 6, 5, 4, 3], [1, 0, 1, 1, 0, 1, 1])
    st = stream_stats([ev[:3], ev[3:]], (10, 10, 2))
    assert st.events == 7 and st.on == 5 and st.off == 2
    assert (st.t_first_us, st.t_last_us, st.duration_us) == (1000, 5000, 4000)
    assert st.rate_mean_per_ms == 7 / 4
    # per-ms counts: [3, 3, 0, 0, 1] -> p99 close to 3
    assert 2.9 <= st.rate_p99_per_ms <= 3.0
    assert st.x_range == (0, 6) and st.y_range == (3, 9)
    assert st.non_monotonic == 0


def test_stats_chunking_does_not_matter_and_counts_backwards_time():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.integers(0, 50, 500))
    t[100] = t[99] - 5  # one timestamp going back
    ev = make_events(t, rng.integers(0, 34, 500), rng.integers(0, 34, 500), rng.integers(0, 2, 500))
    one = stream_stats([ev], (34, 34, 2))
    many = stream_stats([ev[i : i + 37] for i in range(0, 500, 37)], (34, 34, 2))
    assert one == many
    assert one.non_monotonic == 1


def test_stats_of_empty_stream():
    st = stream_stats([], (128, 128, 2))
    assert st.events == 0 and st.duration_us == 0
