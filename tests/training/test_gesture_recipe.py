"""The gesture-synthetic recipe end to end on a tiny set: train, export, calibrate the
readout, and run the model through the runtime's Engine as the training forward did."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from spikestream.runtime.engine import Engine
from spikestream.runtime.model_file import load_model
from spikestream.streams.open import open_source
from spikestream.training.gesture_clips import PAUSE, bin_stream
from spikestream.training.gesture_recipe import (
    Recipe,
    augment,
    network_spec,
    onset_weights,
    override,
    smoothed,
    step_loss,
    train_recipe,
)
from spikestream.training.gesture_streaming import replay_readout, stream_outputs
from spikestream.training.network import SpikingNet
from spikestream.training.rules import get_rule
from spikestream.training.synthetic_gestures import (
    SyntheticGestureConfig,
    load_events,
    synthetic_gesture_dataset,
)

TINY = Recipe(
    data=SyntheticGestureConfig(n_train=3, n_test=1, seed=11, n_gestures=2,
                                gesture_s=(1.0, 1.2), pause_s=(0.3, 0.4),
                                sensor_size=(64, 64, 2)),
    n_val=1, channels=(4, 8), n_steps=20, burn_in=5, per_segment=3, epochs=2,
    batch_size=8, max_minutes=1.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPIKESTREAM_CACHE", str(cache))
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("model") / "gesture.safetensors"
    lines: list[str] = []
    facts = train_recipe(TINY, out, log=lines.append)
    yield out, facts, lines, synthetic_gesture_dataset(TINY.data)
    mp.undo()


def test_trains_exports_and_calibrates(trained):
    out, facts, lines, _ = trained
    assert out.stat().st_size < 2_000_000
    assert facts["epochs"] == 2 and 1 <= facts["best_epoch"] <= 2
    assert any(ln.startswith("epoch 2/2") for ln in lines)
    spec = load_model(out).spec
    p = spec.provenance
    assert p["rule"] == "stbp" and p["n_steps"] == 20 and p["data"]["n_train_recordings"] == 2
    assert p["recipe"]["mirror"] is True and p["data"]["config"]["seed"] == 11
    cal = p["readout_calibration"]
    assert cal == facts["readout_calibration"] and cal["gestures"] == 2
    assert cal["seeds"] == [13]  # the last of seeds 11..13 validates
    assert spec.readout.tau_ms == cal["tau_ms"]
    assert spec.readout.min_event_rate_hz == cal["min_event_rate_hz"]
    assert spec.readout.state_policy == "continuous"
    assert spec.input.shape == (2, 16, 16) and spec.dt_us == 10_000


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_the_engine_steps_the_stream_as_the_training_forward(trained, backend):
    out, _, _, data = trained
    w = data["test"][0]
    model = load_model(out)
    rule = get_rule("stbp", **{k: v for k, v in model.spec.provenance["rule_settings"].items()
                               if k != "rule"})
    net = SpikingNet.from_model(model, rule)
    events = load_events(w)
    st = bin_stream(events, w.segments, model.spec.input, model.spec.dt_us, w.duration_us)
    k0 = int(events["t"][0]) // model.spec.dt_us  # the engine starts at the first event
    with torch.no_grad():
        want = net(torch.from_numpy(st.frames[k0:].astype(np.float32))[:, None])[:, 0]
    got = stream_outputs(out, w, backend)
    n = len(got.output)  # the engine stops at the last event's window, the grid at the end
    assert len(want) - 1 <= n <= len(want) and n > 200
    np.testing.assert_allclose(got.output, want[:n].numpy(), atol=1e-5)
    assert got.output.sum() > 0
    # the readout replayed over the kept outputs decides as the engine itself does
    engine = Engine(out, backend=backend)
    with open_source(str(w.events_path)) as src:
        direct = [r.decision for r in engine.run(src) if r.decision is not None]
    assert replay_readout(out, got) == direct


def test_step_loss_targets_and_mask():
    sm = torch.zeros(3, 1, 4)
    y = torch.tensor([[PAUSE], [2], [2]])
    mask = torch.tensor([[True], [False], [True]])
    mse = step_loss(sm, y, mask, pause_weight=0.5)
    assert math.isclose(float(mse), (0.25 * 1 / 1.5), rel_tol=1e-6)  # only the last step errs
    ce = step_loss(sm, y, mask, 0.5, loss="ce")
    assert math.isclose(float(ce), math.log(4), rel_tol=1e-6)  # the pause carries no CE
    w = torch.tensor([[1.0], [1.0], [3.0]])
    weighted = step_loss(sm, y, mask, pause_weight=0.5, weight=w)
    assert math.isclose(float(weighted), 3 * 0.25 / 3.5, rel_tol=1e-6)
    assert math.isclose(float(step_loss(sm, y, mask, 0.5, loss="ce", weight=w)),
                        math.log(4), rel_tol=1e-6)
    s = smoothed(torch.ones(3, 1, 1), 0.5)
    assert s.flatten().tolist() == [0.5, 0.75, 0.875]


def test_onset_weights_reward_the_first_steps_of_a_gesture():
    age = torch.tensor([[-1.0, 10.0, 20.0, 150.0, 160.0]]).T
    w = onset_weights(age, 4.0, 20.0, 150.0)
    assert w.flatten().tolist() == [1.0, 1.0, 5.0, 5.0, 1.0]


def test_augment_mirrors_labels_and_shifts():
    x = torch.zeros(2, 64, 2, 8, 8)
    x[:, :, 0, 4, 1] = 1.0
    y = torch.tensor([[PAUSE] * 64, [3] * 64])
    xa, ya = augment(x, y, np.random.default_rng(0), mirror=True, shift_px=0)
    flipped = ya[1] == 6  # right arm clockwise <-> left arm counter-clockwise
    assert 10 < int(flipped.sum()) < 54 and ((ya[1] == 3) | flipped).all()
    assert (ya[0] == PAUSE).all()
    assert (xa[:, flipped, 0, 4, 6] == 1).all() and (xa[:, ~flipped, 0, 4, 1] == 1).all()
    xs, ys = augment(x, y, np.random.default_rng(0), mirror=False, shift_px=1)
    assert torch.equal(ys, y) and (xs.sum(dim=(0, 2, 3, 4)) <= 2).all()


def test_override():
    r = override(Recipe(), ["lr=0.01", "channels=4,8", "mirror=1"])
    assert r.lr == 0.01 and r.channels == (4, 8) and r.mirror is True
    with pytest.raises(SystemExit, match="unknown"):
        override(Recipe(), ["nope=1"])
    assert override(Recipe(), ["decays=0.8,0.9,0.95"]).decays == (0.8, 0.9, 0.95)
    # booleans by their words (bool("false") would be True)
    assert override(Recipe(), ["calibrate=false"]).calibrate is False
    assert override(Recipe(), ["mirror=True"]).mirror is True
    with pytest.raises(SystemExit, match="--set calibrate: expected true or false, got 'nope'"):
        override(Recipe(), ["calibrate=nope"])


def test_per_layer_decays_reach_the_exported_layers():
    rule = get_rule("stbp", decay=0.8, threshold=0.5)
    default = network_spec(Recipe(), rule)
    assert [lay.neuron.decay for lay in default.layers if lay.neuron] == [0.8, 0.8, 0.8]
    spec = network_spec(replace(Recipe(), decays=(0.8, 0.9, 0.95)), rule)
    assert [(lay.name, lay.neuron.decay) for lay in spec.layers if lay.neuron] == [
        ("conv1", 0.8), ("conv2", 0.9), ("fc", 0.95)]
    with pytest.raises(ValueError, match="decays"):
        network_spec(replace(Recipe(), decays=(0.8, 0.9)), rule)


def test_init_model_fine_tunes_the_same_network_only(trained, tmp_path):
    out = trained[0]
    tuned = tmp_path / "tuned.safetensors"
    recipe = replace(TINY, init_model=str(out), lr=0.0, epochs=1, calibrate=False)
    train_recipe(recipe, tuned, log=lambda _: None)
    a, b = load_model(out).tensors, load_model(tuned).tensors
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="not the recipe's network"):
        train_recipe(replace(TINY, init_model=str(out), channels=(2, 4)), tmp_path / "x",
                     log=lambda _: None)
