"""Model cards: a short Markdown page beside each model file, from its provenance.

``spikestream train`` writes ``<out>.md`` next to ``<out>.safetensors``: the rule
and its paper, the architecture (layers and neurons), ``T`` and ``dt``, the input
stage, the data and split, the validation accuracy, the training time and the
commands that made and evaluate it.
"""

from __future__ import annotations

from typing import Any

from ..runtime.layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec
from ..runtime.spec import ModelSpec


def _layer_line(layer: Any, shape: tuple[int, ...]) -> str:
    out = "x".join(map(str, shape))
    if isinstance(layer, Conv2dSpec):
        what = (f"conv {layer.in_channels}->{layer.out_channels} "
                f"{layer.kernel_size[0]}x{layer.kernel_size[1]}, pad {layer.padding[0]}"
                + (", bias" if layer.bias else ""))
    elif isinstance(layer, LinearSpec):
        what = f"fc {layer.in_features}->{layer.out_features}" + (", bias" if layer.bias else "")
    elif isinstance(layer, Pool2dSpec):
        what = (f"{layer.op} pool {layer.kernel_size[0]}x{layer.kernel_size[1]}"
                + (f", weight {layer.weight:g}" if layer.op == "avg" else ""))
    elif isinstance(layer, FlattenSpec):
        what = "flatten"
    else:
        what = layer.type
    n = getattr(layer, "neuron", None)
    if n is not None:
        bits = [f"decay {n.decay:g}", f"threshold {n.threshold:g}", f"reset {n.reset}"]
        if n.syn_decay is not None:
            bits.append(f"synaptic decay {n.syn_decay:g}")
        if n.psp_tau is not None:
            bits.append(f"PSP output tau {n.psp_tau:g}")
        what += " + LIF (" + ", ".join(bits) + ")"
    return f"| `{layer.name}` | {what} | {out} |"


def render_card(spec: ModelSpec, size_bytes: int, command: str | None = None,
                eval_command: str | None = None) -> str:
    """The Markdown card of a model (see the module docstring)."""
    p = spec.provenance
    data, tr = p.get("data", {}), p.get("training", {})
    acc = p.get("validation_accuracy")
    inp = spec.input
    n_steps = p.get("n_steps")
    span = "" if n_steps is None else f" ({n_steps * spec.dt_us / 1000:g} ms per sample)"
    lines = [
        f"# {spec.name}",
        "",
        f"Rule: **{p.get('rule', '?')}** ({p.get('paper', '')}).",
        "",
        "| | |",
        "|---|---|",
        f"| validation accuracy | **{100 * acc:.1f} %** on {data.get('n_val', '?')} held-out "
        f"recordings |" if acc is not None else "| validation accuracy | (none held out) |",
        f"| T, dt | {n_steps} steps of {spec.dt_us / 1000:g} ms{span} |",
        f"| input | sensor {inp.sensor_size[0]}x{inp.sensor_size[1]}, downsample "
        f"{inp.downsample[0]}x{inp.downsample[1]}, polarity {inp.polarity}, {inp.mode} "
        f"-> {'x'.join(map(str, inp.shape))} |",
        f"| data | `{data.get('source', '?')}`: {data.get('n_train', '?')} training, "
        f"{data.get('n_val', '?')} held out (stratified, {data.get('val_fraction', '?')} "
        f"of each class, seed {data.get('split_seed', '?')}); spatial jitter "
        f"{data.get('jitter_px', 0)} px |",
        f"| training | {tr.get('epochs', '?')} epochs (best {tr.get('best_epoch', '?')}, "
        f"stopped by {tr.get('stopped', '?')}), batch {tr.get('batch_size', '?')}, "
        f"{tr.get('seconds', '?')} s on {tr.get('threads', '?')} CPU threads |",
        f"| readout | {spec.readout.kind}: the class with the largest summed output |",
        f"| file | {size_bytes:,} bytes, {sum(_n(s) for s in spec.tensor_shapes().values()):,} "
        f"weights |",
        "",
        "## Layers",
        "",
        "| layer | what | output |",
        "|---|---|---|",
    ]
    lines += [_layer_line(layer, shape) for layer, shape in zip(spec.layers, spec.shapes(),
                                                                 strict=True)]
    settings = p.get("rule_settings", {})
    if settings:
        lines += ["", "## Rule settings", "", ", ".join(f"`{k}={v}`" for k, v in
                                                        settings.items())]
    if command or eval_command:
        lines += ["", "## Reproduce", "", "```"]
        lines += [c for c in (command, eval_command) if c]
        lines += ["```"]
    lines += ["", "The validation accuracy is that of the epoch kept (the best on the "
              "held-out recordings); `spikestream eval --split val` measures it again through "
              "the runtime's Engine."]
    return "\n".join(lines) + "\n"


def _n(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
