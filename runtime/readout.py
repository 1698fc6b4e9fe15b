"""The readout: output activity of each step -> a smoothed, confident decision.

Per step, the output layer's output ``(n_out,)`` becomes class scores
``(n_classes,)`` by the readout kind (:class:`~.spec.ReadoutSpec`):

- ``"count"``: output spikes (or PSP traces) per class;
- ``"voting"``: the mean of each class's ``votes_per_class`` output neurons (BPSTA;
  laid out by :attr:`~.spec.ReadoutSpec.vote_order`);
- ``"membrane"``: the non-spiking readout's potentials (Lee et al.);
- ``"first_spike"``: 1 for the class(es) whose neuron fired first since the last state
  reset, then held until the next reset (ReL-PSP's time-to-first-spike decision).
  With a non-spiking output layer (``rule_neuron("relpsp_readout")``) the readout
  fires for it: the neurons whose membrane first exceeds their ``threshold`` (``>=``
  with ``fire_ge``) in the same step are told apart by when they crossed inside the
  step, the membrane taken as linear between steps (exact for ReL-PSP's
  rectified-linear PSPs: ``tau = n - (u[n] - threshold) / (u[n] - u[n-1])``, the
  paper's continuous spike time); the earliest wins (exact ties split).

Scores are smoothed exponentially, ``s = a s + (1 - a) x`` with
``a = exp(-dt / tau)`` (``tau_ms = 0``: no smoothing), and so is the input event rate.
The probabilities are the smoothed scores normalised to sum 1 (softmax for
``"membrane"``, whose potentials may be negative); the confidence is the largest.
The decided class is the most probable one, except that a decided class is held
until another's probability exceeds its own by ``switch_margin`` (hysteresis against
flicker between two close classes). The decision is "no gesture" (label None) when
the confidence is below ``min_confidence``, the event rate below
``min_event_rate_hz``, or nothing scored yet. A :class:`Decision` is emitted when the
decided label changes.

State policy (what the engine does with the network state): ``"continuous"`` never
resets; ``"reset_every"`` resets after every ``reset_every_steps`` steps;
``"reset_on_silence"`` resets once when the input has stayed below
``min_event_rate_hz`` (no events at all when that is 0) for ``silence_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .neurons import NeuronParams
from .spec import ModelSpec, ReadoutSpec

NO_GESTURE = "no gesture"


def vote_means(out: Any, n_classes: int, spec: ReadoutSpec) -> Any:
    """``(..., C * V)`` votes (numpy or torch) -> ``(..., C)`` each class's mean vote,
    the votes laid out by ``spec.vote_order``."""
    v = spec.votes_per_class
    lead = tuple(out.shape[:-1])
    if spec.vote_order == "vote":
        return out.reshape(*lead, v, n_classes).mean(-2)
    return out.reshape(*lead, n_classes, v).mean(-1)


@dataclass(frozen=True)
class Decision:
    """The decided class changed at ``t_us`` (end of the step that changed it).

    Attributes:
        t_us: stream time, µs.
        label: class index, or None for "no gesture".
        name: class name or ``"no gesture"``.
        confidence: in ``[0, 1]``.
    """

    t_us: int
    label: int | None
    name: str
    confidence: float


class Prediction(NamedTuple):
    """The readout's view after one step.

    Attributes:
        label: decided class index or None ("no gesture").
        name: its name.
        confidence: largest class probability, ``[0, 1]``.
        probs: ``(n_classes,)`` class probabilities from the smoothed scores.
        event_rate_hz: smoothed input event rate.
        reset_state: the state policy asks the engine to reset the network now.
    """

    label: int | None
    name: str
    confidence: float
    probs: np.ndarray
    event_rate_hz: float
    reset_state: bool = False


class Readout:
    """Stateful readout of one stream (see the module docstring).

    Args:
        spec: the model's readout settings.
        classes: class names.
        dt_us: step length, µs.
        output_neuron: the output layer's neuron (``ModelSpec.layers[-1].neuron``);
            a ``"first_spike"`` readout of a non-spiking one times the threshold
            crossings of its membrane (see the module docstring).
        overrides: fields of :class:`ReadoutSpec` to change (e.g. ``tau_ms=100``).
    """

    def __init__(self, spec: ReadoutSpec, classes: tuple[str, ...], dt_us: int,
                 output_neuron: NeuronParams | None = None, **overrides: Any) -> None:
        self.spec = ReadoutSpec.from_dict({**spec.to_dict(), **overrides}) if overrides \
            else spec
        self.classes = tuple(classes)
        self.dt_us = int(dt_us)
        self._crossing: tuple[float, bool] | None = None
        if self.spec.kind == "first_spike" and output_neuron is not None \
                and not output_neuron.spiking:
            self._crossing = (float(output_neuron.threshold), bool(output_neuron.fire_ge))
        tau_us = self.spec.tau_ms * 1000.0
        self.alpha = math.exp(-self.dt_us / tau_us) if tau_us > 0 else 0.0
        self.reset()

    @classmethod
    def for_model(cls, spec: ModelSpec, **overrides: Any) -> Readout:
        """The readout of a model (its readout settings, classes, step and output neuron)."""
        return cls(spec.readout, spec.classes, spec.dt_us,
                   getattr(spec.layers[-1], "neuron", None), **overrides)

    def reset(self) -> None:
        """Forget everything (smoothed scores, rate, decision, counters)."""
        n = len(self.classes)
        self.smoothed = np.zeros(n, np.float64)
        self.rate_hz = 0.0
        self.label: int | None = None
        self.steps = 0
        self._since_reset = 0
        self._silent_us = 0
        self._silence_reset_done = False
        self._first: np.ndarray | None = None
        self._previous = np.zeros(n * self.spec.votes_per_class, np.float64)

    def class_scores(self, output: np.ndarray) -> np.ndarray:
        """``(n_out,)`` output of one step -> ``(n_classes,)`` float64 scores."""
        out = output.astype(np.float64).reshape(-1)
        kind = self.spec.kind
        if kind == "voting":
            return vote_means(out, len(self.classes), self.spec)
        if kind == "first_spike":
            if self._first is None:
                self._first = self._first_of(out)
            return self._first if self._first is not None else np.zeros(len(self.classes))
        return out

    def _first_of(self, out: np.ndarray) -> np.ndarray | None:
        """The first-spike scores if some output neuron fired (or crossed) this step."""
        if self._crossing is None:
            fired = (out > 0).astype(np.float64)
            return fired / fired.sum() if fired.any() else None
        threshold, ge = self._crossing
        previous, self._previous = self._previous, out.copy()
        crossed = out >= threshold if ge else out > threshold
        if not crossed.any():
            return None
        # how long before the step's end each crossed, in steps (below 1: nobody had
        # crossed at the step before, so previous <= threshold < out where crossed)
        rise = np.where(crossed, out - previous, 1.0)
        lead = np.where(crossed, (out - threshold) / rise, -np.inf)
        first = (lead == lead.max()).astype(np.float64)
        return first / first.sum()

    def update(self, output: np.ndarray, n_events: int, t_end_us: int
               ) -> tuple[np.ndarray, Prediction, Decision | None]:
        """Take one step's output.

        Args:
            output: ``(n_out,)`` the output layer's output this step.
            n_events: input events in the step's window.
            t_end_us: end of the step's window, µs.

        Returns:
            ``(scores, prediction, decision)``: this step's class scores, the
            prediction after it, and a :class:`Decision` if the label changed.
        """
        scores = self.class_scores(output)
        a = self.alpha
        sm = self.smoothed
        if a:
            sm *= a
            sm += (1.0 - a) * scores
        else:
            sm[:] = scores
        rate = n_events * 1e6 / self.dt_us
        self.rate_hz = a * self.rate_hz + (1.0 - a) * rate
        self.steps += 1
        probs, label, conf = self._decide()
        s = self.spec
        held = self.label
        if s.switch_margin > 0 and label is not None and held is not None and \
                label != held and probs[label] - probs[held] < s.switch_margin:
            label, conf = held, float(probs[held])
        if conf < s.min_confidence or self.rate_hz < s.min_event_rate_hz:
            label = None
        reset = self._policy(rate)
        name = NO_GESTURE if label is None else self.classes[label]
        decision = None
        if label != self.label:
            decision = Decision(int(t_end_us), label, name, conf)
            self.label = label
        return scores, Prediction(label, name, conf, probs, self.rate_hz, reset), decision

    def _decide(self) -> tuple[np.ndarray, int | None, float]:
        """Probabilities, best class (None when nothing scored) and its probability."""
        x = self.smoothed
        if self.spec.kind == "membrane":
            e = np.exp(x - x.max())
            probs = e / e.sum()
        else:
            pos = np.maximum(x, 0.0)
            total = float(pos.sum())
            if total <= 0.0:
                return pos, None, 0.0
            probs = pos / total
        k = int(probs.argmax())
        return probs, k, float(probs[k])

    def _policy(self, rate_hz: float) -> bool:
        """Whether the network state should be reset after this step."""
        s = self.spec
        self._since_reset += 1
        reset = False
        if s.state_policy == "reset_every":
            reset = self._since_reset >= s.reset_every_steps
        elif s.state_policy == "reset_on_silence":
            silent = rate_hz < s.min_event_rate_hz if s.min_event_rate_hz > 0 else rate_hz == 0
            if silent:
                self._silent_us += self.dt_us
                if not self._silence_reset_done and self._silent_us >= s.silence_ms * 1000:
                    reset = self._silence_reset_done = True
            else:
                self._silent_us = 0
                self._silence_reset_done = False
        if reset:
            self.state_was_reset()
        return reset

    def get_state(self) -> dict[str, np.ndarray]:
        """The readout's state as arrays (``smoothed``, ``first``, ``previous``: the
        last output a first-crossing readout saw, ``scalars``)."""
        n = len(self.classes)
        return {
            "smoothed": self.smoothed.copy(),
            "first": np.full(n, np.nan) if self._first is None else self._first.copy(),
            "previous": self._previous.copy(),
            "scalars": np.array([self.rate_hz, -1 if self.label is None else self.label,
                                 self.steps, self._since_reset, self._silent_us,
                                 self._silence_reset_done], np.float64),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`get_state`."""
        first = np.asarray(state["first"], np.float64)
        self.smoothed = np.array(state["smoothed"], np.float64)
        self._first = None if np.isnan(first).all() else first.copy()
        self._previous = np.array(state["previous"], np.float64)
        rate, label, steps, since, silent, done = (float(v) for v in state["scalars"])
        self.rate_hz, self.label = rate, None if label < 0 else int(label)
        self.steps, self._since_reset, self._silent_us = int(steps), int(since), int(silent)
        self._silence_reset_done = bool(done)

    def state_was_reset(self) -> None:
        """The network state was reset (by the policy or by the user)."""
        self._since_reset = 0
        self._first = None
        self._previous[:] = 0.0

