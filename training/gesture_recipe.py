"""The recipe of ``models/gesture-synthetic``: STBP on clips of continuous recordings.

    python -m spikestream.training.gesture_recipe [--out models/gesture-synthetic.safetensors]
                                                  [--max-minutes 16] [--threads 1]
                                                  [--set FIELD=VALUE ...]

1. Renders (once, cached: :mod:`.synthetic_gestures`) 112 training-split recordings
   of the synthetic DVS128, 11 gestures each with pauses, each recording a different
   person and background; the last ``n_val`` (16) of them are held out to choose the
   epoch and the readout settings (4, tried first, were far too few: medians over 44
   gestures swing by 30-50 ms). The test recordings (:mod:`.gesture_report`) come
   from other seeds.
2. Bins every recording whole on the stream grid (:mod:`.gesture_clips`: 128x128
   downsampled 4x to 2x32x32, ``dt`` 10 ms), and every epoch cuts fresh clips of
   ``T`` steps at random offsets (half of them ending in a gesture's first 500 ms),
   half of them mirrored left-right (labels mapped to the mirror classes) and all
   shifted by up to 2 input pixels.
3. Trains STBP (Wu et al. 2018; :mod:`.stbp`; Adam, cosine learning-rate decay) with
   a per-step loss: the output spikes are smoothed as the runtime's readout smooths
   them (exponentially, ``tau_ms``) and, at every step after the burn-in, pulled to the
   one-hot class of the gesture under way (mean squared error, the paper's loss on
   rates), or to zero in a pause. So the network learns to switch as soon as a new
   gesture shows and to fall silent between gestures, with its state carried across
   the stream as the engine carries it.
4. Exports the best epoch (clip accuracy on the validation recordings) with a
   streaming readout (state never reset) whose smoothing and "no gesture" gates are
   chosen on the validation recordings streamed through the Engine
   (:func:`.gesture_streaming.calibrate_readout`). The card
   (``models/gesture-synthetic.md``) is written by :mod:`.gesture_report` from the
   measurements on the held-out test recordings.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime.layers import Conv2dSpec, FlattenSpec, LinearSpec, Pool2dSpec
from ..runtime.model_file import load_model
from ..runtime.spec import InputSpec, ModelSpec, ReadoutSpec
from ..streams.gestures import GESTURE_CLASSES
from ..streams.synthetic.gestures import MIRRORED_LABEL
from .export import export_model, make_provenance
from .gesture_clips import PAUSE, ClipSpec, GestureClips, StreamFrames, bin_stream, cut_clips
from .gesture_streaming import calibrate_readout
from .network import SpikingNet
from .rules import Rule, get_rule
from .synthetic_gestures import SyntheticGestureConfig, load_events, synthetic_gesture_dataset

MODEL_NAME = "gesture-synthetic"


@dataclass(frozen=True)
class Recipe:
    """Every setting of the recipe (recorded in the model's provenance).

    ``decays``: per-layer membrane decays of conv1, conv2 and fc (empty: ``decay`` for
    all), e.g. ``(0.8, 0.9, 0.95)`` for a longer memory deeper in the network."""

    data: SyntheticGestureConfig = field(
        default_factory=lambda: SyntheticGestureConfig(n_train=112))
    n_val: int = 16
    dt_us: int = 10_000
    downsample: int = 4
    channels: tuple[int, int] = (12, 24)
    decay: float = 0.8
    decays: tuple[float, ...] = ()
    threshold: float = 0.5
    lr: float = 2e-3
    n_steps: int = 50
    burn_in: int = 20
    per_segment: int = 3
    onset_fraction: float = 0.5
    onset_ms: float = 500.0
    pause_weight: float = 0.5
    onset_weight: float = 0.0
    onset_lo_ms: float = 20.0
    onset_hi_ms: float = 150.0
    loss: str = "mse"
    ce_scale: float = 10.0
    mirror: bool = True
    shift_px: int = 2
    calibrate: bool = True
    tau_ms: float = 30.0
    min_event_rate_hz: float = 5000.0
    epochs: int = 50
    cosine: bool = True
    batch_size: int = 32
    seed: int = 0
    max_minutes: float = 16.0
    init_model: str = ""

    def input_spec(self) -> InputSpec:
        return InputSpec(self.data.sensor_size, downsample=(self.downsample,) * 2,
                         polarity="split", mode="count")

    def clip_spec(self, eval_clips: bool = False) -> ClipSpec:
        """Training clips, or evaluation clips (ends uniform in the segments)."""
        return ClipSpec(self.n_steps, self.dt_us, self.burn_in, self.per_segment,
                        0.0 if eval_clips else self.onset_fraction, self.onset_ms)

    def readout(self) -> ReadoutSpec:
        return ReadoutSpec(kind="count", tau_ms=self.tau_ms,
                           min_event_rate_hz=self.min_event_rate_hz,
                           state_policy="continuous")


def network_spec(recipe: Recipe, rule: Rule) -> ModelSpec:
    """2x32x32 -> conv 5x5 stride 2 (c1x16x16) -> avg pool 2 -> conv 3x3 (c2x8x8) -> fc
    11: STBP's conv/pool/fc network (biases, average pooling of spikes without a
    neuron), with a strided first conv to keep each step cheap."""
    c1, c2 = recipe.channels
    n = rule.hidden_neuron()
    decays = recipe.decays or (n.decay,) * 3
    if len(decays) != 3 or not all(0.0 <= d < 1.0 for d in decays):
        raise ValueError(f"decays: three values in [0, 1) (conv1, conv2, fc), got {decays}")
    n1, n2, n3 = (replace(n, decay=float(d)) for d in decays)
    c, h, w = recipe.input_spec().shape
    layers = (
        Conv2dSpec("conv1", c, c1, (5, 5), (2, 2), (2, 2), True, n1),
        Pool2dSpec("pool1", "avg", (2, 2), (2, 2)),
        Conv2dSpec("conv2", c1, c2, (3, 3), (1, 1), (1, 1), True, n2),
        FlattenSpec("flat"),
        LinearSpec("fc", c2 * (h // 4) * (w // 4), len(GESTURE_CLASSES), True, n3),
    )
    return ModelSpec(name=MODEL_NAME, input=recipe.input_spec(), dt_us=recipe.dt_us,
                     layers=layers, classes=GESTURE_CLASSES, readout=recipe.readout())


def bin_recordings(recipe: Recipe, split: str, log=print) -> list[StreamFrames]:
    """The recordings of ``split`` binned whole (see :func:`.gesture_clips.bin_stream`)."""
    written = synthetic_gesture_dataset(recipe.data, log=log)[split]
    inp = recipe.input_spec()
    return [bin_stream(load_events(w), w.segments, inp, recipe.dt_us, w.duration_us,
                       w.events_path.stem) for w in written]


def smoothed(out: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(T, B, n)`` outputs smoothed as the runtime's readout does it, from zero:
    ``s[t] = alpha s[t-1] + (1 - alpha) out[t]``."""
    s = torch.zeros_like(out[0])
    steps = []
    for o in out.unbind(0):
        s = alpha * s + (1.0 - alpha) * o
        steps.append(s)
    return torch.stack(steps)


