"""What cannot cross over is refused, naming the file, the node or layer, and why."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spikestream.runtime import InputSpec, Model, ModelError, NeuronParams, save_model
from spikestream.runtime.nir import NIRError, export_nir, import_nir
from spikestream.runtime.testing import random_model

nir = pytest.importorskip("nir")


# export: our neurons without a NIR equivalent ------------------------------------------

@pytest.mark.parametrize(("kind", "layer", "what"), [
    ("tssl", "conv1", r"TSSL-BP output trace \(psp_tau\)"),
    ("relpsp", "conv1", r"fire-once"),
    ("lif", "conv1", r"subtractive reset"),
    ("bpsta", "conv1", r"input rectification"),
])
def test_export_refuses_neurons_nir_cannot_express(kind: str, layer: str, what: str,
                                                   tmp_path: Path) -> None:
    src = tmp_path / f"{kind}.safetensors"
    model = random_model(kind, downsample=(8, 8), channels=(4, 8))
    save_model(src, model.spec, model.tensors)
    out = tmp_path / f"{kind}.nir"
    with pytest.raises(NIRError, match=rf"^{src}: layer '{layer}' \(conv2d neuron\): .*{what}"):
        export_nir(src, out)
    assert not out.exists()  # nothing written


def test_export_refuses_max_pooling() -> None:
    model = random_model("bpsta", downsample=(8, 8), channels=(4, 8))
    spec = model.spec
    plain = NeuronParams(decay=0.9, threshold=0.5)
    layers = tuple(replace(x, neuron=plain) if x.type in ("conv2d", "linear") else x
                   for x in spec.layers)
    bad = Model.build(replace(spec, layers=layers), model.tensors)
    with pytest.raises(NIRError, match=r"layer 'pool1' \(maxpool2d\): max pooling has no NIR"):
        export_nir(bad)


# import: nodes and structures spikestream cannot run -------------------------------------

def _affine(n_in: int, n_out: int) -> object:
    return nir.Affine(weight=np.ones((n_out, n_in), np.float32) / n_in,
                      bias=np.zeros(n_out, np.float32))


def _lif(n: int) -> object:
    return nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.ones(n), v_reset=np.zeros(n))


def _graph(nodes: dict, edges: list) -> object:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _linear_chain(*middle: tuple[str, object], n: int = 4) -> object:
    nodes = {"input": nir.Input(input_type={"input": np.array([8])}), "fc": _affine(8, n),
             **dict(middle), "output": nir.Output(output_type={"output": np.array([n])})}
    keys = list(nodes)
    return _graph(nodes, list(zip(keys[:-1], keys[1:], strict=True)))


def _import(graph: object) -> object:
    return import_nir(graph, dt_us=1000, convention="nir",
                      input=InputSpec((2, 2, 2)))


def test_a_good_linear_graph_imports() -> None:
    model = _import(_linear_chain(("lif", _lif(4))))
    assert [x.type for x in model.spec.layers] == ["flatten", "linear"]
    assert model.spec.layers[1].neuron.decay == pytest.approx(0.5)


def test_recurrent_edge_is_refused_naming_the_node() -> None:
    g = _linear_chain(("lif", _lif(4)), ("rec", _affine(4, 4)))
    g.edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"),
               ("lif", "output")]
    with pytest.raises(NIRError, match=r"node 'lif' \(LIF\): recurrent edge 'rec' -> 'lif'"):
        _import(g)


def test_delay_node_is_refused_naming_it() -> None:
    g = _linear_chain(("delay", nir.Delay(delay=np.full(4, 1e-3))), ("lif", _lif(4)))
    with pytest.raises(NIRError, match=r"node 'delay' \(Delay\): node type not supported"):
        _import(g)


def test_unknown_node_is_refused_naming_it() -> None:
    g = _linear_chain(("scale", nir.Scale(scale=np.ones(4))), ("lif", _lif(4)))
    with pytest.raises(NIRError, match=r"node 'scale' \(Scale\): node type not supported"):
        _import(g)


def test_a_node_the_exporter_left_empty_is_refused_naming_it() -> None:
    """Norse 1.1's ``to_nir`` writes ``None`` for modules it cannot map (AvgPool2d,
    Flatten, ...)."""
    g = _linear_chain(("pool", None), ("lif", _lif(4)))
    with pytest.raises(NIRError, match=r"node 'pool': the exporter wrote no NIR node"):
        _import(g)


@pytest.mark.parametrize(("node", "problem"), [
    (nir.LIF(tau=np.full(4, 2e-3), r=np.ones(4), v_leak=np.zeros(4),
             v_threshold=np.ones(4), v_reset=np.full(4, 0.5)), r"v_reset is 0.5"),
    (nir.LIF(tau=np.array([2e-3, 2e-3, 4e-3, 2e-3]), r=np.ones(4), v_leak=np.zeros(4),
             v_threshold=np.ones(4), v_reset=np.zeros(4)), r"differs between neurons"),
    (nir.LIF(tau=np.full(4, 1e-4), r=np.ones(4), v_leak=np.zeros(4),
             v_threshold=np.ones(4), v_reset=np.zeros(4)), r"convention 'snntorch'"),
])
def test_parameters_we_cannot_express_are_refused(node: object, problem: str) -> None:
    with pytest.raises(NIRError, match=rf"node 'lif' \(LIF\): .*{problem}"):
        _import(_linear_chain(("lif", node)))


def test_norse_current_based_cell_is_refused() -> None:
    cuba = nir.CubaLIF(tau_syn=np.full(4, 1e-5), tau_mem=np.full(4, 1e-5), r=np.ones(4),
                       v_leak=np.zeros(4), v_threshold=np.ones(4))
    with pytest.raises(NIRError, match=r"node 'lif' \(CubaLIF\): convention 'norse'.*delay"):
        import_nir(_linear_chain(("lif", cuba)), dt_us=1000, convention="norse",
                   input=InputSpec((2, 2, 2)))


def test_snntorch_recurrent_layer_is_refused(snntorch_to_nir) -> None:
    import snntorch as snn
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(8, 4),
                              snn.RLeaky(beta=0.9, linear_features=4, init_hidden=True,
                                         output=True))
    graph = snntorch_to_nir(net, torch.zeros(1, 8), ignore_dims=[0])
    with pytest.raises(NIRError, match=r"node '1.lif' \(LIF\): recurrent edge '1.w_rec' -> "
                                       r"'1.lif': spikestream runs feed-forward"):
        _import(graph)


# malformed graphs and files -------------------------------------------------------------

def test_edge_to_a_missing_node(tmp_path: Path) -> None:
    g = _linear_chain(("lif", _lif(4)))
    g.edges = [*g.edges, ("lif", "ghost")]
    with pytest.raises(NIRError, match=r"node 'ghost': edge 'lif' -> 'ghost' names a node"):
        _import(g)


def test_missing_edge_leaves_a_node_off_the_path() -> None:
    g = _linear_chain(("lif", _lif(4)))
    g.edges = [("input", "fc"), ("fc", "output")]
    with pytest.raises(NIRError, match=r"node 'lif' \(LIF\): is not on the path"):
        _import(g)


def test_shape_mismatch_names_the_node(tmp_path: Path) -> None:
    g = _linear_chain(("fc2", _affine(5, 4)), ("lif", _lif(4)))
    path = tmp_path / "bad_shape.nir"
    nir.write(path, g)
    with pytest.raises(NIRError, match=rf"^{path}: node 'fc2' \(Affine\): weight has 5 inputs "
                                       r"but the node before it outputs 4"):
        import_nir(path, convention="nir", input=InputSpec((2, 2, 2)))


@pytest.mark.parametrize("content", [b"", b"not a NIR graph at all\n" * 10])
def test_bad_file_is_named(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "broken.nir"
    path.write_bytes(content)
    with pytest.raises(NIRError, match=rf"^{path}: not a readable NIR graph"):
        import_nir(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=rf"^{tmp_path / 'nope.nir'}: no such NIR file"):
        import_nir(tmp_path / "nope.nir")


def test_no_output_node(tmp_path: Path) -> None:
    g = _linear_chain(("lif", _lif(4)))
    del g.nodes["output"]
    g.edges = [e for e in g.edges if e[1] != "output"]
    with pytest.raises(NIRError, match=r"the graph has 0 Output nodes"):
        _import(g)


def test_flat_input_without_an_input_spec_asks_for_one() -> None:
    with pytest.raises(NIRError, match=r"node 'input' \(Input\): shape \(8,\).*--input"):
        import_nir(_linear_chain(("lif", _lif(4))), dt_us=1000, convention="nir")


def test_unknown_convention_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown NIR convention 'lava'; known: nir, "):
        _import_conv("lava")


def _import_conv(conv: str) -> object:
    return import_nir(_linear_chain(("lif", _lif(4))), dt_us=1000, convention=conv,
                      input=InputSpec((2, 2, 2)))
