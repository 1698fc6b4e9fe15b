"""The torch backend against the plain functional reference, on real DVS128 events."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikestream.runtime.backends.base import create_backend, state_shapes
from spikestream.runtime.errors import BackendError
from spikestream.runtime.functional import init_states, network_step
from spikestream.runtime.input_stage import InputStage
from spikestream.runtime.testing import KINDS, random_model
from spikestream.streams.windowing import bin_events

N_STEPS = 800


def reference(model, windows, batch_events=None):
    """Outputs and records of :func:`network_step` over ``windows``."""
    stage = InputStage(model.spec.input)
    w = {k: torch.from_numpy(np.array(v)) for k, v in model.tensors.items()}
    states = init_states(model.spec)
    for win in windows:
        rec: dict[str, torch.Tensor] = {}
        x = torch.from_numpy(stage.dense(win.events))[None]
        with torch.inference_mode():
            out, states = network_step(model.spec, w, x, states, record=rec)
        yield out.numpy(), {k: v.numpy() for k, v in rec.items()}


@pytest.mark.parametrize("grid_bits", [12, None], ids=["grid", "raw"])
@pytest.mark.parametrize("kind", KINDS)
def test_equals_reference_every_layer_every_step(busy_events, kind, grid_bits):
    model = random_model(kind, seed=1, grid_bits=grid_bits)
    windows = bin_events(busy_events, 1000)[:N_STEPS]
    be = create_backend("torch", model)
    spikes = 0
    for win, (ref_out, ref_rec) in zip(windows, reference(model, windows), strict=True):
        got = be.step(be.prepare([win.events]), record=True)
        np.testing.assert_array_equal(got.output, ref_out)
        assert got.record is not None
        for k, v in ref_rec.items():
            np.testing.assert_array_equal(got.record[k], v, err_msg=f"{kind} {k} step {win.index}")
        spikes += int(got.record["conv1"].astype(bool).sum())
    assert spikes > 0  # the test is not vacuous


def test_batch_streams_are_independent(busy_events, quiet_events):
    model = random_model("stbp")
    wa, wb = bin_events(busy_events, 1000)[:300], bin_events(quiet_events, 1000)[:300]
    both = create_backend("torch", model, batch=2)
    one_a, one_b = create_backend("torch", model), create_backend("torch", model)
    for a, b in zip(wa, wb, strict=True):
        out = both.step(both.prepare([a.events, b.events])).output
        np.testing.assert_array_equal(out[0], one_a.step(one_a.prepare([a.events])).output[0])
        np.testing.assert_array_equal(out[1], one_b.step(one_b.prepare([b.events])).output[0])


@pytest.mark.parametrize("kind", ["tssl", "relpsp"])
def test_snapshot_restore_and_reset(busy_events, kind):
    model = random_model(kind)
    windows = bin_events(busy_events, 1000)[:400]
    be = create_backend("torch", model)
    for w in windows[:200]:
        be.step(be.prepare([w.events]))
    snap = be.snapshot()
    assert {k: v.shape for k, v in snap.items()} == state_shapes(model, 1)
    first = [be.step(be.prepare([w.events])).output for w in windows[200:]]
    be.restore(snap)
    again = [be.step(be.prepare([w.events])).output for w in windows[200:]]
    np.testing.assert_array_equal(np.array(first), np.array(again))
    be.reset()
    assert all((v == 0).all() for v in be.snapshot().values())
    fresh = create_backend("torch", model)
    for w in windows[:100]:
        np.testing.assert_array_equal(be.step(be.prepare([w.events])).output,
                                      fresh.step(fresh.prepare([w.events])).output)


def test_restore_rejects_mismatch():
    model = random_model("relpsp")
    be = create_backend("torch", model)
    snap = be.snapshot()
    with pytest.raises(ValueError, match=r"missing \['conv1.fired'\]"):
        be.restore({k: v for k, v in snap.items() if k != "conv1.fired"})
    big = create_backend("torch", model, batch=2).snapshot()
    with pytest.raises(ValueError, match=r"snapshot conv1.u: shape \(2, 8, 32, 32\), this "
                                         r"engine needs \(1, 8, 32, 32\) \(batch 1\)"):
        be.restore(big)


def test_timed_step_reports_every_layer(quiet_events):
    model = random_model("lee")
    be = create_backend("torch", model)
    out = be.step(be.prepare([quiet_events[:50]]), timed=True)
    assert out.layer_us is not None
    assert list(out.layer_us) == [layer.name for layer in model.spec.layers]
    assert all(v >= 0 for v in out.layer_us.values())


def test_wrong_stream_count_and_unknown_backend():
    model = random_model("lif")
    be = create_backend("torch", model, batch=2)
    with pytest.raises(ValueError, match="expected events of 2 streams, got 1"):
        be.prepare([np.zeros(0)])
    with pytest.raises(BackendError, match="unknown backend 'jax'; known: torch, numba"):
        create_backend("jax", model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu(busy_events):
    model = random_model("stbp")
    cpu, gpu = create_backend("torch", model), create_backend("torch", model, device="cuda")
    for w in bin_events(busy_events, 1000)[:500]:
        a = cpu.step(cpu.prepare([w.events]), record=True)
        b = gpu.step(gpu.prepare([w.events]), record=True)
        np.testing.assert_array_equal(a.record["conv1"], b.record["conv1"])
        np.testing.assert_allclose(a.output, b.output, atol=1e-5)