def step_loss(sm: torch.Tensor, step_labels: torch.Tensor, mask: torch.Tensor,
              pause_weight: float, loss: str = "mse", ce_scale: float = 10.0,
              weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-step loss of smoothed rates ``(T, B, n)`` over the ``(T, B)`` steps in
    ``mask``.

    ``"mse"``: squared error to one-hot targets (zero in a pause, weighted
    ``pause_weight``), the paper's loss on rates. ``"ce"``: cross-entropy of
    ``ce_scale * sm`` (the smoothed rate as logits) on the gesture steps only; in a
    pause the runtime's event-rate gate decides "no gesture", so pauses carry no loss.
    """
    n = sm.shape[-1]
    if loss == "ce":
        keep = mask & (step_labels != PAUSE)
        if not keep.any():
            return sm.sum() * 0.0
        if weight is None:
            return F.cross_entropy(ce_scale * sm[keep], step_labels[keep])
        ce = F.cross_entropy(ce_scale * sm[keep], step_labels[keep], reduction="none")
        return (ce * weight[keep]).sum() / weight[keep].sum()
    target = F.one_hot(step_labels.clamp(min=0), n).to(sm.dtype)
    target[step_labels == PAUSE] = 0.0
    w = mask.to(sm.dtype) * torch.where(step_labels == PAUSE, pause_weight, 1.0)
    if weight is not None:
        w = w * weight
    err = ((sm - target) ** 2).mean(-1)
    return (err * w).sum() / w.sum().clamp(min=1.0)


def onset_weights(age_ms: torch.Tensor, onset_weight: float, lo_ms: float, hi_ms: float
                  ) -> torch.Tensor:
    """``(T, B)`` per-step loss weights: ``1 + onset_weight`` for steps whose end lies
    ``lo_ms`` to ``hi_ms`` into a gesture (``age_ms``, -1 in pauses), 1 elsewhere.
    Rewards being right soon after a gesture starts (the onset latency)."""
    early = (age_ms >= lo_ms) & (age_ms <= hi_ms)
    return 1.0 + onset_weight * early.to(torch.float32)


def _tensors(clips: GestureClips, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    x = torch.from_numpy(clips.data.frames[idx].astype(np.float32)).transpose(0, 1)
    y = torch.from_numpy(clips.step_labels[idx]).T.contiguous()
    m = torch.from_numpy(clips.loss_mask[idx]).T.contiguous()
    return x.contiguous(), y, m


def _ages(clips: GestureClips, idx: np.ndarray) -> torch.Tensor:
    """``(T, B)`` ms into the gesture under way at each step (-1 in pauses)."""
    return torch.from_numpy(clips.step_age_ms[idx]).T.contiguous()


def augment(x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, mirror: bool,
            shift_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch of clips, each clip as a whole.

    Args:
        x: ``(T, B, C, H, W)`` input frames.
        y: ``(T, B)`` step labels.
        rng: the random source.
        mirror: flip half of the clips left-right, their labels mapped to the mirror
            classes (:data:`~spikestream.streams.synthetic.gestures.MIRRORED_LABEL`:
            right and left swap, rotations reverse).
        shift_px: shift each clip by up to this many input pixels in x and y (zeros
            shifted in), as if the person stood elsewhere.

    Returns:
        new ``(x, y)``.
    """
    x, y = x.clone(), y.clone()
    lut = torch.tensor(MIRRORED_LABEL, dtype=y.dtype)
    h, w = x.shape[-2:]
    for b in range(x.shape[1]):
        if mirror and rng.random() < 0.5:
            x[:, b] = x[:, b].flip(-1)
            g = y[:, b] != PAUSE
            y[g, b] = lut[y[g, b]]
        if shift_px:
            dy, dx = (int(v) for v in rng.integers(-shift_px, shift_px + 1, 2))
            xb = torch.roll(x[:, b], (dy, dx), dims=(-2, -1))
            if dy > 0:
                xb[..., :dy, :] = 0
            elif dy < 0:
                xb[..., h + dy:, :] = 0
            if dx > 0:
                xb[..., :dx] = 0
            elif dx < 0:
                xb[..., w + dx:] = 0
            x[:, b] = xb
    return x, y


def clip_accuracy(net: SpikingNet, clips: GestureClips, alpha: float,
                  batch_size: int = 64) -> tuple[float, np.ndarray]:
    """Accuracy of the smoothed output's argmax at each clip's last step, and the
    ``(N,)`` predictions (the offline accuracy on clips)."""
    preds = []
    with torch.no_grad():
        for a in range(0, len(clips), batch_size):
            idx = np.arange(a, min(a + batch_size, len(clips)))
            x, _, _ = _tensors(clips, idx)
            preds.append(smoothed(net(x), alpha)[-1].argmax(-1).numpy())
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    acc = float((pred == clips.data.labels).mean()) if len(pred) else 0.0
    return acc, pred


def train_recipe(recipe: Recipe, out: str | Path, log=print) -> dict:
    """Train, export the best epoch to ``out`` and return the training facts."""
    torch.manual_seed(recipe.seed)
    train_all = bin_recordings(recipe, "train", log)
    train_streams, val_streams = train_all[:-recipe.n_val], train_all[-recipe.n_val:]
    inp, classes = recipe.input_spec(), GESTURE_CLASSES
    rule = get_rule("stbp", decay=recipe.decay, threshold=recipe.threshold, lr=recipe.lr,
                    loss_name=recipe.loss, init_gain=2.0)
    spec = network_spec(recipe, rule)
    if recipe.init_model:  # fine-tune a trained model of the same network
        init = load_model(recipe.init_model)
        if init.spec.tensor_shapes() != spec.tensor_shapes():
            raise ValueError(f"{recipe.init_model}: not the recipe's network "
                             f"(channels {recipe.channels})")
        net = SpikingNet(spec, rule, {k: torch.from_numpy(v.copy())
                                      for k, v in init.tensors.items()})
    else:
        net = SpikingNet(spec, rule, seed=recipe.seed)
    opt = rule.optimizer(list(net.parameters()))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe.epochs) if recipe.cosine \
        else None
    alpha = math.exp(-recipe.dt_us / (recipe.tau_ms * 1000))
    val = cut_clips(val_streams, recipe.clip_spec(eval_clips=True), recipe.seed + 999, inp,
                    classes)
    best = (-1.0, 0, {k: v.detach().clone() for k, v in net.state_dict().items()})
    t_begin = time.perf_counter()
    history = []
    stopped = "epochs"
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        clips = cut_clips(train_streams, recipe.clip_spec(), recipe.seed * 1000 + epoch, inp,
                          classes)
        rng = np.random.default_rng([recipe.seed, epoch])
        order = rng.permutation(len(clips))
        loss_sum, n_b = 0.0, 0
        for a in range(0, len(order), recipe.batch_size):
            idx = order[a:a + recipe.batch_size]
            x, y, m = _tensors(clips, idx)
            x, y = augment(x, y, rng, recipe.mirror, recipe.shift_px)
            w = onset_weights(_ages(clips, idx), recipe.onset_weight, recipe.onset_lo_ms,
                              recipe.onset_hi_ms) if recipe.onset_weight else None
            loss = step_loss(smoothed(net(x), alpha), y, m, recipe.pause_weight,
                             recipe.loss, recipe.ce_scale, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            n_b += 1
        if sched is not None:
            sched.step()
        acc, _ = clip_accuracy(net, val, alpha)
        secs = time.perf_counter() - t_begin
        history.append({"epoch": epoch, "loss": round(loss_sum / max(n_b, 1), 5),
                        "val_clip_accuracy": round(acc, 4),
                        "seconds": round(time.perf_counter() - t0, 1)})
        log(f"epoch {epoch}/{recipe.epochs}  loss {loss_sum / max(n_b, 1):.5f}  "
            f"val clips {100 * acc:.1f}%  {len(clips)} clips  {secs:.0f} s")
        if acc >= best[0]:
            best = (acc, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
        if secs > 60 * recipe.max_minutes:
            stopped = "time budget"
            break
    net.load_state_dict(best[2])
    seconds = time.perf_counter() - t_begin
    facts = {"epochs": len(history), "best_epoch": best[1], "batch_size": recipe.batch_size,
             "seed": recipe.seed, "arch": {"channels": list(recipe.channels),
                                                       "layers": [x.name for x in spec.layers]},
             "seconds": round(seconds, 1),
             "stopped": stopped, "threads": torch.get_num_threads(), "history": history}
    data = {"source": "synthetic-gestures", "format": "synthetic continuous recordings",
            "config": recipe.data.to_dict(), "n_train_recordings": len(train_streams),
            "n_val_recordings": len(val_streams), "n_val": len(val),
            "clips": {k: v for k, v in asdict(recipe).items() if k in (
                "n_steps", "burn_in", "per_segment", "onset_fraction", "onset_ms",
                "pause_weight", "onset_weight", "onset_lo_ms", "onset_hi_ms", "loss",
                "ce_scale", "mirror", "shift_px")},
            "dt_us": recipe.dt_us, "n_steps": recipe.n_steps}
    prov = make_provenance(rule=rule, data=data, training=facts,
                           validation_accuracy=best[0], n_steps=recipe.n_steps)
    prov["recipe"] = {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in asdict(recipe).items() if k != "data"}
    path = export_model(out, net, prov)
    log(f"wrote {path} ({path.stat().st_size:,} bytes); best epoch {best[1]}, val clips "
        f"{100 * best[0]:.1f}%, {seconds:.0f} s")
    if recipe.calibrate and recipe.n_val:
        log("choosing the readout settings on the validation recordings (Engine, numba)")
        val_written = synthetic_gesture_dataset(recipe.data)["train"][-recipe.n_val:]
        facts["readout_calibration"] = calibrate_readout(path, val_written, log=log)
        log(f"readout: {facts['readout_calibration']}")
    return facts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=f"models/{MODEL_NAME}.safetensors")
    ap.add_argument("--max-minutes", type=float, default=Recipe.max_minutes)
    ap.add_argument("--epochs", type=int, default=Recipe.epochs)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a Recipe field (e.g. --set lr=0.003 --set channels=8,16)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = Recipe(max_minutes=args.max_minutes, epochs=args.epochs)
    train_recipe(override(recipe, args.set), args.out)
    return 0


def override(recipe: Recipe, items: list[str]) -> Recipe:
    """``recipe`` with ``FIELD=VALUE`` items applied (tuples as comma-separated;
    ``data.FIELD`` sets a field of the synthetic data, e.g. ``data.n_train=96``)."""
    changes: dict = {}
    data: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        target, fields, name = changes, Recipe.__dataclass_fields__, key
        if key.startswith("data."):
            target, fields, name = data, SyntheticGestureConfig.__dataclass_fields__, key[5:]
        if name not in fields or key == "data":
            raise SystemExit(f"--set: unknown recipe field {key!r}")
        cur = getattr(recipe.data if target is data else recipe, name)
        if isinstance(cur, tuple):  # an empty default tuple holds floats (decays)
            kind = type(cur[0]) if cur else float
            target[name] = tuple(kind(v) for v in value.split(","))
        elif isinstance(cur, bool):
            target[name] = _parse_bool(key, value)
        else:
            target[name] = type(cur)(value)
    if data:
        changes["data"] = replace(recipe.data, **data)
    return replace(recipe, **changes)


def _parse_bool(key: str, value: str) -> bool:
    """``value`` of a boolean ``--set`` item (``bool("false")`` would be True)."""
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if value.lower() not in words:
        raise SystemExit(f"--set {key}: expected true or false, got {value!r}")
    return words[value.lower()]


if __name__ == "__main__":
    raise SystemExit(main())
