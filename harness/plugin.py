"""THE extension point: what a model plugin is. Read this file first.

A plugin only *describes* a model. The harness owns everything else: it imports Keras
(in a fresh worker process, after choosing the backend), calls ``build``, compiles with
``training``, trains, times and evaluates. Hence two rules for plugin modules:

* never import keras (or a backend) at module level: import it inside ``build`` and
  inside the ``callbacks`` factory, because plugins are discovered in the parent
  process, which never imports Keras;
* keep ``build`` deterministic for a given seed (the harness seeds every worker with
  ``keras.utils.set_random_seed`` before calling it).

A plugin eats one of two kinds of data:

* a registered dataset (``input_kind="flat"`` or ``"image"``: Fashion-MNIST-shaped, 10
  classes; ``build(input_shape, num_classes)``), chosen with ``--dataset``;
* what it declares: ``inputs`` (:class:`InputArray`, one or several by name) and a ``task``
  (:class:`Task`); the worker generates learnable synthetic data from them and the seed
  (whatever ``--dataset`` says), and calls ``build(inputs, task)``.

Expose plugins as module-level :class:`ModelPlugin` objects (or a ``PLUGINS`` list).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.declarations import (
    CLASSIFIER_LOSSES,
    TASK_KINDS,
    TASK_LOSSES,
    InputArray,
    Inputs,
    Task,
    binary,
    classification,
    floats,
    input_arrays,
    language_model,
    regression,
    token_ids,
)
from harness.errors import PluginError

__all__ = [
    "INPUT_SHAPES",
    "InputArray",
    "Inputs",
    "LayerFlops",
    "ModelPlugin",
    "Task",
    "TrainingDefaults",
    "binary",
    "classification",
    "floats",
    "input_arrays",
    "language_model",
    "regression",
    "token_ids",
]

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


def task_training(task: Task) -> TrainingDefaults:
    """Compile defaults that fit the task's targets."""
    if task.kind == "regression":
        return TrainingDefaults(loss="mean_squared_error", metrics=("mae",))
    if task.kind == "binary":
        return TrainingDefaults(loss="binary_crossentropy")
    return TrainingDefaults()


