"""Model cards: a short Markdown page beside each model file, from its provenance.

``spikestream train`` writes ``<out>.md`` next to ``<out>.safetensors``: the rule
and its paper, the architecture (layers and neurons), ``T`` and ``dt``, the input
stage, the data and its train/validation/test split, the validation accuracy (which
chose the epoch) and the test accuracy (measured once, after training, through the
runtime's Engine on samples never seen), the training time and the commands that
made and evaluate it.
"""

from __future__ import annotations

from typing import Any

from ..runtime.layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec
from ..runtime.spec import ModelSpec


def _layer_line(layer: Any, shape: tuple[int, ...]) -> str:
    out = "x".join(map(str, shape))
    grouped = f", {layer.groups} groups" if getattr(layer, "groups", 1) != 1 else ""
    if isinstance(layer, Conv2dSpec):
        what = (f"conv {layer.in_channels}->{layer.out_channels} "
                f"{layer.kernel_size[0]}x{layer.kernel_size[1]}, pad {layer.padding[0]}"
                + grouped + (", bias" if layer.bias else ""))
    elif isinstance(layer, LinearSpec):
        what = (f"fc {layer.in_features}->{layer.out_features}"
                + grouped + (", bias" if layer.bias else ""))
    elif isinstance(layer, Pool2dSpec):
        what = (f"{layer.op} pool {layer.kernel_size[0]}x{layer.kernel_size[1]}"
                + (f", weight {layer.weight:g}" if layer.op == "avg" else ""))
    elif isinstance(layer, FlattenSpec):
        what = "flatten"
    else:
        what = layer.type
    n = getattr(layer, "neuron", None)
    if n is not None:
        bits = [f"decay {n.decay:g}"]
        if n.spiking:
            bits += [f"threshold {n.threshold:g}", f"reset {n.reset}"]
        if n.syn_decay is not None:
            bits.append(f"synaptic decay {n.syn_decay:g}")
        if n.psp_tau is not None:
            bits.append(f"PSP output tau {n.psp_tau:g}")
        kind = "LIF" if n.spiking else "non-spiking integrator"
        what += f" + {kind} (" + ", ".join(bits) + ")"
    return f"| `{layer.name}` | {what} | {out} |"


READOUT_WORDS = {
    "count": "the class with the most output spikes",
    "voting": "the class whose voting neurons fire most",
    "membrane": "the class with the highest readout potential",
    "first_spike": "the class whose neuron fires first",
}
"""How each readout kind decides, for the card."""

CROSSING_WORDS = ("the class whose output membrane first crosses the threshold "
                  "{threshold:g} (continuous time inside the step)")
"""A ``"first_spike"`` readout of a non-spiking output layer (ReL-PSP)."""


def readout_words(spec: ModelSpec) -> str:
    """How the model's readout decides, for the card."""
    n = getattr(spec.layers[-1], "neuron", None)
    if spec.readout.kind == "first_spike" and n is not None and not n.spiking:
        return CROSSING_WORDS.format(threshold=n.threshold)
    return READOUT_WORDS[spec.readout.kind]


def layers_table(spec: ModelSpec) -> list[str]:
    """The card's "Layers" section (heading and markdown table), as lines."""
    return ["## Layers", "", "| layer | what | output |", "|---|---|---|",
            *(_layer_line(layer, shape)
              for layer, shape in zip(spec.layers, spec.shapes(), strict=True))]


def render_card(spec: ModelSpec, size_bytes: int, command: str | None = None,
                eval_command: str | None = None) -> str:
    """The Markdown card of a model (see the module docstring)."""
    p = spec.provenance
    data, tr = p.get("data", {}), p.get("training", {})
    acc = p.get("validation_accuracy")
    test_acc = p.get("test_accuracy")
    n_test = data.get("n_test", 0) or 0
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
        *([f"| test accuracy | **{100 * test_acc:.1f} %** on {n_test} test samples never "
           f"seen in training (runtime Engine) |"] if test_acc is not None else []),
        f"| validation accuracy | **{100 * acc:.1f} %** on {data.get('n_val', '?')} held-out "
        f"recordings |" if acc is not None else "| validation accuracy | (none held out) |",
        f"| T, dt | {n_steps} steps of {spec.dt_us / 1000:g} ms{span} |",
        f"| input | sensor {inp.sensor_size[0]}x{inp.sensor_size[1]}, downsample "
        f"{inp.downsample[0]}x{inp.downsample[1]}, polarity {inp.polarity}, {inp.mode} "
        f"-> {'x'.join(map(str, inp.shape))} |",
        f"| data | `{data.get('source', '?')}`: {data.get('n_train', '?')} train / "
        f"{data.get('n_val', '?')} val / {n_test} test (stratified: "
        f"{data.get('val_fraction', '?')} and {data.get('test_fraction', 0)} of each class, "
        f"split seed {data.get('split_seed', '?')}); {_augment(data)} |",
        f"| training | {tr.get('epochs', '?')} epochs (best {tr.get('best_epoch', '?')}, "
        f"stopped by {tr.get('stopped', '?')}), batch {tr.get('batch_size', '?')}, "
        f"{tr.get('seconds', '?')} s on {tr.get('threads', '?')} CPU threads |",
        f"| readout | {spec.readout.kind}: {readout_words(spec)} |",
        f"| file | {size_bytes:,} bytes, {sum(_n(s) for s in spec.tensor_shapes().values()):,} "
        f"weights |",
        "",
    ]
    lines += layers_table(spec)
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
    if test_acc is not None:
        lines += ["", "The epoch was chosen on the validation part; the test part was never "
                  "seen in training nor in that choice, and its accuracy was measured once, "
                  "on the exported weights through the runtime's Engine "
                  "(`spikestream eval --split test` repeats it)."]
    return "\n".join(lines) + "\n"


def _augment(data: dict[str, Any]) -> str:
    """``spatial jitter 2 px, drop events 0.1, time jitter 1000 µs`` (what was on)."""
    bits = [f"spatial jitter {data.get('jitter_px', 0)} px"]
    if data.get("drop_events"):
        bits.append(f"drop events p={data['drop_events']:g}")
    if data.get("time_jitter_us"):
        bits.append(f"time jitter {data['time_jitter_us']:g} µs")
    return ", ".join(bits)


def _n(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
