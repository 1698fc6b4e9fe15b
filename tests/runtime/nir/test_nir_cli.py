"""``spikestream import-nir`` / ``export-nir``, then ``spikestream run`` on the imported
model: its decisions are the ones the peer's own outputs give through the same readout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.cli import main
from spikestream.models import resolve
from spikestream.runtime import Readout, load_model
from spikestream.streams.open import open_source
from spikestream.streams.windowing import Windower

nir = pytest.importorskip("nir")
DT_US = 5000
INPUT = "sensor=128x128,downsample=8"


def _grid(net: torch.nn.Module, scale: float) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()
        for p in net.parameters():
            if p.requires_grad:
                p.copy_(torch.round(p * 4096 * scale) / 4096)


def _frames(path: Path, model_path: Path) -> tuple[list, np.ndarray]:
    """The windows ``spikestream run`` steps over ``path`` and their input frames."""
    from spikestream.runtime import InputStage

    with open_source(path) as src:
        events = src.read_all()
    windows = list(Windower(DT_US).stream([events]))
    stage = InputStage(load_model(model_path).spec.input)
    return windows, np.stack([stage.dense(w.events) for w in windows])


def _decisions(model_path: Path, windows: list, outputs: np.ndarray) -> list[dict]:
    """What ``run --jsonl`` prints for these per-step outputs."""
    spec = load_model(model_path).spec
    readout = Readout.for_model(spec)
    out = []
    for w, o in zip(windows, outputs, strict=True):
        d = readout.update(o, len(w.events), w.t_end_us)[2]
        if d is not None:
            out.append({"t_us": d.t_us, "label": d.label, "name": d.name,
                        "confidence": round(d.confidence, 4)})
    return out


def _run_jsonl(capsys, *argv: str) -> tuple[list[dict], dict]:
    assert main(["run", *argv, "--speed", "max", "--jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    return lines[:-1], lines[-1]


def _import(capsys, graph: Path, out: Path, *extra: str) -> str:
    assert main(["import-nir", str(graph), "--out", str(out), "--dt-us", str(DT_US),
                 "--input", INPUT, *extra]) == 0
    assert out.is_file()
    return capsys.readouterr().out


def _snntorch_linear(snntorch_to_nir, tmp_path: Path, capsys):
    """A linear LIF net built and exported by snnTorch, imported with the CLI:
    ``(net, model_path)``."""
    snn = pytest.importorskip("snntorch", reason="snntorch is a dev dependency")

    def leaky(n: int, beta: float, **kw):
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n),
                         init_hidden=True, reset_mechanism="zero", **kw)

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(512, 32), leaky(32, 0.9),
                              torch.nn.Linear(32, 4), leaky(4, 0.8, output=True))
    _grid(net, 2.0)
    graph = tmp_path / "snn.nir"
    nir.write(graph, snntorch_to_nir(net, torch.zeros(1, 2, 16, 16), ignore_dims=[0]))
    model = tmp_path / "snn.safetensors"
    text = _import(capsys, graph, model, "--classes", "up,down,left,right")
    assert "convention snntorch" in text and "readout count, 4 classes" in text
    return net, model


def _snntorch_outputs(net: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    """The peer's own stepwise forward over the frames: ``(T, n_out)`` spikes."""
    from snntorch import utils

    utils.reset(net)
    with torch.inference_mode():
        return np.array([net(torch.from_numpy(f)[None])[0][0].numpy() for f in frames])


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_snntorch_graph_runs_in_spikestream_run(backend: str, snntorch_to_nir,
                                                busy_dvs128_files, tmp_path: Path,
                                                capsys) -> None:
    net, model = _snntorch_linear(snntorch_to_nir, tmp_path, capsys)
    rec = busy_dvs128_files[0]
    windows, frames = _frames(rec, model)
    want = _snntorch_outputs(net, frames)
    assert want.sum() > 50
    got, summary = _run_jsonl(capsys, str(rec), "-m", str(model), "--backend", backend)
    assert summary["windows"] == len(windows)
    assert len(got) >= 3
    assert got == _decisions(model, windows, want)


def _gui_matches(rec: Path, model: Path, windows: list, want: list[dict]) -> None:
    """The window's engine thread (the GUI's worker) plays ``model`` over ``rec`` and
    decides ``want`` (what ``run --jsonl`` prints for the peer's own outputs)."""
    from spikestream.gui.worker import Worker

    assert len(want) >= 3
    w = Worker(str(rec), str(model), "numba", "max").start()
    try:
        s = w.wait(lambda s: s.state in ("ended", "error", "stopped"), 120)
        assert s.state == "ended", s.message
        assert s.seq == len(windows)
        t0 = windows[0].t_start_us  # the window shows stream time since the first window
        got = [(round(d.t_s, 6), d.name, round(d.confidence, 4)) for d in s.decisions]
        expect = [(round((d["t_us"] - t0) / 1e6, 6), d["name"], d["confidence"])
                  for d in want][-len(got):]
        assert got == expect
    finally:
        w.close()


