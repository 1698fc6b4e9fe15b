import json

import pytest

from spikestream.cli import main
from spikestream.commands import main_job
from spikestream.streams.events import make_events
from spikestream.streams.writers import save_events

EXPECTED_KEYS = {"sensor_size", "events", "duration_us", "t_first_us", "t_last_us", "on", "off"}


def all_recordings(recordings):
    return sorted(p for p in recordings.rglob("*") if p.is_file() and p.suffix != ".md"
                  and p.name not in ("LICENSE", "README.md"))


def test_info_json_on_every_shared_recording(recordings, capsys):
    files = all_recordings(recordings)
    assert len(files) >= 15
    assert main(["info", "--json", *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(files)
    for path, line in zip(files, lines, strict=True):
        d = json.loads(line)
        assert EXPECTED_KEYS <= set(d), path
        w, h, _ = d["sensor_size"]
        assert d["events"] > 1000 and d["on"] + d["off"] == d["events"]
        assert d["t_last_us"] - d["t_first_us"] == d["duration_us"] > 0
        assert 0 <= d["x_range"][0] <= d["x_range"][1] < w
        assert 0 <= d["y_range"][0] <= d["y_range"][1] < h
        assert 0.2 < d["on"] / d["events"] < 0.8, path


def test_info_text_on_a_written_file(tmp_path, capsys):
    ev = make_events([0, 1500, 2500], [1, 2, 3], [4, 5, 6], [1, 1, 0])
    path = save_events(tmp_path / "tiny.npz", ev, (8, 8, 2))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "8x8, 2 polarities" in out and "events        3" in out
    assert "2 ON / 1 OFF" in out and "duration      0.003 s" in out


def test_info_bad_file_names_it(tmp_path, capsys):
    bad = tmp_path / "broken.aedat4"
    bad.write_bytes(b"#!AER-DAT4.0\r\n\x00\x01")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.aedat4" in err


def test_info_without_files_lists_formats(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("aedat4", "aedat2", "prophesee_raw", "nmnist", "csv"):
        assert name in out


def test_main_job_replays_the_synthetic_default(capsys):
    assert main_job.run("synthetic://gesture?seed=2&duration_s=3", speed=None, gui=False) == 0
    out = capsys.readouterr().out
    assert "300 windows, " in out and "3.00 s of stream" in out
    assert "labelled gestures:" in out


@pytest.mark.parametrize("argv", [["info", "/no/such/file.aedat4"]])
def test_missing_file_is_a_clear_error(argv, capsys):
    assert main(argv) == 2
    assert "/no/such/file.aedat4: no such file" in capsys.readouterr().err
