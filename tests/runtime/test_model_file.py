"""Model files: round trip, and a clear error for every kind of bad file."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from spikestream.runtime.errors import ModelError
from spikestream.runtime.model_file import SPEC_KEY, load_model, save_model
from spikestream.runtime.testing import KINDS, random_model


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(tmp_path, kind):
    m = random_model(kind, seed=3)
    path = save_model(tmp_path / "m.safetensors", m.spec, m.tensors)
    back = load_model(path)
    assert back.spec == m.spec
    assert back.tensors.keys() == m.tensors.keys()
    for k, v in m.tensors.items():
        assert back.tensors[k].dtype == np.float32
        np.testing.assert_array_equal(back.tensors[k], v)
    assert back.source == str(path)


def test_torch_and_float64_tensors_are_saved_as_float32(tmp_path):
    m = random_model("stbp")
    tensors = {k: torch.from_numpy(np.array(v, np.float64)) for k, v in m.tensors.items()}
    back = load_model(save_model(tmp_path / "t.safetensors", m.spec, tensors))
    np.testing.assert_array_equal(back.weight("conv1"), m.weight("conv1"))
    assert back.bias("conv2") is not None and back.bias("conv1") is None


def write(path: Path, spec_json: str | None, tensors: dict[str, np.ndarray]) -> Path:
    meta = {} if spec_json is None else {SPEC_KEY: spec_json}
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path), metadata=meta)
    return path


@pytest.fixture
def model():
    return random_model("stbp")


def test_missing_tensor(tmp_path, model):
    t = dict(model.tensors)
    del t["conv2.bias"]
    p = write(tmp_path / "m.safetensors", model.spec.to_json(), t)
    with pytest.raises(ModelError, match=r"m\.safetensors: tensor conv2\.bias: missing"):
        load_model(p)


def test_shape_mismatch(tmp_path, model):
    t = dict(model.tensors)
    t["fc.weight"] = np.zeros((11, 1000), np.float32)
    p = write(tmp_path / "m.safetensors", model.spec.to_json(), t)
    with pytest.raises(ModelError, match=r"tensor fc\.weight: shape \(11, 1000\), the spec "
                                         r"needs \(11, 1024\)"):
        load_model(p)


def test_extra_tensor_and_non_finite_and_int_dtype(tmp_path, model):
    t = {**model.tensors, "conv9.weight": np.zeros(3, np.float32)}
    with pytest.raises(ModelError, match=r"tensor conv9\.weight: not used by any layer"):
        load_model(write(tmp_path / "a.safetensors", model.spec.to_json(), t))
    t = dict(model.tensors)
    t["conv1.weight"] = t["conv1.weight"].copy()
    t["conv1.weight"][0, 0, 0, 0] = np.nan
    with pytest.raises(ModelError, match=r"tensor conv1\.weight: contains NaN"):
        load_model(write(tmp_path / "b.safetensors", model.spec.to_json(), t))
    t["conv1.weight"] = np.zeros(model.tensors["conv1.weight"].shape, np.int32)
    with pytest.raises(ModelError, match=r"tensor conv1\.weight: expected floats"):
        load_model(write(tmp_path / "c.safetensors", model.spec.to_json(), t))
    with pytest.raises(ModelError, match=r"x\.safetensors: tensor conv2\.weight: missing"):
        save_model(tmp_path / "x.safetensors", model.spec, {"conv1.weight": model.weight("conv1")})


def test_wrong_and_missing_version(tmp_path, model):
    d = model.spec.to_dict()
    d["version"] = 99
    p = write(tmp_path / "v.safetensors", json.dumps(d), dict(model.tensors))
    with pytest.raises(ModelError, match=r"v\.safetensors: version: spec version 99 is newer"):
        load_model(p)
    del d["version"]
    p = write(tmp_path / "w.safetensors", json.dumps(d), dict(model.tensors))
    with pytest.raises(ModelError, match=r"w\.safetensors: version: missing"):
        load_model(p)


def test_invalid_spec_field_names_file_and_field(tmp_path, model):
    d = model.spec.to_dict()
    d["layers"][3]["type"] = "avgpool3d"
    p = write(tmp_path / "f.safetensors", json.dumps(d), dict(model.tensors))
    with pytest.raises(ModelError, match=r"f\.safetensors: layers\[3\]\.type: expected one of"):
        load_model(p)


def test_safetensors_without_spec(tmp_path, model):
    p = write(tmp_path / "plain.safetensors", None, dict(model.tensors))
    with pytest.raises(ModelError, match="no 'spikestream.spec' entry"):
        load_model(p)


class _Boom:
    """Unpickling this would create a marker file: loading must never do that."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_payload_is_rejected_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    p = tmp_path / "model.safetensors"
    p.write_bytes(pickle.dumps(_Boom(marker), protocol=4))
    with pytest.raises(ModelError, match=r"model\.safetensors: a Python pickle .* never "
                                         r"unpickles"):
        load_model(p)
    assert not marker.exists()


def test_torch_checkpoint_renamed_is_rejected(tmp_path, model):
    p = tmp_path / "ckpt.safetensors"
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in model.tensors.items()}, p)
    with pytest.raises(ModelError, match=r"ckpt\.safetensors: a zip archive \(a torch\.save"):
        load_model(p)
    torch.save({"w": torch.zeros(2)}, p, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelError, match="a Python pickle"):
        load_model(p)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "too short"),
        (b"hello world, not a model", "not a safetensors file"),
        (struct.pack("<Q", 10**12) + b"{}" + b"\0" * 8, "not a safetensors file"),
        (struct.pack("<Q", 4) + b"{no}" + b"\0" * 8, "header is not JSON"),
    ],
)
def test_not_a_safetensors_file(tmp_path, content, message):
    p = tmp_path / "junk.safetensors"
    p.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_model(p)


def test_truncated_tensor_data(tmp_path, model):
    p = save_model(tmp_path / "cut.safetensors", model.spec, model.tensors)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelError, match=r"cut\.safetensors: cannot read tensors"):
        load_model(p)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.safetensors: no such model file"):
        load_model(tmp_path / "nope.safetensors")
