import json
import runpy
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "demos" / "profile_latency.py"


@pytest.fixture
def demo():
    return runpy.run_path(str(DEMO), run_name="demo")


def test_profiles_a_real_recording_on_both_backends(demo, busy_dvs128_files, tmp_path, capsys):
    rec = str(busy_dvs128_files[0])
    assert demo["main"]([rec, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "== numba ==" in out and "== torch ==" in out
    for backend in ("numba", "torch"):
        rep = json.loads((tmp_path / f"profile-{backend}.json").read_text())
        assert rep["backend"] == backend and rep["dropped"] == 0
        assert rep["events"] > 100_000 and rep["rtf"] > 0
        assert {"p50_us", "p99_us", "max_us"} <= set(rep["overall"])
        assert (tmp_path / f"profile-{backend}.png").read_bytes()[:4] == b"\x89PNG"


def test_runs_as_a_script_on_the_synthetic_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(DEMO), "synthetic://gesture?seed=0&duration_s=2",
                                      "--backend", "numba", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(DEMO), run_name="__main__")
    assert e.value.code == 0
    assert (tmp_path / "profile-numba.png").exists()
    assert "real-time factor" in capsys.readouterr().out
