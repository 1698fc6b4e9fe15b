"""The per-batch progress bar: in place on a terminal, silent anywhere else."""

from __future__ import annotations

import io
from pathlib import Path

from spikestream.runtime.spec import InputSpec
from spikestream.training.data import Binning, stratified_split
from spikestream.training.data_nmnist import load_nmnist
from spikestream.training.loop import TrainConfig, train
from spikestream.training.network import SpikingNet
from spikestream.training.progress import ProgressBar
from spikestream.training.rules import Arch, get_rule


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _draw(bar: ProgressBar, n: int = 3) -> None:
    for b in range(1, n + 1):
        bar.update(2, 5, b, n, loss=1.0 / b, accuracy=0.25 * b, events_per_s=12_345.0,
                   elapsed_s=2.0 * b)
    bar.end()


def test_updates_in_place_on_a_terminal_and_ends_with_a_newline() -> None:
    tty = FakeTTY()
    _draw(ProgressBar(stream=tty, min_interval_s=0.0))
    text = tty.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    lines = text[:-1].split("\r")[1:]
    assert len(lines) == 3  # one redraw per batch, each over the previous one
    assert lines[0].startswith("epoch 2/5 [") and "1/3  loss 1.0000  acc 25.0%" in lines[0]
    assert "12,345 ev/s" in lines[0] and lines[0].endswith("ETA 4 s")
    assert "3/3  loss 0.3333  acc 75.0%" in lines[2] and lines[2].endswith("ETA 0 s")
    assert "[" + "#" * 20 + "]" in lines[2]
    # a shorter line is padded over the longer one before it
    assert all(len(b) >= len(a.rstrip()) for a, b in zip(lines, lines[1:], strict=False))


def test_throttled_but_the_last_batch_draws() -> None:
    tty = FakeTTY()
    _draw(ProgressBar(stream=tty, min_interval_s=3600.0), n=10)
    lines = tty.getvalue()[:-1].split("\r")[1:]
    assert len(lines) == 2 and "1/10" in lines[0] and "10/10" in lines[1]


def test_writes_nothing_off_a_terminal() -> None:
    out = io.StringIO()
    _draw(ProgressBar(stream=out, min_interval_s=0.0))
    assert out.getvalue() == ""
    forced = FakeTTY()
    _draw(ProgressBar(stream=forced, enabled=False))
    assert forced.getvalue() == ""


def test_the_loop_draws_each_batch_on_a_terminal_only(tiny_nmnist: Path) -> None:
    inp = InputSpec(sensor_size=(34, 34, 2), downsample=(3, 3))
    data = load_nmnist(tiny_nmnist, Binning(inp, 20_000, 6))
    tr, va = stratified_split(data.labels, 0.25, 0)
    rule = get_rule("stbp")
    spec = rule.spec(Arch(channels=(3, 6), kernel=3, padding=1), inp, 20_000, data.classes)
    cfg = TrainConfig(epochs=2, batch_size=8, patience=None)
    tty, plain = FakeTTY(), io.StringIO()
    runs = []
    for stream in (tty, plain):
        lines: list[str] = []
        res = train(SpikingNet(spec, rule, seed=1), data.subset(tr), data.subset(va), cfg,
                    log=lines.append, progress=ProgressBar(stream=stream, min_interval_s=0.0))
        runs.append((lines, res))
    # 27 training samples in batches of 8: 4 redraws per epoch, a newline after each
    text = tty.getvalue()
    assert text.count("\r") == 8 and text.count("\n") == 2
    assert "epoch 1/2 [" in text and "4/4  loss" in text and "ev/s  ETA 0 s\n" in text
    assert plain.getvalue() == ""
    # the epoch lines and the training itself are the same with or without a bar
    (l1, r1), (l2, r2) = runs
    assert [s.rsplit("  ", 2)[0] for s in l1] == [s.rsplit("  ", 2)[0] for s in l2]
    assert len(l1) == 2 and l1[1].startswith("epoch 2/2  loss ")
    assert [h.loss for h in r1.history] == [h.loss for h in r2.history]
