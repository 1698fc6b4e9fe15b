"""Ours, sent back: a spikestream model exported in snnTorch's convention and read by
snnTorch's own ``import_from_nir`` spikes as our engine does on real DVS128 events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikestream.runtime import Engine, InputStage
from spikestream.runtime.nir import export_nir, import_nir
from spikestream.runtime.testing import random_model

nir = pytest.importorskip("nir")


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_snntorch_reads_our_export_spike_for_spike(backend: str, dvs_windows, tmp_path: Path,
                                                   capsys) -> None:
    pytest.importorskip("snntorch", reason="snntorch is a dev dependency")
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    model = random_model("stbp", downsample=(8, 8), channels=(4, 8))
    path = tmp_path / "ours.nir"
    export_nir(model, path, convention="snntorch")
    net = import_from_nir(nir.read(path))
    capsys.readouterr()  # snnTorch prints while importing
    leaky = [m for m in net.modules() if type(m).__name__ == "Leaky"]
    assert len(leaky) == 3
    assert all(np.allclose(m.beta.numpy(), 0.2, rtol=0, atol=1e-7) for m in leaky)
    stage = InputStage(model.spec.input)
    eng = Engine(model, backend=backend)
    utils.reset(net)
    out, want = [], []
    with torch.inference_mode():
        for w in dvs_windows[:600]:
            out.append(eng.step(w).output.copy())
            spk = net(torch.from_numpy(stage.dense(w.events))[None])[0]
            want.append(spk.numpy().reshape(-1).copy())
    assert np.sum(want) > 20
    np.testing.assert_array_equal(np.array(out), np.array(want))


def test_snntorch_convention_export_round_trips_exactly(dvs_windows) -> None:
    model = random_model("lee", downsample=(8, 8), channels=(4, 8))
    graph = export_nir(model, convention="snntorch")
    back = import_nir(graph)
    assert back.spec.provenance["nir_import"]["convention"] == "snntorch"
    assert back.spec.layers == model.spec.layers
    a, b = Engine(model), Engine(back)
    for w in dvs_windows[:300]:
        np.testing.assert_array_equal(b.step(w).output, a.step(w).output)


def test_export_to_a_convention_it_cannot_write() -> None:
    with pytest.raises(ValueError, match=r"export writes the conventions nir, snntorch, "
                                         r"not 'norse'"):
        export_nir(random_model("stbp", downsample=(8, 8)), convention="norse")