@dataclass(frozen=True)
class ModelPlugin:
    """One benchmarkable model.

    Members:
        name: unique lower_snake_case id used on the command line (``--plugin NAME``).
        family: a group name for listings (e.g. ``"dense"``, ``"cnn"``).
        description: one line saying what the model is.
        input_kind: ``"flat"`` (784 features) or ``"image"`` (28x28x1) for a registered
            dataset; or ``None`` with ``inputs`` and ``task``.
        build: ``build(input_shape, num_classes) -> keras.Model``, uncompiled; with
            ``inputs``, ``build(inputs, task)`` (the two declarations below).
        training: compile/fit defaults (:class:`TrainingDefaults`); by default the
            task's (:meth:`Task.default_training`), else sparse categorical crossentropy.
        prepare: optional ``prepare(x, y) -> (inputs, targets)`` turning the dataset's
            arrays (``x`` already shaped as ``input_kind``, integer labels ``y``) into what
            a multi-input or multi-output model's ``fit`` takes (dicts keyed by name).
        accuracy_metric: the ``evaluate`` key reported as ``test_accuracy`` (a task: its own).
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
            for every priced layer: those without sublayers, and recurrent and attention
            layers, priced whole (docs/efficiency.md).
        inputs: what the model eats (:class:`InputArray`, or several by name: the model
            then takes a dict), for synthetic data generated in the worker from the seed.
        task: what the model is asked to do (:class:`Task`), with ``inputs``.
        load: optional, with ``inputs`` and ``task``: ``load(seed) -> (x_train, y_train,
            x_test, y_test)``, the plugin's own data instead of synthetic data, called and
            checked against the declaration in the worker (``harness.plugin_data``).
        requires: modules the model needs beyond Keras and its backend, each with how to
            get it: ``{"keras_hub": "pip install keras-hub"}``. Where one cannot be
            imported, the plugin's cells are ``unavailable`` with that reason and no worker
            starts (:meth:`unmet_requirement`).
        native: ``kbench run --native`` times, beside each Keras cell, the same network
            and training step written in the backend's own framework (``harness.native``:
            torch eager and compiled, a jitted JAX step with optax, a TensorFlow
            ``tf.function`` with and without XLA), built from the Keras model's layers and
            initial weights and checked to give the same outputs and losses. ``True``:
            the harness's references, for a ``Sequential`` of Dense, Conv1D/2D, pooling,
            global average pooling, Flatten. Or the plugin's own, by framework and variant:
            ``{"torch": {"eager": make}}``, ``make(model, loss)`` returning a
            ``harness.native.Reference`` built from the Keras ``model``'s initial weights
            (``loss``: ``"sparse_ce"`` or ``"mse"``); checked the same way.
    """

    name: str
    family: str
    description: str
    input_kind: InputKind | None = None
    build: Callable[..., Any] = None  # type: ignore[assignment]  # checked: must be callable
    training: TrainingDefaults = None  # type: ignore[assignment]  # None: the task's defaults
    prepare: Callable[[Any, Any], tuple[Any, Any]] | None = None
    accuracy_metric: str = "accuracy"
    skip: Mapping[str, str] = field(default_factory=dict)
    same_network_as: str | None = None
    in_default_run: bool = True
    parity_training_tolerance: float | None = None
    layer_flops: LayerFlops | None = None
    inputs: Inputs | None = None
    task: Task | None = None
    load: Callable[[int], tuple[Any, Any, Any, Any]] | None = None
    requires: Mapping[str, str] = field(default_factory=dict)
    native: bool | Mapping[str, Mapping[str, Callable[[Any, str], Any]]] = False

    def __post_init__(self) -> None:
        if self.training is None:
            training = task_training(self.task) if isinstance(self.task, Task) else None
            object.__setattr__(self, "training", training or TrainingDefaults())
        problems = list(self._problems())
        if problems:
            raise PluginError(f"Plugin {self.name!r} is malformed: {'; '.join(problems)}")

    def _problems(self) -> Sequence[str]:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            yield f"name must be lower_snake_case. Received: name={self.name!r}"
        if self.inputs is None and self.task is None:
            if self.input_kind not in INPUT_SHAPES:
                yield (
                    f"input_kind must be one of {sorted(INPUT_SHAPES)}, or inputs and task "
                    f"declared. Received: input_kind={self.input_kind!r}"
                )
        else:
            yield from self._spec_problems()
        if not callable(self.build):
            yield "build must be callable as build(input_shape, num_classes)"
        if self.load is not None and (not callable(self.load) or self.task is None):
            yield "load must be callable as load(seed), with inputs and task declared"
        if self.layer_flops is not None and not callable(self.layer_flops):
            yield "layer_flops must be callable as layer_flops(layer, input_shapes, output_shape)"
        requires = self.requires
        if not isinstance(requires, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in requires.items()
        ):
            yield (
                "requires must map module names to how to install them, e.g. "
                f'{{"keras_hub": "pip install keras-hub"}}. Received: requires={requires!r}'
            )
        if not isinstance(self.training, TrainingDefaults):
            yield "training must be a TrainingDefaults"
        elif self.training.batch_size < 1 or self.training.epochs < 1:
            yield "training.batch_size and training.epochs must be >= 1"
        tolerance = self.parity_training_tolerance
        if tolerance is not None and not (
            isinstance(tolerance, int | float) and not isinstance(tolerance, bool) and tolerance > 0
        ):
            yield f"parity_training_tolerance must be a positive number. Received: {tolerance!r}"

    def _spec_problems(self) -> Iterator[str]:
        """What is wrong with ``inputs`` and ``task``, each naming the field."""
        if self.input_kind is not None:
            yield (
                "input_kind (a registered dataset) and inputs/task (synthetic data) exclude "
                f"each other. Received: input_kind={self.input_kind!r}"
            )
        if not isinstance(self.task, Task):
            yield f"task must be a Task (e.g. classification(2)). Received: task={self.task!r}"
        else:
            yield from self.task.problems()
        arrays = self._declared_arrays()
        if arrays is None:
            yield (
                "inputs must be an InputArray or a dict of them by name "
                f"(e.g. token_ids(64, 1000)). Received: inputs={self.inputs!r}"
            )
            return
        for name, array in arrays.items():
            named = isinstance(self.inputs, Mapping)
            yield from array.problems(f"inputs[{name!r}]" if named else "inputs")
        if isinstance(self.task, Task) and self.task.kind == "language_model":
            array = next(iter(arrays.values()))
            if len(arrays) != 1 or not array.is_tokens or len(array.shape) != 1:
                yield (
                    "a language_model task needs one input of token ids of shape (length,). "
                    f"Received: inputs={self.inputs!r}"
                )
        yield from self._fit_problems()

    def _declared_arrays(self) -> dict[str, InputArray] | None:
        arrays = input_arrays(self.inputs) if isinstance(self.inputs, Mapping | InputArray) else {}
        good = all(isinstance(k, str) and isinstance(v, InputArray) for k, v in arrays.items())
        return arrays if arrays and good else None

    def _fit_problems(self) -> Iterator[str]:
        """A string loss or a quality figure that cannot fit the task."""
        task, training = self.task, self.training
        if not isinstance(task, Task) or task.kind not in TASK_KINDS:
            return
        if not isinstance(training, TrainingDefaults):
            return
        kind, loss, metrics = self.task.kind, self.training.loss, self.training.metrics
        fits = TASK_LOSSES.get(kind)
        if isinstance(loss, str) and (
            (fits is not None and loss not in fits) or (fits is None and loss in CLASSIFIER_LOSSES)
        ):
            expected = ", ".join(sorted(fits)) if fits else "a regression loss such as 'mse'"
            yield f"training.loss must fit a {kind} task: {expected}. Received: loss={loss!r}"
        quality = self.task.quality_name
        named = None if isinstance(metrics, Mapping) else [m for m in metrics if isinstance(m, str)]
        if named is not None and quality != "loss" and quality not in named:
            yield (
                f"task.quality must be 'loss' or one of training.metrics {tuple(named)}. "
                f"Received: quality={quality!r}"
            )

    def unmet_requirement(self) -> str | None:
        """Why the plugin cannot run in this Python (a module of ``requires`` that it cannot
        import), or None."""
        return unmet_requirement(self.requires)

    @property
    def synthetic(self) -> bool:
        """Whether the plugin runs on synthetic data made from its ``inputs`` and ``task``."""
        return self.task is not None

    @property
    def quality_key(self) -> str:
        """The ``evaluate`` key of the cell's quality figure."""
        return self.task.quality_name if self.task is not None else self.accuracy_metric

    def skip_reason(self, backend: str, device: str) -> str | None:
        """Why this plugin does not run on ``backend``/``device`` (None when it does)."""
        for key in (f"{backend}/{device}", backend, device):
            if key in self.skip:
                return self.skip[key]
        return None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample as the model receives it (the first declared input's)."""
        if self.input_kind is None:
            return next(iter(input_arrays(self.inputs).values())).shape
        return INPUT_SHAPES[self.input_kind]


def unmet_requirement(requires: Mapping[str, str]) -> str | None:
    """The first module of ``requires`` this Python cannot import, as a reason that says how
    to get it, or None when all can be."""
    for module, how in requires.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"needs {module} ({how}): not importable by {sys.executable}"
    return None
