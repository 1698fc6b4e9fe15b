"""The runtime: model file, neuron step math, input stage, engine, backends, readout.

Nothing here imports Qt, numba or ``training``: backends are imported by name when
an :class:`Engine` asks for one (see :mod:`.backends.base`).
"""

from .backends.base import BACKENDS, StepOutput, create_backend
from .engine import Engine, StepResult
from .errors import BackendError, ModelError
from .input_stage import InputStage
from .layers import Conv2dSpec, FlattenSpec, LayerSpec, LinearSpec, Pool2dSpec
from .model_file import SPEC_KEY, Model, load_model, save_model
from .neurons import (
    RULE_NEURONS,
    NeuronParams,
    NeuronState,
    heaviside,
    neuron_init,
    neuron_step,
    rule_neuron,
)
from .profiler import Profiler
from .readout import NO_GESTURE, Decision, Prediction, Readout
from .spec import SPEC_VERSION, InputSpec, ModelSpec, ReadoutSpec

__all__ = [
    "BACKENDS",
    "NO_GESTURE",
    "RULE_NEURONS",
    "SPEC_KEY",
    "SPEC_VERSION",
    "BackendError",
    "Conv2dSpec",
    "Decision",
    "Engine",
    "FlattenSpec",
    "InputSpec",
    "InputStage",
    "LayerSpec",
    "LinearSpec",
    "Model",
    "ModelError",
    "ModelSpec",
    "NeuronParams",
    "NeuronState",
    "Pool2dSpec",
    "Prediction",
    "Profiler",
    "Readout",
    "ReadoutSpec",
    "StepOutput",
    "StepResult",
    "create_backend",
    "heaviside",
    "load_model",
    "neuron_init",
    "neuron_step",
    "rule_neuron",
    "save_model",
]
