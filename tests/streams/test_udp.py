"""UdpSource and send_events on loopback: decoding, drops, ends, the port, and a real
DVS128 recording sent and received event for event."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from spikestream.streams import open_source
from spikestream.streams.errors import SourceError
from spikestream.streams.events import concat, make_events
from spikestream.streams.sender import (
    SendStats,
    events_per_datagram,
    looped,
    send_events,
)
from spikestream.streams.spif import END_MARKER, T_WRAP_US, encode_spif
from spikestream.streams.udp import UdpSource

SENSOR = (128, 128, 2)


def some_events(n: int, t0: int = 0, dt: int = 10) -> np.ndarray:
    i = np.arange(n)
    return make_events(t0 + i * dt, i % 128, (i * 7) % 128, i % 2)


@contextmanager
def udp_tx() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        yield s


def collect(src: UdpSource) -> np.ndarray:
    """All events until the source ends (end marker or idle timeout)."""
    return concat(list(src))


@contextmanager
def sending(events, port: int, **kwargs) -> Iterator[dict]:
    """Run send_events in a thread; always stopped and joined on exit."""
    stop = threading.Event()
    result: dict = {}

    def run() -> None:
        try:
            result["stats"] = send_events(events, port=port, stop=stop, **kwargs)
        except BaseException as e:  # reported in the test thread
            result["error"] = e

    th = threading.Thread(target=run, name="test-sender")
    th.start()
    try:
        yield result
    finally:
        stop.set()
        th.join(timeout=60)
        assert not th.is_alive(), "sender thread did not stop"
    if "error" in result:
        raise result["error"]


def load_recording(path: Path) -> np.ndarray:
    """Events of a DVS128 AEDAT4 recording, through spikestream's own reader."""
    with open_source(path) as src:
        assert src.sensor_size == SENSOR
        return src.read_all()


# --- URI and socket ---------------------------------------------------------------


def test_from_uri_parses_options_and_keywords_override():
    with UdpSource.from_uri("udp://127.0.0.1:0?sensor=34x34&timestamps=1&idle_timeout_s=0.5") as s:
        assert s.sensor_size == (34, 34, 2)
        assert s.with_timestamps is True
        assert s.idle_timeout_s == 0.5
        assert s.live is True
        assert s.port > 0
    with UdpSource.from_uri(
        "udp://127.0.0.1:0?sensor=34x34&timestamps=1", with_timestamps=False, sensor_size=(8, 9, 1)
    ) as s:
        assert s.with_timestamps is False
        assert s.sensor_size == (8, 9, 1)


@pytest.mark.parametrize(
    "uri, problem",
    [
        ("udp://127.0.0.1:0", "sensor"),
        ("udp://127.0.0.1:0?sensor=big", "WIDTHxHEIGHT"),
        ("udp://127.0.0.1:0?sensor=128x128&colour=1", "unknown option"),
        ("udp://127.0.0.1:0?sensor=128x128&timestamps=maybe", "timestamps"),
        ("udp://127.0.0.1:99999?sensor=128x128", "port"),
    ],
)
def test_from_uri_errors_name_the_uri(uri, problem):
    with pytest.raises(SourceError, match=problem) as info:
        UdpSource.from_uri(uri)
    assert str(info.value).startswith(uri)


def test_open_source_dispatches_udp():
    with open_source("udp://127.0.0.1:0?sensor=128x128") as s:
        assert isinstance(s, UdpSource)


def test_busy_port_is_a_source_error():
    with udp_tx() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(SourceError, match=f"cannot listen on UDP 127.0.0.1:{port}"):
            UdpSource(port=port, sensor_size=SENSOR)


def test_close_really_releases_the_port():
    src = UdpSource(port=0, sensor_size=SENSOR)
    port = src.port
    with udp_tx() as probe, pytest.raises(OSError):  # held while open
        probe.bind(("127.0.0.1", port))
    src.close()
    with udp_tx() as probe:  # no SO_REUSEADDR here: only works if really released
        probe.bind(("127.0.0.1", port))
    with pytest.raises(ValueError, match="closed"):
        iter(src)


# --- receiving --------------------------------------------------------------------


def test_receives_events_stamped_at_arrival():
    ev = some_events(300)
    with UdpSource(port=0, sensor_size=SENSOR, idle_timeout_s=0.3) as src, udp_tx() as tx:
        before = time.monotonic_ns() // 1000
        tx.sendto(encode_spif(ev[:100], False), ("127.0.0.1", src.port))
        tx.sendto(encode_spif(ev[100:], False), ("127.0.0.1", src.port))
        got = collect(src)
        after = time.monotonic_ns() // 1000
    for f in ("x", "y", "p"):
        np.testing.assert_array_equal(got[f], ev[f])
    assert before <= got["t"].min() and got["t"].max() <= after
    assert np.all(np.diff(got["t"]) >= 0)
    assert src.counters["events"] == 300 and src.counters["datagrams"] == 2


