"""Dense torch backend: every layer every step, on CPU or CUDA, batch of streams.

Per-call overhead of small torch ops dominates at DVS sizes (../shared/BENCHMARKING.md),
so each step runs a fixed list of preallocated, in-place ops under
``torch.inference_mode()``: the neuron update is the arithmetic of
:func:`~spikestream.runtime.neurons.neuron_step` (the reference; the tests check
bit-equality with :func:`~spikestream.runtime.functional.network_step`) written with
in-place ops and cheap forms: ``torch.gt(u, thr, out=float_buffer)`` for the spikes,
``u.addcmul_(u, s, value=-1)`` for ``u * (1 - s)``, ``u.sub_(s, alpha=thr)`` for
``u - s * thr``, and 2x2 average pooling as two strided adds instead of
``avg_pool2d``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..functional import f32, linear
from ..input_stage import InputStage
from ..layers import Conv2dSpec, FlattenSpec, LayerSpec, LinearSpec, Pool2dSpec
from ..model_file import Model
from ..neurons import NeuronParams
from .base import StepOutput, check_snapshot, state_shapes

Op = Callable[[torch.Tensor], torch.Tensor]


class _Neuron:
    """In-place neuron update of one layer; its buffers are the layer's state."""

    def __init__(self, p: NeuronParams, shape: tuple[int, ...], dev: torch.device) -> None:
        def z() -> torch.Tensor:
            return torch.zeros(shape, device=dev)

        self.p = p
        self.decay, self.thr = f32(p.decay), f32(p.threshold)
        self.syn = None if p.syn_decay is None else f32(p.syn_decay)
        self.psp = None if p.psp_tau is None else f32(1.0 / p.psp_tau)
        self.state: dict[str, torch.Tensor] = {"u": z()}
        if p.syn_decay is not None:
            self.state["i"] = z()
        if p.psp_tau is not None:
            self.state["a"] = z()
            self.tmp = z()
        if p.fire_once:
            self.state["fired"] = z()
        self.s = z()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p, st = self.p, self.state
        if p.input_relu:
            x = torch.relu(x)
        if self.syn is not None:
            i = st["i"]
            if self.syn != 1.0:
                i.mul_(self.syn)
            x = i.add_(x)
        u = st["u"]
        if p.order == "decay_first" and self.decay != 1.0:
            u.mul_(self.decay)
        u.add_(x)
        if not p.spiking:
            if p.order == "decay_last" and self.decay != 1.0:
                u.mul_(self.decay)
            return u
        s = torch.ge(u, self.thr, out=self.s) if p.fire_ge else torch.gt(u, self.thr, out=self.s)
        if p.fire_once:
            fired = st["fired"]
            s.addcmul_(s, fired, value=-1.0)
            fired.add_(s)
        if p.reset == "zero":
            u.addcmul_(u, s, value=-1.0)
        elif p.reset == "subtract":
            u.sub_(s, alpha=self.thr)
        if p.order == "decay_last" and self.decay != 1.0:
            u.mul_(self.decay)
        if self.psp is not None:
            a, tmp = st["a"], self.tmp
            torch.sub(s, a, out=tmp)
            a.add_(tmp.mul_(self.psp))
            return a
        return s