def test_snntorch_graph_runs_in_the_gui(snntorch_to_nir, busy_dvs128_files,
                                        tmp_path: Path, capsys) -> None:
    net, model = _snntorch_linear(snntorch_to_nir, tmp_path, capsys)
    rec = busy_dvs128_files[0]
    windows, frames = _frames(rec, model)
    _gui_matches(rec, model, windows, _decisions(model, windows, _snntorch_outputs(net, frames)))


@pytest.mark.parametrize("where", ["run", "gui"])
def test_norse_graph_runs_in_run_and_the_gui(where: str, norse, norse_to_nir,
                                            busy_dvs128_files, tmp_path: Path,
                                            capsys) -> None:
    def lif(n: int):  # a network stepped at 5 ms: dt * tau_mem_inv = 0.25
        return norse.LIFBoxCell(norse.LIFBoxParameters(
            tau_mem_inv=torch.full((n,), 50.0), v_th=torch.full((n,), 0.5),
            v_leak=torch.zeros(n)), dt=DT_US * 1e-6)

    net = norse.SequentialState(torch.nn.Linear(512, 32), lif(32),
                                torch.nn.Linear(32, 4), lif(4))
    _grid(net, 8.0)
    graph = tmp_path / "norse.nir"
    nir.write(graph, norse_to_nir(net, torch.zeros(1, 512), dt=DT_US * 1e-6))
    model = tmp_path / "norse.safetensors"
    text = _import(capsys, graph, model, "--convention", "norse", "--nir-dt",
                   str(DT_US * 1e-6))
    assert "convention norse" in text and "decay 0.75" in text

    rec = busy_dvs128_files[0]
    windows, frames = _frames(rec, model)
    state, want = None, []
    with torch.inference_mode():
        for f in frames:
            z, state = net(torch.from_numpy(f).reshape(1, -1), state)
            want.append(z[0].numpy().copy())
    want = np.array(want)
    assert want.sum() > 50
    if where == "gui":
        _gui_matches(rec, model, windows, _decisions(model, windows, want))
        return
    got, _ = _run_jsonl(capsys, str(rec), "-m", str(model))
    assert len(got) >= 3
    assert got == _decisions(model, windows, want)


def test_export_then_import_runs_like_the_shipped_model(nmnist_dir: Path, tmp_path: Path,
                                                        capsys) -> None:
    graph = tmp_path / "stbp.nir"
    assert main(["export-nir", "nmnist-stbp", "--out", str(graph)]) == 0
    assert "Conv2d -> LIF -> AvgPool2d" in capsys.readouterr().out
    back = tmp_path / "stbp.safetensors"
    assert main(["import-nir", str(graph), "--out", str(back)]) == 0
    capsys.readouterr()
    shipped = load_model(resolve("nmnist-stbp"))
    assert load_model(back).spec.layers == shipped.spec.layers
    digit = sorted((nmnist_dir / "3").glob("*.bin"))[0]
    want, s1 = _run_jsonl(capsys, str(digit), "-m", "nmnist-stbp")
    got, s2 = _run_jsonl(capsys, str(digit), "-m", str(back))
    assert want and got == want and s1["windows"] == s2["windows"]


def test_export_refusal_is_an_error_naming_the_layer(tmp_path: Path, capsys) -> None:
    out = tmp_path / "tssl.nir"
    assert main(["export-nir", "nmnist-tssl", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nmnist-tssl.safetensors: layer 'conv1'" in err and "TSSL-BP" in err
    assert not out.exists()


def test_import_of_a_bad_file_names_it(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x00" * 64)
    assert main(["import-nir", str(bad), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert f"{bad}: not a readable NIR graph" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_bad_input_spec_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["import-nir", "x.nir", "--out", "m.safetensors", "--input", "downsample=8"])
    assert e.value.code == 2
    assert "the input needs sensor=WxH" in capsys.readouterr().err


def test_the_installed_command_runs_an_imported_model(tmp_path: Path, dvs128_files,
                                                      capsys) -> None:
    """``python -m spikestream run`` in a subprocess on a model that went through NIR
    decides as the original does in process."""
    from spikestream.runtime import save_model
    from spikestream.runtime.testing import random_model

    m = random_model("stbp", downsample=(8, 8), channels=(4, 8), dt_us=10_000)
    save_model(tmp_path / "m.safetensors", m.spec, m.tensors)
    assert main(["export-nir", str(tmp_path / "m.safetensors"), "--out",
                 str(tmp_path / "m.nir"), "--convention", "snntorch"]) == 0
    assert main(["import-nir", str(tmp_path / "m.nir"), "--out",
                 str(tmp_path / "i.safetensors")]) == 0
    capsys.readouterr()
    want, s1 = _run_jsonl(capsys, str(dvs128_files[0]), "-m", str(tmp_path / "m.safetensors"))
    run = subprocess.run([sys.executable, "-m", "spikestream", "run", str(dvs128_files[0]),
                          "-m", str(tmp_path / "i.safetensors"), "--speed", "max", "--jsonl"],
                         check=True, capture_output=True, text=True, timeout=120)
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert len(want) > 1 and lines[:-1] == want
    assert (lines[-1]["windows"], lines[-1]["events"]) == (s1["windows"], s1["events"])
