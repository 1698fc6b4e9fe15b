"""BPSTA: the neuron's forward is the runtime's, the backward (spatial and temporal
adjustment) against the paper's formulas computed by hand, the voting loss, and a
tiny CLI-free training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikestream.cli import main
from spikestream.runtime.engine import Engine
from spikestream.runtime.model_file import load_model
from spikestream.runtime.neurons import rule_neuron
from spikestream.runtime.spec import InputSpec
from spikestream.streams.windowing import bin_events
from spikestream.training.bpsta import BpstaFunction
from spikestream.training.bpsta_bn import BpstaNet, fold_batch_norm
from spikestream.training.data import Binning, batches
from spikestream.training.data_nmnist import load_nmnist, read_events
from spikestream.training.export import export_model
from spikestream.training.loop import TrainConfig, train
from spikestream.training.rules import Arch, get_rule


def _layer(x: list[float], dl_ds: list[float]) -> tuple[list[float], list[float]]:
    r = get_rule("bpsta")
    y = torch.tensor(x, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_()
    s = r.neuron_layer(y, r.hidden_neuron())
    (s.flatten() * torch.tensor(dl_ds, dtype=torch.float64)).sum().backward()
    return s.flatten().tolist(), y.grad.flatten().tolist()


def test_forward_is_the_htglif_neuron() -> None:
    assert get_rule("bpsta").hidden_neuron() == rule_neuron("bpsta")
    # v = (0.6, 0.0 + relu(-0.2), 0.5): fires at v >= 0.5, reset, then u *= 0.9
    s, _ = _layer([0.6, -0.2, 0.5], [0, 0, 0])
    assert s == [1.0, 0.0, 1.0]
    s, _ = _layer([0.3, 0.2, 0.0], [0, 0, 0])  # v = (0.3, 0.47, 0.423): never fires
    assert s == [0.0, 0.0, 0.0]


def test_backward_spatial_and_temporal_adjustment_by_hand() -> None:
    # x = (0.6, 0.3, 0.5): v = (0.6, 0.3, 0.27 + 0.5 = 0.77), s = (1, 0, 1)
    # Shen et al.: d[t] = (g[t] + 0.2 d[t+1]) s[t] / v[t] + 0.9 (1 - s[t]) d[t+1]
    g = [1.0, 2.0, 3.0]
    d2 = 3.0 / 0.77
    d1 = 0.9 * d2  # did not fire: no spatial term, the leak carries d2 back
    d0 = (1.0 + 0.2 * d1) / 0.6  # fired: 1/v, with the temporal adjustment 0.2 d1
    _, got = _layer([0.6, 0.3, 0.5], g)
    assert got == pytest.approx([d0, d1, d2])
    # a negative input is cut by the ReLU: no gradient through it
    # x = (0.6, -0.1, 0.5): v = (0.6, 0.0, 0.5), s = (1, 0, 1)
    d2 = 3.0 / 0.5
    d1 = 0.9 * d2
    d0 = (1.0 + 0.2 * d1) / 0.6
    _, got = _layer([0.6, -0.1, 0.5], g)
    assert got == pytest.approx([d0, 0.0, d2])


def test_silent_neurons_move_no_weights() -> None:
    _, got = _layer([0.3, 0.2, 0.0], [1.0, 1.0, 1.0])
    assert got == [0.0, 0.0, 0.0]


def test_tiny_network_weight_gradient_by_hand() -> None:
    # two inputs -> one BPSTA neuron with weights w over T = 2; L = sum_t c[t] s[t]
    r = get_rule("bpsta")
    x = torch.tensor([[1.0, 0.5], [0.2, 1.0]], dtype=torch.float64)  # (T, in)
    w = torch.tensor([0.4, 0.6], dtype=torch.float64, requires_grad=True)
    y = (x @ w).reshape(2, 1, 1)  # I = (0.7, 0.68)
    s = BpstaFunction.apply(y, r.hidden_neuron(), r.beta)
    (s.flatten() * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum().backward()
    # v = (0.7, 0.68): both fire; d1 = 2 / 0.68; d0 = (1 + 0.2 d1) / 0.7
    d1 = 2.0 / 0.68
    d0 = (1.0 + 0.2 * d1) / 0.7
    want = [d0 * 1.0 + d1 * 0.2, d0 * 0.5 + d1 * 1.0]
    assert w.grad.tolist() == pytest.approx(want)


def test_voting_scores_and_mse() -> None:
    r = get_rule("bpsta", votes_per_class="2")
    out = torch.zeros(4, 1, 6)  # 3 classes x 2 votes
    out[:, 0, 2] = 1.0  # class 1: one of its two neurons fires always
    out[:2, 0, 5] = 1.0  # class 2: one neuron half the time
    scores = r.scores(out)
    assert scores[0].tolist() == pytest.approx([0.0, 0.5, 0.25])
    loss = r.loss(out, torch.tensor([1]))
    assert float(loss) == pytest.approx((0.0 + 0.25 + 0.0625) / 3)
    spec = r.readout()
    assert spec.kind == "voting" and spec.votes_per_class == 2


# --- batch-norm folded at export, and the CLI --------------------------------

INPUT = InputSpec(sensor_size=(34, 34, 2), downsample=(2, 2))
DT_US, T = 15_000, 8


def _bn_net(tiny: Path) -> tuple[BpstaNet, torch.Tensor]:
    data = load_nmnist(tiny, Binning(INPUT, DT_US, T))
    r = get_rule("bpsta", votes_per_class="2", lr="0.02")
    spec = r.spec(Arch(channels=(4, 8), kernel=3, padding=1), INPUT, DT_US, data.classes)
    net = BpstaNet(spec, r, seed=7)
    train(net, data.subset(np.arange(12)), None, TrainConfig(epochs=1, batch_size=4),
          log=lambda s: None)
    assert any(float(bn.running_var.sub(1).abs().max()) > 1e-3 for bn in net.bns.values())
    x, _, _ = next(batches(data.subset(np.arange(20, 26)), 6))
    return net.eval(), x


def test_folded_conv_is_conv_then_batch_norm_in_eval_mode() -> None:
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(3, 2, 3, 3, generator=g), torch.randn(3, generator=g)
    bn = torch.nn.BatchNorm2d(3).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(3, generator=g))
        bn.running_var.copy_(torch.rand(3, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(3, generator=g))
        bn.bias.copy_(torch.randn(3, generator=g))
    x = torch.randn(4, 2, 6, 6, generator=g)
    fw, fb = fold_batch_norm(w, b, bn)
    with torch.no_grad():
        want = bn(F.conv2d(x, w, b, padding=1))
        assert torch.allclose(F.conv2d(x, fw, fb, padding=1), want, atol=1e-5)


def test_folded_fc_is_linear_then_batch_norm_in_eval_mode() -> None:
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(5, 7, generator=g), torch.randn(5, generator=g)
    bn = torch.nn.BatchNorm1d(5).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(5, generator=g))
        bn.running_var.copy_(torch.rand(5, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(5, generator=g))
        bn.bias.copy_(torch.randn(5, generator=g))
    x = torch.randn(4, 7, generator=g)
    fw, fb = fold_batch_norm(w, b, bn)
    with torch.no_grad():
        assert torch.allclose(F.linear(x, fw, fb), bn(F.linear(x, w, b)), atol=1e-5)


def test_every_spiking_layer_has_a_batch_norm(tiny_nmnist: Path) -> None:
    """The voting output too: without it MSE silences the outputs for good."""
    net, _ = _bn_net(tiny_nmnist)
    spiking = [lay.name for lay in net.spec.layers if lay.neuron is not None]
    assert sorted(k.replace("__", ".") for k in net.bns) == sorted(spiking)
    assert isinstance(net.bns[spiking[-1].replace(".", "__")], torch.nn.BatchNorm1d)


def test_exported_folded_model_runs_like_the_eval_forward(tiny_nmnist: Path,
                                                          tmp_path: Path) -> None:
    net, x = _bn_net(tiny_nmnist)
    rec: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        net(x, rec)
    assert all(rec[n].any() for n in ("conv1", "conv2", "fc"))
    model = load_model(export_model(tmp_path / "bpsta.safetensors", net))
    assert model.spec.readout.kind == "voting" and model.spec.readout.votes_per_class == 2
    assert "conv1.bias" in model.tensors
    # the runtime stepping the exported file window by window, on both backends
    names = load_nmnist(tiny_nmnist, Binning(INPUT, DT_US, T)).names[20:26]
    streams = [bin_events(read_events(tiny_nmnist / n), DT_US, n_windows=T) for n in names]
    for backend in ("torch", "numba"):
        engine = Engine(model, backend=backend, batch=len(names))
        steps = [engine.step_batch([s[k] for s in streams], record=True) for k in range(T)]
        for name in ("conv1", "conv2", "fc"):  # float sums in another order: rare flips
            got = np.stack([np.stack([r.record[name] for r in step]) for step in steps])
            assert got.shape == rec[name].shape
            assert (got != rec[name].numpy()).mean() <= 2e-3, f"{backend} {name}"


def test_cli_trains_a_tiny_bpsta_model(tiny_nmnist: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.safetensors"
    rc = main(["train", "--rule", "bpsta", "--data", str(tiny_nmnist), "--out", str(out),
               "--epochs", "1", "--steps", "4", "--dt-ms", "20", "--channels", "3,6",
               "--kernel", "3", "--downsample", "3", "--batch-size", "8",
               "--set", "votes_per_class=3"])
    assert rc == 0, capsys.readouterr().out
    model = load_model(out)
    assert model.spec.provenance["rule"] == "bpsta"
    assert model.spec.readout.kind == "voting" and model.spec.readout.votes_per_class == 3
    assert model.spec.layers[-1].out_features == 3 * len(model.spec.classes)


def test_each_rule_builds_its_own_network() -> None:
    """The train command asks the rule for its network: BPSTA's carries batch-norm."""
    from spikestream.training.network import SpikingNet

    inp = InputSpec((34, 34, 2))
    for name, cls in (("bpsta", BpstaNet), ("stbp", SpikingNet)):
        rule = get_rule(name)
        spec = rule.spec(Arch(channels=(4, 8)), inp, 20_000, tuple("0123456789"))
        net = rule.network(spec, seed=0)
        assert type(net) is cls