def _pool2x2_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of non-overlapping 2x2 windows of a contiguous ``(B, C, H, W)``, H and W even."""
    b, c, h, w = x.shape
    v = x.view(b * c * h, w // 2, 2)
    r = torch.add(v[..., 0], v[..., 1]).view(b * c, h // 2, 2, w // 2)
    return torch.add(r[:, :, 0], r[:, :, 1]).view(b, c, h // 2, w // 2)


def _synapse(layer: LayerSpec, in_shape: tuple[int, ...], integral: bool, model: Model,
             dev: torch.device, scale: float = 1.0) -> Op:
    """The layer's synaptic op; ``integral``: its input holds integers (spikes, counts),
    so any summation order is exact and the fast 2x2 pooling may be used (else the
    reference op keeps results bit-equal to :mod:`..functional`). ``scale``: a factor
    folded into the weights (pooling weight), or left out of a pooling op (1.0)."""
    def t(name: str, factor: float = 1.0) -> torch.Tensor | None:
        a = model.tensors.get(name)
        if a is None:
            return None
        return torch.from_numpy(np.array(a) * np.float32(factor)).to(dev)

    if isinstance(layer, Conv2dSpec):
        w, b = t(f"{layer.name}.weight", scale), t(f"{layer.name}.bias")
        stride, pad, groups = layer.stride, layer.padding, layer.groups
        return lambda x: F.conv2d(x, w, b, stride, pad, 1, groups)
    if isinstance(layer, LinearSpec):
        w, b = t(f"{layer.name}.weight", scale), t(f"{layer.name}.bias")
        groups = layer.groups
        return lambda x: linear(x, w, b, groups)
    if isinstance(layer, FlattenSpec):
        return lambda x: x.reshape(x.shape[0], -1)
    assert isinstance(layer, Pool2dSpec)
    k, s = layer.kernel_size, layer.stride
    if layer.op == "max":
        return lambda x: F.max_pool2d(x, k, s)
    wgt = f32(layer.weight) * scale
    if integral and k == s == (2, 2) and in_shape[1] % 2 == 0 and in_shape[2] % 2 == 0:
        pool: Op = _pool2x2_sum
    else:
        def pool(x: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(x, k, s, divisor_override=1)
    if wgt == 1.0:
        return pool
    return lambda x: pool(x).mul_(wgt)


def _pool_folds(layers: tuple[LayerSpec, ...]) -> dict[int, int]:
    """Average pools (without neuron) whose power-of-two weight can move into the next
    conv/linear weights, bit-exactly: ``{pool index: weighted layer index}``."""
    folds = {}
    for i, layer in enumerate(layers):
        if not (isinstance(layer, Pool2dSpec) and layer.op == "avg" and layer.neuron is None):
            continue
        w = f32(layer.weight)
        if w == 1.0 or math.frexp(w)[0] != 0.5:
            continue
        j = i + 1
        while j < len(layers) and isinstance(layers[j], FlattenSpec):
            j += 1
        if j < len(layers) and isinstance(layers[j], Conv2dSpec | LinearSpec):
            folds[i] = j
    return folds


def _integral_out(layer: LayerSpec, integral_in: bool) -> bool:
    """Whether ``layer``'s output holds only integers."""
    n = layer.neuron
    if n is not None:
        return n.spiking and n.psp_tau is None
    if isinstance(layer, FlattenSpec) or (isinstance(layer, Pool2dSpec) and layer.op == "max"):
        return integral_in
    return False


