"""Trained models shipped with spikestream, installed as package data.

Each ``<name>.safetensors`` here has a model card ``<name>.md`` beside it. The
commands accept a shipped model's name wherever they take a model file
(``spikestream run rec.bin -m nmnist-stbp``).
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped models, sorted."""
    return sorted(p.stem for p in _HERE.glob("*.safetensors"))


def resolve(model: str) -> str:
    """``model`` itself when it is an existing file or not a shipped name; else the
    path of the shipped model called ``model``."""
    if Path(model).exists() or model not in available():
        return model
    return str(_HERE / f"{model}.safetensors")
