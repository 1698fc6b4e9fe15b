"""``spikestream send``: a recording replayed over UDP reaches a UdpSource intact."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from spikestream.cli import build_parser, main
from spikestream.commands import send as send_cmd
from spikestream.streams.events import concat, make_events
from spikestream.streams.sender import SendStats
from spikestream.streams.udp import UdpSource


def write_npz(path: Path, n: int = 2000, span_us: int = 200_000) -> np.ndarray:
    i = np.arange(n)
    ev = make_events(
        np.linspace(0, span_us, n).astype(np.int64) + 5_000, i % 64, (i * 3) % 48, i % 2
    )
    np.savez(path, events=ev, sensor_size=np.array([64, 48, 2], dtype=np.int64))
    return ev


def run_send_in_thread(argv: list[str]) -> tuple[threading.Thread, dict]:
    result: dict = {}
    th = threading.Thread(target=lambda: result.update(rc=main(argv)), name="test-send-cli")
    th.start()
    return th, result


@pytest.mark.parametrize("timestamps", [True, False])
def test_send_file_to_udp_receiver(tmp_path, capsys, timestamps):
    ev = write_npz(tmp_path / "rec.npz")
    with UdpSource(
        port=0, sensor_size=(64, 48, 2), with_timestamps=timestamps, idle_timeout_s=10
    ) as src:
        argv = ["send", str(tmp_path / "rec.npz"), f"udp://127.0.0.1:{src.port}"]
        argv += ["--speed", "max", "--end-marker"]
        argv += ["--timestamps"] if timestamps else ["--no-timestamps"]
        th, result = run_send_in_thread(argv)
        try:
            got = concat(list(src))
        finally:
            th.join(timeout=30)
    assert result["rc"] == 0
    np.testing.assert_array_equal(got[["x", "y", "p"]], ev[["x", "y", "p"]])
    if timestamps:
        np.testing.assert_array_equal(got["t"], ev["t"])
    assert src.counters["end_markers"] == 1
    n_datagrams = 11 if timestamps else 6  # 184 or 368 events per 1472 bytes
    err = capsys.readouterr().err
    assert f"sent 2000 events in {n_datagrams} datagrams to udp://127.0.0.1:{src.port}" in err


def test_options_reach_send_events(tmp_path, monkeypatch):
    ev = write_npz(tmp_path / "rec.npz", n=10)
    seen: dict = {}

    def fake_send_events(chunks, host, port, **kwargs):
        # --loop: an endless stream; take three passes' worth
        taken, n = [], 0
        for c in chunks:
            taken.append(c)
            n += len(c)
            if n >= 3 * len(ev):
                break
        seen.update(events=concat(taken), host=host, port=port, **kwargs)
        return SendStats(events=n)

    monkeypatch.setattr(send_cmd, "send_events", fake_send_events)
    argv = ["send", str(tmp_path / "rec.npz"), "udp://localhost:4000", "--speed", "2x"]
    argv += ["--loop", "--max-events-per-datagram", "64"]
    assert main(argv) == 0
    assert (seen["host"], seen["port"]) == ("localhost", 4000)
    assert seen["speed"] == 2.0
    assert seen["with_timestamps"] is False
    assert seen["max_events_per_datagram"] == 64
    assert seen["end_marker"] is False
    t = seen["events"]["t"][: 3 * len(ev)]
    assert len(t) == 30 and np.all(np.diff(t) > 0)  # looped, time keeps going


def test_speed_parsing():
    parser = build_parser()
    ns = parser.parse_args(["send", "f", "udp://h:1", "--speed", "max"])
    assert ns.speed is None
    assert parser.parse_args(["send", "f", "udp://h:1"]).speed == 1.0
    with pytest.raises(SystemExit):
        parser.parse_args(["send", "f", "udp://h:1", "--speed", "fast"])


@pytest.mark.parametrize("dest", ["tcp://127.0.0.1:3333", "udp://127.0.0.1", "127.0.0.1:3333"])
def test_bad_destination_is_a_clear_error(tmp_path, capsys, dest):
    write_npz(tmp_path / "rec.npz", n=5)
    assert main(["send", str(tmp_path / "rec.npz"), dest]) == 2
    assert "destination must look like udp://HOST:PORT" in capsys.readouterr().err


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["send", str(tmp_path / "nope.npz"), "udp://127.0.0.1:3333"]) == 2
    assert "nope.npz: no such file" in capsys.readouterr().err