class TorchBackend:
    """Dense torch backend (see the module docstring and :mod:`.base`).

    Args:
        model: the model.
        batch: independent streams stepped together.
        device: ``"cpu"`` (default) or a CUDA device (``"cuda"``, ``"cuda:1"``).
        threads: on CPU, set torch's intra-op threads (a process-wide setting) to this;
            None leaves it. Default 1: at DVS sizes one thread is fastest, and several
            threads on a busy machine make a step up to 30x slower (measured).
    """

    name = "torch"

    def __init__(self, model: Model, batch: int = 1, device: str | None = None,
                 threads: int | None = 1) -> None:
        self.model, self.batch = model, batch
        self.device = torch.device(device or "cpu")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available to this torch build")
        if self.device.type == "cpu" and threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        spec = model.spec
        self.stage = InputStage(spec.input)
        self._host = torch.zeros((batch, *spec.input.shape), dtype=torch.float32,
                                 pin_memory=self.device.type == "cuda")
        self._host_np = self._host.numpy()
        self._ops: list[Op] = []
        self._neurons: dict[str, _Neuron] = {}
        self._steps: list[tuple[str, Op, _Neuron | None]] = []
        shape = spec.input.shape
        integral = True  # input counts are integers
        folds = _pool_folds(spec.layers)
        into = {j: f32(spec.layers[i].weight) for i, j in folds.items()}  # type: ignore[union-attr]
        self._rec_scale = {spec.layers[m].name: into[j] for i, j in folds.items()
                           for m in range(i, j)}
        with torch.inference_mode():
            for k, (layer, out_shape) in enumerate(zip(spec.layers, spec.shapes(), strict=True)):
                neuron = None
                if layer.neuron is not None:
                    neuron = _Neuron(layer.neuron, (batch, *out_shape), self.device)
                    self._neurons[layer.name] = neuron
                scale = 1.0 / into[folds[k]] if k in folds else into.get(k, 1.0)
                syn = _synapse(layer, shape, integral, model, self.device, scale)
                self._steps.append((layer.name, syn, neuron))
                self._ops += [syn] if neuron is None else [syn, neuron]
                shape = out_shape
                integral = _integral_out(layer, integral)

    def prepare(self, events: Sequence[np.ndarray]) -> torch.Tensor:
        """Dense ``(B, C, H, W)`` input on the device from ``B`` windows' events."""
        if len(events) != self.batch:
            raise ValueError(f"expected events of {self.batch} streams, got {len(events)}")
        self.stage.dense_batch(list(events), self._host_np)
        if self.device.type == "cpu":
            return self._host
        return self._host.to(self.device, non_blocking=True)

    def step(self, prepared: torch.Tensor, record: bool = False,
             timed: bool = False) -> StepOutput:
        cuda = self.device.type == "cuda"
        with torch.inference_mode():
            if record or timed:
                x, rec, times = self._step_observed(prepared, record, timed)
            else:
                x, rec, times = prepared, None, None
                for op in self._ops:
                    x = op(x)
            out = x.cpu().numpy().copy() if cuda else x.numpy().copy()
        return StepOutput(out, rec, times)

    def _step_observed(self, x: torch.Tensor, record: bool, timed: bool):
        """The step, recording every layer and/or timing it."""
        rec = {"input": x.cpu().numpy().copy()} if record else None
        times: dict[str, float] | None = {} if timed else None
        cuda = self.device.type == "cuda"
        if cuda and timed:
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        for name, syn, neuron in self._steps:
            x = syn(x)
            if neuron is not None:
                x = neuron(x)
            if times is not None:
                if cuda:
                    torch.cuda.synchronize(self.device)
                t1 = time.perf_counter()
                times[name] = (t1 - t0) * 1e6
                t0 = t1
            if rec is not None:
                rec[name] = x.cpu().numpy().copy()
                if name in self._rec_scale:  # a pooling weight folded into the next layer
                    rec[name] *= self._rec_scale[name]
                if neuron is not None:
                    rec[f"{name}.u"] = neuron.state["u"].cpu().numpy().copy()
        return x, rec, times

    def reset(self) -> None:
        with torch.inference_mode():
            for n in self._neurons.values():
                for t in n.state.values():
                    t.zero_()

    def snapshot(self) -> dict[str, np.ndarray]:
        return {f"{name}.{k}": t.cpu().numpy().copy()
                for name, n in self._neurons.items() for k, t in n.state.items()}

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        check_snapshot(snap, self.model, self.batch)
        with torch.inference_mode():
            for name, n in self._neurons.items():
                for k, t in n.state.items():
                    t.copy_(torch.from_numpy(np.asarray(snap[f"{name}.{k}"], np.float32)))

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return state_shapes(self.model, self.batch)


def create(model: Model, batch: int = 1, device: str | None = None,
           **options) -> TorchBackend:
    """Backend factory looked up by :func:`.base.create_backend` (``options``:
    ``threads``)."""
    return TorchBackend(model, batch=batch, device=device, **options)
