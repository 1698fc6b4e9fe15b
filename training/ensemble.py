"""Merge trained networks of one architecture into one model file that votes.

    python -m spikestream.training.ensemble MEMBER.safetensors MEMBER.safetensors ...
                                            --out ensemble.safetensors

N members with the same input, step, classes and layers (only their weights differ)
become one network that computes all of them side by side in one step: every layer
holds the members' channels (or features) one block after another; the first layer
reads the shared input, every later weighted layer is grouped (``groups = N``: each
member's block reads only its own block of the layer below), so the file holds the
members' weights and nothing else. The output layer is then one block of every class
per member, and a ``"voting"`` readout with ``votes_per_class = N`` and
``vote_order = "vote"`` averages the members' output spikes per class. The merged
network's output spikes are exactly the members': ``Engine(merged)`` gives what N
Engines and an average of their outputs give, at the cost of the N networks.

The readout's other settings are the first member's; choose them again on validation
recordings (:mod:`.gesture_streaming`). The merged file's provenance is the first
member's, with ``ensemble``: each member's file name and provenance.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..runtime.layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec
from ..runtime.model_file import Model, load_model, save_model
from ..runtime.spec import ModelSpec


def _same_but_weights(specs: list[ModelSpec], names: list[str]) -> None:
    """Raise ``ValueError`` naming the member and the field where a member's spec
    differs from the first member's in anything but its provenance and readout."""
    first = specs[0]
    for spec, name in zip(specs[1:], names[1:], strict=True):
        for field in ("input", "dt_us", "classes", "layers"):
            if getattr(spec, field) != getattr(first, field):
                raise ValueError(f"{name}: its {field} differs from {names[0]}'s; "
                                 "only members of one architecture can be merged")
        if spec.readout.kind != "count" or first.readout.kind != "count":
            raise ValueError(f"{name}: members need a count readout, got "
                             f"{spec.readout.kind!r}")


def merge_members(members: list[Model], names: list[str] | None = None) -> Model:
    """One model computing ``members`` side by side (see the module docstring).

    Args:
        members: two or more models of one architecture (conv, pooling, flatten and
            linear layers; count readout).
        names: how to call each member in errors and in the provenance.
    """
    names = names or [f"member {k}" for k in range(len(members))]
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    specs = [m.spec for m in members]
    _same_but_weights(specs, names)
    n = len(members)
    first = specs[0]
    layers, tensors = [], {}
    shared_input = True
    for layer in first.layers:
        if isinstance(layer, Pool2dSpec | FlattenSpec):
            if shared_input:
                raise ValueError(f"{names[0]}: layer {layer.name} comes before any weights; "
                                 "an ensemble's first layer must be a conv or linear layer")
            layers.append(layer)  # per channel, and C order keeps each member's block
            continue
        if not isinstance(layer, Conv2dSpec | LinearSpec):  # pragma: no cover
            raise ValueError(f"{names[0]}: layer {layer.name}: cannot merge a {layer.type}")
        if layer.groups != 1:
            raise ValueError(f"{names[0]}: layer {layer.name} is grouped; members need "
                             "ungrouped layers")
        # the members' weights one after another along the outputs: on the shared input
        # an ungrouped layer, after it one group per member (block-diagonal)
        for part in ("weight", "bias"):
            key = f"{layer.name}.{part}"
            if key in members[0].tensors:
                tensors[key] = np.concatenate([m.tensors[key] for m in members])
        groups = 1 if shared_input else n
        if isinstance(layer, Conv2dSpec):
            layers.append(replace(layer, in_channels=layer.in_channels * groups,
                                  out_channels=layer.out_channels * n, groups=groups))
        else:
            layers.append(replace(layer, in_features=layer.in_features * groups,
                                  out_features=layer.out_features * n, groups=groups))
        shared_input = False
    readout = replace(first.readout, kind="voting", votes_per_class=n, vote_order="vote")
    provenance = {**first.provenance,
                  "ensemble": [{"file": nm, "provenance": s.provenance}
                               for nm, s in zip(names, specs, strict=True)]}
    spec = replace(first, layers=tuple(layers), readout=readout, provenance=provenance)
    return Model.build(spec, tensors)


def merge_files(paths: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Merge the model files ``paths`` into ``out`` (see :func:`merge_members`)."""
    members = [load_model(p) for p in paths]
    merged = merge_members(members, [Path(p).name for p in paths])
    return save_model(Path(out), merged.spec, merged.tensors)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="model files of one architecture")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        path = merge_files(args.members, args.out)
    except ValueError as e:
        raise SystemExit(f"ensemble: {e}") from None
    print(f"wrote {path} ({path.stat().st_size:,} bytes): {len(args.members)} members voting")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
