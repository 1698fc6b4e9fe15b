"""``spikestream import-nir GRAPH.nir --out MODEL.safetensors``: bring your own network.

Reads a NIR graph written by snnTorch, Norse, Sinabs, Rockpool, ... (or by
``spikestream export-nir``), maps it onto spikestream's layers and neuron (see
:mod:`spikestream.runtime.nir`), writes a model file and prints its layers. A node or
parameter spikestream cannot express is refused with a message naming the node.
"""

from __future__ import annotations

import argparse
import sys

from ..runtime.nir.discretise import CONVENTIONS
from ..runtime.spec import InputSpec


def _ints(text: str, sep: str, n: int, key: str) -> tuple[int, ...]:
    parts = text.split(sep)
    if len(parts) == 1 and n == 2:
        parts = parts * 2
    try:
        v = tuple(int(p) for p in parts)
    except ValueError:
        v = ()
    if len(v) != n or min(v) < 0:
        raise argparse.ArgumentTypeError(f"{key}={text!r}: expected {n} integers "
                                         f"separated by {sep!r}")
    return v


def parse_input(text: str) -> InputSpec:
    """``sensor=WxH[,downsample=F|FXxFY][,crop=X:Y:W:H][,polarity=split|merge]
    [,mode=count|binary]`` (``dvs128`` is ``sensor=128x128``) as an :class:`InputSpec`."""
    kw: dict = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, _, value = item.partition("=")
        if key == "dvs128" and not value:
            kw["sensor_size"] = (128, 128, 2)
        elif key == "sensor":
            kw["sensor_size"] = (*_ints(value, "x", 2, key), 2)
        elif key == "downsample":
            kw["downsample"] = _ints(value, "x", 2, key)
        elif key == "crop":
            kw["crop"] = _ints(value, ":", 4, key)
        elif key in ("polarity", "mode"):
            kw[key] = value
        else:
            raise argparse.ArgumentTypeError(
                f"unknown input key {key!r}; use sensor=WxH, downsample=F, crop=X:Y:W:H, "
                "polarity=split|merge, mode=count|binary")
    if "sensor_size" not in kw:
        raise argparse.ArgumentTypeError("the input needs sensor=WxH (or dvs128)")
    try:
        return InputSpec.from_dict({**kw, "sensor_size": list(kw["sensor_size"]),
                                    **({"crop": list(kw["crop"])} if "crop" in kw else {}),
                                    **({"downsample": list(kw["downsample"])}
                                       if "downsample" in kw else {})})
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-nir", help="turn a NIR graph (snnTorch, Norse, ...) into a "
                                          "spikestream model file")
    p.add_argument("graph", help="the .nir file")
    p.add_argument("--out", "-o", required=True, help="model file to write (.safetensors)")
    p.add_argument("--dt-us", type=int, default=None, metavar="US",
                   help="model step (event window) in µs (default: stored by "
                        "spikestream export-nir, else 1000)")
    p.add_argument("--convention", default="auto", choices=["auto", *CONVENTIONS],
                   help="how the graph's time constants are discretised: "
                        + "; ".join(f"{c.name}: {c.note}" for c in CONVENTIONS.values())
                        + "; auto: what spikestream export-nir recorded, else snntorch "
                          "when its r = tau/1e-4 signature is there, else nir (default)")
    p.add_argument("--nir-dt", type=float, default=None, metavar="S",
                   help="the exporter's time step in seconds when not the convention's "
                        "default (e.g. the dt given to Norse's to_nir and its cells)")
    p.add_argument("--input", type=parse_input, default=None, metavar="SPEC",
                   help="how events map to the graph's input: sensor=WxH[,downsample=F]"
                        "[,crop=X:Y:W:H][,polarity=split|merge][,mode=count|binary]; "
                        "default: a (2, H, W) input is a WxH sensor, polarity split")
    p.add_argument("--classes", default=None,
                   help="comma-separated class names (default: class0, class1, ...)")
    p.add_argument("--name", default=None, help="model name (default: the file name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime.model_file import save_model
    from ..runtime.nir import import_nir

    classes = None if args.classes is None else tuple(
        c.strip() for c in args.classes.split(","))
    model = import_nir(args.graph, dt_us=args.dt_us, convention=args.convention,
                       nir_dt_s=args.nir_dt, input=args.input, classes=classes,
                       name=args.name)
    save_model(args.out, model.spec, model.tensors)
    spec = model.spec
    out = sys.stdout
    info = spec.provenance.get("nir_import", {})
    out.write(f"{args.graph} -> {args.out}: {spec.name!r}, input {spec.input.shape}, "
              f"dt {spec.dt_us} µs, convention {info.get('convention')}\n")
    for layer, shape in zip(spec.layers, spec.shapes(), strict=True):
        n = layer.neuron
        neuron = "" if n is None else (
            f"  {'spiking' if n.spiking else 'non-spiking'} decay {n.decay:g}"
            + (f" threshold {n.threshold:g}" if n.spiking else "")
            + (f" syn_decay {n.syn_decay:g}" if n.syn_decay is not None else ""))
        out.write(f"  {layer.name:<16} {layer.type:<10} -> {shape}{neuron}\n")
    out.write(f"  readout {spec.readout.kind}, {len(spec.classes)} classes\n")
    return 0
