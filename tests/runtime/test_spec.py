"""The model spec: JSON round trip and validation errors that name the field."""

from __future__ import annotations

import copy
import json

import pytest

from spikestream.runtime.errors import ModelError
from spikestream.runtime.spec import SPEC_VERSION, InputSpec, ModelSpec
from spikestream.runtime.testing import KINDS, random_spec


@pytest.mark.parametrize("kind", KINDS)
def test_json_round_trip(kind):
    spec = random_spec(kind, crop=(8, 0, 112, 128), n_classes=4)
    text = spec.to_json()
    back = ModelSpec.from_json(text)
    assert back == spec
    assert json.loads(back.to_json()) == json.loads(text)


def test_input_shape_crop_downsample_polarity():
    assert InputSpec((128, 128, 2), downsample=(4, 4)).shape == (2, 32, 32)
    assert InputSpec((346, 260, 2), crop=(10, 20, 100, 50), downsample=(3, 4),
                     polarity="merge").shape == (1, 13, 34)  # ceil(50/4), ceil(100/3)


def good() -> dict:
    return random_spec("stbp").to_dict()


def bad(path: str, value) -> dict:
    d = copy.deepcopy(good())
    node = d
    keys = path.replace("]", "").replace("[", ".").split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("layers[2].kernel_size", [3], r"layers\[2\]\.kernel_size: expected 2 ints, got \[3\]"),
        ("layers[0].type", "conv3d", r"layers\[0\]\.type: expected one of conv2d"),
        ("layers[2].in_channels", 5, r"layers\[2\]\.in_channels: expected 8"),
        ("layers[5].in_features", 10, r"layers\[5\]\.in_features: expected 1024, got 10"),
        ("layers[0].neuron.reset", "soft", r"layers\[0\]\.neuron\.reset: expected one of"),
        ("layers[0].neuron.leak", 0.9, r"layers\[0\]\.neuron\.leak: unknown neuron field"),
        ("layers[1].name", "conv1", r"layers\[1\]\.name: 'conv1' is used twice"),
        ("layers[1].name", "a.b", r"layers\[1\]\.name: expected a non-empty name"),
        ("layers[0].padding", [1, -1], r"layers\[0\]\.padding: expected ints >= 0"),
        ("layers[5].neuron", None, r"layers\[5\]\.neuron: the output layer needs a neuron"),
        ("layers[0].bogus", 1, r"layers\[0\]\.bogus: unknown field"),
        ("version", KeyError, r"version: missing"),
        ("version", SPEC_VERSION + 1, r"version: spec version 2 is newer"),
        ("version", "1", r"version: expected a positive int"),
        ("dt_us", 0, r"dt_us: expected an int >= 1"),
        ("classes", [], r"classes: expected a non-empty list"),
        ("classes", ["a", "b"], r"layers\[5\]: output shape \(11,\) does not match 2 classes"),
        ("input.crop", [100, 0, 64, 64], r"input\.crop: \[100, 0, 64, 64\] does not fit"),
        ("input.polarity", "both", r"input\.polarity: expected one of split, merge"),
        ("input.sensor_size", [128, 128], r"input\.sensor_size: expected 3 ints"),
        ("readout.kind", "argmax", r"readout\.kind: expected one of count"),
        ("readout.kind", "membrane", r"layers\[5\]\.neuron\.spiking: a 'membrane' readout"),
        ("readout.votes_per_class", 2, r"readout\.votes_per_class: must be 1"),
        ("readout.vote_order", "member", r"readout\.vote_order: expected one of class, vote"),
        ("readout.vote_order", "vote", r"readout\.vote_order: only a 'voting' readout"),
        ("layers[2].groups", 3, r"layers\[2\]\.groups: 3 does not divide the channels "
                                r"\(8 in, 16 out\)"),
        ("layers[5].groups", 2, r"layers\[5\]\.groups: 2 does not divide the features "
                                r"\(1024 in, 11 out\)"),
        ("layers[2].groups", 0, r"layers\[2\]\.groups: expected an int >= 1"),
        ("readout.state_policy", "reset_every", r"readout\.reset_every_steps: must be >= 1"),
        ("readout", KeyError, r"readout: missing"),
        ("provenance", [], r"provenance: expected an object"),
    ],
)
def test_invalid_spec_names_the_field(path, value, message):
    with pytest.raises(ModelError, match=message):
        ModelSpec.from_dict(bad(path, value))


def test_linear_needs_flatten_and_pool_scale_only_for_avg():
    d = good()
    del d["layers"][4]
    with pytest.raises(ModelError, match=r"layers\[4\]: linear needs a flat input"):
        ModelSpec.from_dict(d)
    d = good()
    d["layers"][1]["type"] = "maxpool2d"
    d["layers"][1]["scale"] = 2.0
    with pytest.raises(ModelError, match=r"layers\[1\]\.scale: only average pooling"):
        ModelSpec.from_dict(d)


def test_not_json_and_not_object():
    with pytest.raises(ModelError, match="spec: not valid JSON"):
        ModelSpec.from_json("{nope")
    with pytest.raises(ModelError, match="spec: expected a JSON object"):
        ModelSpec.from_json("[1, 2]")


def test_int_shorthand_for_pairs():
    d = good()
    d["layers"][0]["kernel_size"] = 3
    d["layers"][0]["padding"] = 1
    spec = ModelSpec.from_dict(d)
    assert spec.layers[0].kernel_size == (3, 3) and spec.layers[0].padding == (1, 1)


def test_groups_round_trip_and_stay_out_of_ungrouped_files():
    spec = random_spec("stbp", groups=4, n_classes=12)
    d = spec.to_dict()
    assert d["layers"][2]["groups"] == 4 and "groups" not in d["layers"][0]
    assert ModelSpec.from_dict(d) == spec
    shapes = spec.tensor_shapes()
    assert shapes["conv2.weight"] == (16, 2, 3, 3) and shapes["fc.weight"] == (12, 256)
    plain = random_spec("stbp").to_dict()  # files written before groups read the same
    assert not any("groups" in x for x in plain["layers"])
    assert "vote_order" not in plain["readout"]


def test_dense_weight_places_each_group_on_the_diagonal():
    import numpy as np

    from spikestream.runtime.layers import LinearSpec, dense_weight, grouped_weight

    layer = LinearSpec("fc", 6, 4, groups=2)
    w = np.arange(1, 13, dtype=np.float32).reshape(4, 3)
    dense = dense_weight(layer, w)
    np.testing.assert_array_equal(dense, [[1, 2, 3, 0, 0, 0], [4, 5, 6, 0, 0, 0],
                                          [0, 0, 0, 7, 8, 9], [0, 0, 0, 10, 11, 12]])
    np.testing.assert_array_equal(grouped_weight(layer, dense), w)
    dense[0, 5] = 1.0  # a weight across the groups: not this grouped layer
    assert grouped_weight(layer, dense) is None
