"""``spikestream run`` and ``spikestream profile`` on every DVS128 recording."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from spikestream.cli import main
from spikestream.runtime.model_file import save_model
from spikestream.runtime.testing import random_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """A 10 ms-step model (few steps per recording keeps the test fast)."""
    m = random_model("lif", dt_us=10_000)
    return save_model(tmp_path_factory.mktemp("m") / "lif.safetensors", m.spec, m.tensors)


@pytest.fixture(scope="module")
def all_dvs128(recordings: Path) -> list[Path]:
    files = sorted(recordings.glob("dvs128-aedat*/*.aedat*"))
    assert len(files) >= 8
    return files


def test_run_jsonl_on_every_dvs128_recording(all_dvs128, model_path, capsys):
    for path in all_dvs128:
        assert main(["run", str(path), "--model", str(model_path), "--speed", "max",
                     "--jsonl"]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        summary = lines[-1]
        assert set(summary) >= {"windows", "events", "dropped", "wall_s"}
        assert summary["events"] > 10_000 and summary["windows"] > 400, path.name
        assert summary["dropped"] == 0
        decisions = lines[:-1]
        assert decisions, f"no decision on {path.name}"
        for d in decisions:
            assert set(d) >= {"t_us", "label", "confidence"}
            assert 0.0 <= d["confidence"] <= 1.0
        ts = [d["t_us"] for d in decisions]
        assert ts == sorted(ts)


def test_run_text_timeline(all_dvs128, model_path, capsys):
    assert main(["run", str(all_dvs128[-1]), "-m", str(model_path), "--speed", "max"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith(")") and "windows" in out[-1] and "0 dropped" in out[-1]
    assert any(" s  class" in line for line in out[:-1])


def test_profile_on_every_dvs128_recording(all_dvs128, model_path, tmp_path, capsys):
    for k, path in enumerate(all_dvs128):
        js, png = tmp_path / f"{k}.json", tmp_path / f"{k}.png"
        plot = ["--plot", str(png)] if k in (0, len(all_dvs128) - 1) else []
        assert main(["profile", str(path), "-m", str(model_path), "--json", str(js), *plot]) == 0
        rep = json.loads(js.read_text())
        for key in ("rtf", "events_per_s", "dropped", "overall", "stages"):
            assert key in rep
        for stage in [rep["overall"], *rep["stages"].values()]:
            assert {"p50_us", "p99_us", "max_us"} <= set(stage)
        assert {"decode", "window", "layer:conv1", "layer:fc", "readout"} <= set(rep["stages"])
        assert rep["rtf"] > 1 and rep["dropped"] == 0
        assert not plot or png.read_bytes()[:4] == b"\x89PNG"
        assert "real-time factor" in capsys.readouterr().out


def test_run_paced_synthetic_stream(model_path, capsys):
    assert main(["run", "synthetic://gesture?seed=0&duration_s=0.5", "-m", str(model_path),
                 "--jsonl"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["wall_s"] >= 0.45  # paced at speed 1
    assert summary["windows"] >= 40


def test_profile_with_denoise_filter(all_dvs128, model_path, tmp_path, capsys):
    js = tmp_path / "d.json"
    assert main(["profile", str(all_dvs128[-1]), "-m", str(model_path), "--denoise-us",
                 "5000", "--json", str(js)]) == 0
    rep = json.loads(js.read_text())
    assert rep["stages"]["filter"]["count"] == rep["stages"]["decode"]["count"] > 0
    assert "filter" in capsys.readouterr().out


def test_bad_model_file_is_a_clear_error(all_dvs128, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04junk")
    assert main(["run", str(all_dvs128[0]), "-m", str(bad)]) == 2
    assert "bad.safetensors: a Python pickle" in capsys.readouterr().err
    assert main(["run", str(all_dvs128[0]), "-m", str(bad), "--backend", "numba"]) == 2


@pytest.mark.slow  # compiles the numba kernels when no cache is warm
@pytest.mark.skipif(importlib.util.find_spec("spikestream.runtime.backends.numba_backend") is None,
                    reason="the numba backend module is not in this tree")
def test_run_gives_the_same_decisions_on_both_backends(all_dvs128, model_path, capsys):
    outs = {}
    for backend in ("torch", "numba"):
        assert main(["run", str(all_dvs128[-1]), "-m", str(model_path), "--speed", "max",
                     "--jsonl", "--backend", backend]) == 0
        lines = capsys.readouterr().out.splitlines()
        outs[backend] = lines[:-1]
        assert json.loads(lines[-1])["windows"] > 400
    assert outs["torch"] == outs["numba"] and outs["torch"]


def test_run_on_a_udp_stream(all_dvs128, model_path, capsys):
    """A real recording sent over loopback UDP (SPIF with timestamps) and run live."""
    import socket
    import threading
    import time

    from spikestream.streams.open import open_source
    from spikestream.streams.sender import send_events

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open_source(all_dvs128[-1]) as src:
        ev = src.read_all()
    ev = ev[ev["t"] < ev["t"][0] + 1_000_000]  # 1 s of a busy recording

    def sender():
        time.sleep(1.0)  # let the command bind its port
        send_events(ev, port=port, speed=2.0, with_timestamps=True, end_marker=True)

    th = threading.Thread(target=sender)
    th.start()
    uri = f"udp://127.0.0.1:{port}?sensor=128x128&timestamps=1&idle_timeout_s=10"
    try:
        assert main(["run", uri, "-m", str(model_path), "--jsonl"]) == 0
    finally:
        th.join(30)
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["events"] == len(ev)
    assert summary["windows"] >= 99 and summary["dropped"] == 0
