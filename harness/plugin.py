"""THE extension point: what a model plugin is. Read this file first.

A plugin only *describes* a model. The harness owns everything else: it imports Keras
(in a fresh worker process, after choosing the backend), calls ``build``, compiles with
``training``, trains, times and evaluates. Hence two rules for plugin modules:

* never import keras (or a backend) at module level: import it inside ``build`` and
  inside the ``callbacks`` factory, because plugins are discovered in the parent
  process, which never imports Keras;
* keep ``build`` deterministic for a given seed (the harness seeds every worker with
  ``keras.utils.set_random_seed`` before calling it).

Expose plugins as module-level :class:`ModelPlugin` objects (or a ``PLUGINS`` list).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import PluginError

InputKind = Literal["flat", "image"]
INPUT_SHAPES: dict[str, tuple[int, ...]] = {"flat": (784,), "image": (28, 28, 1)}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# layer_flops(layer, input_shapes, output_shape) -> {"forward": F, "backward": B} or None
LayerFlops = Callable[
    [Any, tuple[tuple[int, ...], ...], tuple[int, ...]], Mapping[str, float] | None
]


@dataclass(frozen=True)
class TrainingDefaults:
    """How the harness compiles and fits the model unless the user overrides it.

    ``optimizer`` and ``loss`` are Keras identifiers or zero-argument factories (called
    in the worker, after Keras is imported); a multi-output model gives ``loss`` and
    ``metrics`` as dicts keyed by output name, as ``model.compile`` takes them.
    ``callbacks`` is a zero-argument factory returning a list of Keras callbacks, e.g.
    ``lambda: [keras.callbacks.EarlyStopping()]``; an ``EarlyStopping`` among them has its
    stopped and best epochs recorded with the cell.
    """

    optimizer: str | Callable[[], Any] = "adam"
    loss: str | Callable[..., Any] | Mapping[str, Any] = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] | Mapping[str, Any] = ("accuracy",)
    batch_size: int = 32
    epochs: int = 10
    validation_split: float = 0.2
    callbacks: Callable[[], list[Any]] | None = None


@dataclass(frozen=True)
class ModelPlugin:
    """One benchmarkable model.

    Members:
        name: unique lower_snake_case id used on the command line (``--plugin NAME``).
        family: a group name for listings (e.g. ``"dense"``, ``"cnn"``).
        description: one line saying what the model is.
        input_kind: ``"flat"`` (784 features) or ``"image"`` (28x28x1).
        build: ``build(input_shape, num_classes) -> keras.Model``, uncompiled.
        training: compile/fit defaults (:class:`TrainingDefaults`).
        prepare: optional ``prepare(x, y) -> (inputs, targets)`` turning the dataset's
            arrays (``x`` already shaped as ``input_kind``, integer labels ``y``) into what
            a multi-input or multi-output model's ``fit`` takes (dicts keyed by name).
        accuracy_metric: the ``evaluate`` key reported as ``test_accuracy``.
        skip: cells this plugin does not support, ``{"torch": "why"}``, by backend,
            device or ``"backend/device"``; the harness shows them as ``skipped (why)``.
        same_network_as: the plugin this one must equal layer for layer (e.g. the same
            network written with another Keras API); tests and parity compare them.
        in_default_run: run when no ``--plugin`` is given (``-p all`` runs every plugin).
        parity_training_tolerance: this plugin's own tolerance for ``kbench parity``'s
            training check (max relative loss difference), for a model whose float32
            training measurably amplifies rounding; ``None`` uses the run's default.
        layer_flops: optional ``layer_flops(layer, input_shapes, output_shape)`` returning
            ``{"forward": F, "backward": B}``, the FLOPs of one call of a layer (shapes
            include the batch) for a layer the harness's counter does not know (or counts
            otherwise), or ``None`` to leave the layer to the counter. Called in the worker
            for every layer without sublayers (docs/efficiency.md).
    """

    name: str
    family: str
    description: str
    input_kind: InputKind
    build: Callable[[tuple[int, ...], int], Any]
    training: TrainingDefaults = field(default_factory=TrainingDefaults)
    prepare: Callable[[Any, Any], tuple[Any, Any]] | None = None
    accuracy_metric: str = "accuracy"
    skip: Mapping[str, str] = field(default_factory=dict)
    same_network_as: str | None = None
    in_default_run: bool = True
    parity_training_tolerance: float | None = None
    layer_flops: LayerFlops | None = None

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise PluginError(f"Plugin {self.name!r} is malformed: {'; '.join(problems)}")

    def _problems(self) -> Sequence[str]:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            yield f"name must be lower_snake_case. Received: name={self.name!r}"
        if self.input_kind not in INPUT_SHAPES:
            yield f"input_kind must be one of {sorted(INPUT_SHAPES)}. Received: {self.input_kind!r}"
        if not callable(self.build):
            yield "build must be callable as build(input_shape, num_classes)"
        if self.layer_flops is not None and not callable(self.layer_flops):
            yield "layer_flops must be callable as layer_flops(layer, input_shapes, output_shape)"
        if not isinstance(self.training, TrainingDefaults):
            yield "training must be a TrainingDefaults"
        elif self.training.batch_size < 1 or self.training.epochs < 1:
            yield "training.batch_size and training.epochs must be >= 1"
        tolerance = self.parity_training_tolerance
        if tolerance is not None and not (
            isinstance(tolerance, int | float) and not isinstance(tolerance, bool) and tolerance > 0
        ):
            yield f"parity_training_tolerance must be a positive number. Received: {tolerance!r}"

    def skip_reason(self, backend: str, device: str) -> str | None:
        """Why this plugin does not run on ``backend``/``device`` (None when it does)."""
        for key in (f"{backend}/{device}", backend, device):
            if key in self.skip:
                return self.skip[key]
        return None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample as the model receives it."""
        return INPUT_SHAPES[self.input_kind]
