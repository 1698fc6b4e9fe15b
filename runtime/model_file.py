"""The model file: one ``.safetensors`` file, the only thing training hands the runtime.

Its metadata holds the JSON :class:`~.spec.ModelSpec` under :data:`SPEC_KEY`; its
tensors hold the weights, named ``<layer>.weight`` / ``<layer>.bias``. Loading reads
the header itself before any tensor, rejects pickles and zip archives (``torch.save``
checkpoints) without unpickling them, validates the spec and every tensor's presence,
shape and values, and raises :class:`~.errors.ModelError` naming the file and field.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .spec import ModelSpec

SPEC_KEY = "spikestream.spec"
"""Metadata key of the JSON spec."""

_MAX_HEADER = 100 << 20


@dataclass(frozen=True)
class Model:
    """A validated spec with its weights.

    Attributes:
        spec: the network.
        tensors: float32 C-contiguous arrays by name (``conv1.weight`` ...).
        source: the file it came from, for messages.
    """

    spec: ModelSpec
    tensors: Mapping[str, np.ndarray]
    source: str = "<memory>"

    @classmethod
    def build(cls, spec: ModelSpec, tensors: Mapping[str, Any],
              source: str = "<memory>") -> Model:
        """Validate ``tensors`` (numpy or torch) against ``spec`` and convert to float32."""
        return cls(spec, _checked_tensors(spec, tensors, source), source)

    def weight(self, layer: str) -> np.ndarray:
        return self.tensors[f"{layer}.weight"]

    def bias(self, layer: str) -> np.ndarray | None:
        return self.tensors.get(f"{layer}.bias")


def _to_numpy(t: Any) -> np.ndarray:
    if hasattr(t, "detach"):  # a torch tensor, without importing torch here
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def _checked_tensors(spec: ModelSpec, tensors: Mapping[str, Any],
                     source: str) -> dict[str, np.ndarray]:
    want = spec.tensor_shapes()
    out: dict[str, np.ndarray] = {}
    for name, shape in want.items():
        if name not in tensors:
            layer = name.rsplit(".", 1)[0]
            raise ModelError(source, f"tensor {name}: missing (layer {layer!r} needs it)")
        a = _to_numpy(tensors[name])
        if a.dtype.kind != "f":
            raise ModelError(source, f"tensor {name}: expected floats, got dtype {a.dtype}")
        if tuple(a.shape) != shape:
            raise ModelError(source, f"tensor {name}: shape {tuple(a.shape)}, the spec "
                                     f"needs {shape}")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.isfinite(a).all():
            raise ModelError(source, f"tensor {name}: contains NaN or infinity")
        a.setflags(write=False)
        out[name] = a
    extra = sorted(set(tensors) - set(want))
    if extra:
        raise ModelError(source, f"tensor {extra[0]}: not used by any layer of the spec")
    return out


def save_model(path: str | os.PathLike[str], spec: ModelSpec,
               tensors: Mapping[str, Any]) -> Path:
    """Write ``spec`` and ``tensors`` (numpy or torch, any float dtype) to ``path``.

    Raises:
        ModelError: a tensor is missing, extra, of the wrong shape or not finite.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    arrays = _checked_tensors(spec, tensors, str(path))
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path),
              metadata={SPEC_KEY: spec.to_json(), "format": "spikestream"})
    return path


def _sniff(path: Path, size: int, head: bytes) -> str | None:
    """Why ``head`` is not a safetensors file, or None."""
    if head.startswith(b"PK\x03\x04"):
        return ("a zip archive (a torch.save checkpoint?), not a safetensors model file; "
                "spikestream never unpickles models: export with "
                "spikestream.runtime.save_model")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ("a Python pickle (a torch .pt/.pth checkpoint?), not a safetensors model "
                "file; spikestream never unpickles models: export with "
                "spikestream.runtime.save_model")
    if size < 10:
        return f"only {size} bytes: too short to be a safetensors model file"
    (n,) = struct.unpack("<Q", head[:8])
    if n > size - 8 or n > _MAX_HEADER or head[8:9] != b"{":
        return "not a safetensors file (no valid header at its start)"
    return None


def _read_header(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
        why = _sniff(path, size, head)
        if why:
            raise ModelError(path, why)
        (n,) = struct.unpack("<Q", head[:8])
        f.seek(8)
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(path, f"not a safetensors file (header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise ModelError(path, "not a safetensors file (header is not a JSON object)")
    return header


def load_model(path: str | os.PathLike[str]) -> Model:
    """Read and validate a model file (never unpickles).

    Raises:
        ModelError: missing file, not a safetensors file, a pickle, no spec, invalid
            spec (naming the field), or a missing/mis-shaped/extra tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "no such model file")
    header = _read_header(path)
    meta = header.get("__metadata__") or {}
    if SPEC_KEY not in meta:
        raise ModelError(path, f"metadata: no {SPEC_KEY!r} entry (a safetensors file, but "
                               "not a spikestream model)")
    try:
        spec = ModelSpec.from_json(meta[SPEC_KEY])
    except ModelError as e:
        raise ModelError(path, e.problem) from None
    from safetensors import safe_open

    tensors: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(path), framework="numpy") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a Mapping)
                tensors[name] = f.get_tensor(name)
    except Exception as e:  # safetensors raises its own error types; name the file
        raise ModelError(path, f"cannot read tensors ({type(e).__name__}: {e})") from None
    return Model.build(spec, tensors, str(path))