def test_timestamps_travel_and_unwrap_across_datagrams():
    ev = some_events(400, t0=T_WRAP_US - 2000, dt=10)  # wraps after 200 events
    with (
        UdpSource(port=0, sensor_size=SENSOR, with_timestamps=True, idle_timeout_s=5) as src,
        udp_tx() as tx,
    ):
        for i in range(0, 400, 150):
            tx.sendto(encode_spif(ev[i : i + 150], True), ("127.0.0.1", src.port))
        tx.sendto(END_MARKER, ("127.0.0.1", src.port))
        got = collect(src)
    np.testing.assert_array_equal(got, ev)  # t0 < 2**32: the timeline is the sender's
    assert src.counters["end_markers"] == 1


def test_malformed_datagrams_and_out_of_range_events_are_dropped_counted_and_survived():
    good = some_events(10)
    outside = make_events([0, 0], [128, 5], [5, 300], [0, 1])  # x=128, y=300 on 128x128
    bad_word = np.frombuffer(encode_spif(good[:3], False), dtype="<u4").copy()
    bad_word[1] &= 0x7FFF_FFFF
    with UdpSource(port=0, sensor_size=SENSOR, idle_timeout_s=5) as src, udp_tx() as tx:
        addr = ("127.0.0.1", src.port)
        tx.sendto(b"\x01\x02\x03\x04\x05", addr)  # not a whole word
        tx.sendto(encode_spif(good[:5], False), addr)
        tx.sendto(encode_spif(outside, False), addr)
        tx.sendto(bad_word.tobytes(), addr)
        tx.sendto(encode_spif(good[5:], False), addr)
        tx.sendto(END_MARKER, addr)
        got = collect(src)
    expected = np.concatenate([good[:5], good[[0, 2]], good[5:]])
    np.testing.assert_array_equal(got[["x", "y", "p"]], expected[["x", "y", "p"]])
    assert src.counters["malformed_datagrams"] == 1
    assert src.counters["dropped_out_of_range"] == 2
    assert src.counters["malformed_words"] == 1
    assert src.counters["events"] == len(expected)


def test_idle_timeout_ends_the_iteration():
    with UdpSource(port=0, sensor_size=SENSOR, timeout_s=0.02, idle_timeout_s=0.1) as src:
        t = time.monotonic()
        assert list(src) == []
        assert time.monotonic() - t < 2.0


def test_without_idle_timeout_close_from_another_thread_ends_the_iteration():
    src = UdpSource(port=0, sensor_size=SENSOR, timeout_s=0.02)
    chunks: list = []
    consumer = threading.Thread(target=lambda: chunks.extend(src))
    consumer.start()
    try:
        time.sleep(0.1)
        assert consumer.is_alive()  # keeps waiting while open
    finally:
        src.close()
        consumer.join(timeout=5)
    assert not consumer.is_alive()
    assert chunks == []


# --- sending ----------------------------------------------------------------------


def test_events_per_datagram_respects_the_size_limit():
    assert events_per_datagram(False) == 368  # 1472 bytes
    assert events_per_datagram(True) == 184
    assert events_per_datagram(False, 128) == 128
    with pytest.raises(ValueError, match="do not fit"):
        events_per_datagram(True, 200)
    with pytest.raises(ValueError, match="do not fit"):
        events_per_datagram(False, max_datagram_bytes=3)


@pytest.mark.parametrize("with_timestamps", [False, True])
def test_sender_splits_into_datagrams_and_ends_with_the_marker(with_timestamps):
    ev = some_events(1000, dt=1)
    with UdpSource(
        port=0, sensor_size=SENSOR, with_timestamps=with_timestamps, idle_timeout_s=5
    ) as src:
        with sending(
            ev,
            src.port,
            speed=None,
            with_timestamps=with_timestamps,
            max_events_per_datagram=64,
            end_marker=True,
        ) as result:
            got = collect(src)
    stats: SendStats = result["stats"]
    assert stats.events == 1000 and stats.end_marker
    assert stats.datagrams == 16 == src.counters["datagrams"]  # ceil(1000 / 64)
    assert stats.bytes == 1000 * (8 if with_timestamps else 4)
    np.testing.assert_array_equal(got[["x", "y", "p"]], ev[["x", "y", "p"]])
    if with_timestamps:
        np.testing.assert_array_equal(got["t"], ev["t"])


class _LiveChunks(list):
    live = True


def test_live_sources_are_not_paced_again_and_the_rate_cap_sleeps():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(dt: float) -> None:
        sleeps.append(dt)
        now[0] += dt

    ev = some_events(100, dt=100_000)  # 10 s of stream time
    with UdpSource(port=0, sensor_size=SENSOR) as src:
        kw = dict(port=src.port, speed=1.0, clock=lambda: now[0], sleep=sleep)
        stats = send_events(_LiveChunks([ev]), max_events_per_datagram=10, **kw)
        assert stats.datagrams == 10 and sleeps == []  # live: already real time
        stats = send_events(
            _LiveChunks([ev]), max_events_per_datagram=10, max_datagrams_per_s=100, **kw
        )
        # 10 datagrams at 100/s: the last one is due 90 ms after the first
        assert sum(sleeps) == pytest.approx(0.09)
        assert stats.wall_s == pytest.approx(0.09)


def test_send_to_a_bad_host_is_a_source_error():
    with pytest.raises(SourceError, match="cannot send"):
        send_events(some_events(3), host="256.1.1.1", port=9, speed=None)


def test_looped_keeps_time_increasing():
    ev = some_events(5, t0=100, dt=10)  # 100..140
    out = concat(list(looped([ev[:2], ev[2:]], passes=3)))
    np.testing.assert_array_equal(
        out["t"], [100, 110, 120, 130, 140, 141, 151, 161, 171, 181, 182, 192, 202, 212, 222]
    )
    np.testing.assert_array_equal(out["x"], np.tile(ev["x"], 3))
    assert list(looped([], passes=None)) == []  # empty source: no endless loop


# --- done-when: a real DVS128 recording over loopback ------------------------------


@pytest.fixture(scope="module")
def busy_recording(busy_dvs128_files: list[Path]) -> np.ndarray:
    return load_recording(busy_dvs128_files[0])


def test_real_recording_excerpt_at_speed_1_with_timestamps(busy_recording):
    ev = busy_recording[busy_recording["t"] < busy_recording["t"][0] + 1_500_000]
    with UdpSource(port=0, sensor_size=SENSOR, with_timestamps=True, idle_timeout_s=10) as src:
        with sending(ev, src.port, speed=1.0, with_timestamps=True, end_marker=True) as result:
            t = time.monotonic()
            got = collect(src)
            wall_s = time.monotonic() - t
    assert len(got) == len(ev), dict(src.counters)
    np.testing.assert_array_equal(got[["x", "y", "p"]], ev[["x", "y", "p"]])
    # 32-bit µs timestamps: equal modulo 2**32, and the same timeline
    assert int(got["t"][0]) == int(ev["t"][0]) % T_WRAP_US
    np.testing.assert_array_equal(got["t"] - got["t"][0], ev["t"] - ev["t"][0])
    assert result["stats"].events == len(ev)
    assert 1.4 < wall_s < 3.0  # paced, not dumped


def test_real_recording_excerpt_at_speed_1_stamped_at_arrival(busy_recording):
    ev = busy_recording[busy_recording["t"] < busy_recording["t"][0] + 1_500_000]
    with UdpSource(port=0, sensor_size=SENSOR, idle_timeout_s=10) as src:
        with sending(ev, src.port, speed=1.0, end_marker=True) as result:
            got = collect(src)
    assert len(got) == len(ev), dict(src.counters)
    np.testing.assert_array_equal(got[["x", "y", "p"]], ev[["x", "y", "p"]])
    # arrival time vs. stream time, both since the first event; the first
    # arrival's own delay is a constant offset, taken out with the median.
    # Pacing releases 1 ms sub-chunks when their last event is due, so each
    # event arrives within about 1 ms (+ scheduling jitter) of its place.
    err_us = (got["t"] - got["t"][0]) - (ev["t"] - ev["t"][0])
    jitter_us = np.abs(err_us - np.median(err_us))
    assert np.percentile(jitter_us, 99) < 10_000, np.percentile(err_us, [0, 1, 50, 99, 100])
    assert jitter_us.max() < 100_000
    span_us = ev["t"][-1] - ev["t"][0]
    assert got["t"][-1] - got["t"][0] == pytest.approx(span_us, rel=0.02)
    assert result["stats"].pace.events == len(ev)


@pytest.mark.parametrize("with_timestamps", [True, False])
def test_real_recording_full_file_at_max_speed_loses_nothing(busy_recording, with_timestamps):
    ev = busy_recording
    chunks = [ev[i : i + 65536] for i in range(0, len(ev), 65536)]
    with UdpSource(
        port=0, sensor_size=SENSOR, with_timestamps=with_timestamps, idle_timeout_s=10
    ) as src:
        # flow control: a big receive buffer and a capped send rate, since SPIF
        # has no sequence numbers to count a lost datagram by
        with sending(
            chunks,
            src.port,
            speed=None,
            with_timestamps=with_timestamps,
            max_datagrams_per_s=5000,
            end_marker=True,
        ) as result:
            got = collect(src)
    assert len(got) == len(ev), (dict(src.counters), result)
    assert src.counters["datagrams"] == result["stats"].datagrams
    np.testing.assert_array_equal(got[["x", "y", "p"]], ev[["x", "y", "p"]])
    if with_timestamps:
        np.testing.assert_array_equal(got["t"] - got["t"][0], ev["t"] - ev["t"][0])
