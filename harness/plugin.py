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

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import PluginError

InputKind = Literal["flat", "image"]
INPUT_SHAPES: dict[str, tuple[int, ...]] = {"flat": (784,), "image": (28, 28, 1)}
FLOAT_DTYPES = ("float32", "float16", "float64")
INT_DTYPES = ("int32", "int64")
TaskKind = Literal["classification", "binary", "regression", "language_model"]
TASK_KINDS: tuple[str, ...] = ("classification", "binary", "regression", "language_model")
# String losses that fit a task's targets (sparse integer labels, 0/1 floats); a regression
# takes any loss but these.
_TASK_LOSSES: dict[str, frozenset[str]] = {
    "classification": frozenset({"sparse_categorical_crossentropy"}),
    "language_model": frozenset({"sparse_categorical_crossentropy"}),
    "binary": frozenset({"binary_crossentropy", "binary_focal_crossentropy"}),
}
_CLASSIFIER_LOSSES = frozenset().union(*_TASK_LOSSES.values()) | {"categorical_crossentropy"}
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
class InputArray:
    """One array the model eats, per sample: its ``shape`` (batch left out) and ``dtype``.

    Floats (``float32``, ``float16``, ``float64``) of any shape: images ``(32, 32, 3)``,
    feature vectors ``(20,)``, time series ``(steps, channels)``. Integer token ids
    (``int32``, ``int64``) need a ``vocab_size``: the ids lie in ``range(vocab_size)``.
    :func:`floats` and :func:`token_ids` write both.
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.shape, list):
            object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def is_tokens(self) -> bool:
        return self.dtype in INT_DTYPES

    def problems(self, where: str) -> Iterator[str]:
        """What is wrong with this array, each naming the field as ``where.field``."""
        yield from _shape_problems(f"{where}.shape", self.shape)
        if self.dtype not in FLOAT_DTYPES + INT_DTYPES:
            kinds = ", ".join(FLOAT_DTYPES + INT_DTYPES)
            yield f"{where}.dtype must be one of {kinds}. Received: dtype={self.dtype!r}"
        elif self.is_tokens and not (_positive_int(self.vocab_size) and self.vocab_size >= 2):
            yield (
                f"{where}.vocab_size must be an int >= 2 for token ids. "
                f"Received: vocab_size={self.vocab_size!r}"
            )
        elif not self.is_tokens and self.vocab_size is not None:
            yield (
                f"{where}.vocab_size is for integer token ids, not {self.dtype}. "
                f"Received: vocab_size={self.vocab_size!r}"
            )


def floats(*shape: int, dtype: str = "float32") -> InputArray:
    """A float input of per-sample ``shape``: ``floats(64, 3)`` for 64 steps of 3 channels."""
    return InputArray(tuple(shape), dtype)


def token_ids(length: int, vocab_size: int, dtype: str = "int32") -> InputArray:
    """A sequence of ``length`` integer token ids from ``range(vocab_size)``."""
    return InputArray((length,), dtype, vocab_size)


Inputs = InputArray | Mapping[str, InputArray]


@dataclass(frozen=True)
class Task:
    """What the model is asked to do, and so the targets the harness makes for it.

    ``kind``: ``classification`` (integer labels ``0..classes-1``, output ``(classes,)``),
    ``binary`` (0/1 float labels, output ``(1,)``), ``regression`` (float targets of
    ``target_shape``, output ``target_shape``) or ``language_model`` (one token-id input;
    the targets are the inputs shifted by one token, output ``(length, vocab_size)``).
    ``quality``: the ``evaluate`` key reported as the cell's quality figure; by default
    ``accuracy``, and ``loss`` for a regression. :func:`classification`, :func:`binary`,
    :func:`regression` and :func:`language_model` write each kind.
    """

    kind: TaskKind
    classes: int | None = None
    target_shape: tuple[int, ...] | None = None
    quality: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.target_shape, list):
            object.__setattr__(self, "target_shape", tuple(self.target_shape))

    @property
    def quality_name(self) -> str:
        """The ``evaluate`` key of the quality figure."""
        return self.quality or ("loss" if self.kind == "regression" else "accuracy")

    def default_training(self) -> TrainingDefaults:
        """Compile defaults that fit the task's targets."""
        if self.kind == "regression":
            return TrainingDefaults(loss="mean_squared_error", metrics=("mae",))
        if self.kind == "binary":
            return TrainingDefaults(loss="binary_crossentropy")
        return TrainingDefaults()

    def problems(self, where: str = "task") -> Iterator[str]:
        """What is wrong with this task, each naming the field."""
        if self.kind not in TASK_KINDS:
            yield f"{where}.kind must be one of {TASK_KINDS}. Received: kind={self.kind!r}"
            return
        wants_classes = self.kind == "classification"
        if wants_classes and not (_positive_int(self.classes) and self.classes >= 2):
            yield f"{where}.classes must be an int >= 2. Received: classes={self.classes!r}"
        elif not wants_classes and self.classes is not None:
            yield f"{where}.classes is for a classification. Received: classes={self.classes!r}"
        shape = self.target_shape
        if self.kind == "regression":
            yield from _shape_problems(f"{where}.target_shape", shape)
        elif shape is not None:
            yield f"{where}.target_shape is for a regression. Received: target_shape={shape!r}"
        if self.quality is not None and not (isinstance(self.quality, str) and self.quality):
            yield f"{where}.quality must be an evaluate key. Received: quality={self.quality!r}"

    def output_shape(self, inputs: Inputs) -> tuple[int, ...]:
        """The per-sample shape the model's output must have."""
        if self.kind == "classification":
            return (int(self.classes or 0),)
        if self.kind == "binary":
            return (1,)
        if self.kind == "regression":
            return tuple(self.target_shape or ())
        tokens = next(iter(input_arrays(inputs).values()))
        return (*tokens.shape, int(tokens.vocab_size or 0))


def classification(classes: int, quality: str | None = None) -> Task:
    """Integer labels ``0..classes-1``; the model outputs ``classes`` scores (softmax)."""
    return Task("classification", classes=classes, quality=quality)


def binary(quality: str | None = None) -> Task:
    """0/1 labels; the model outputs one probability (sigmoid)."""
    return Task("binary", quality=quality)


def regression(*target_shape: int, quality: str | None = None) -> Task:
    """Float targets of ``target_shape`` (default ``(1,)``)."""
    return Task("regression", target_shape=tuple(target_shape) or (1,), quality=quality)


def language_model(quality: str | None = None) -> Task:
    """Next-token prediction over one token-id input: the targets are the inputs shifted."""
    return Task("language_model", quality=quality)


def input_arrays(inputs: Inputs) -> dict[str, InputArray]:
    """The declared inputs by name (a single array is named ``inputs``)."""
    if isinstance(inputs, InputArray):
        return {"inputs": inputs}
    return dict(inputs)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _shape_problems(field_name: str, shape: Any) -> Iterator[str]:
    if not (isinstance(shape, tuple) and shape and all(_positive_int(d) for d in shape)):
        name = field_name.rsplit(".", 1)[-1]
        yield f"{field_name} must be a non-empty tuple of positive ints. Received: {name}={shape!r}"


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
            for every layer without sublayers (docs/efficiency.md).
        inputs: what the model eats (:class:`InputArray`, or several by name: the model
            then takes a dict), for synthetic data generated in the worker from the seed.
        task: what the model is asked to do (:class:`Task`), with ``inputs``.
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

    def __post_init__(self) -> None:
        if self.training is None:
            training = self.task.default_training() if isinstance(self.task, Task) else None
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
        fits = _TASK_LOSSES.get(kind)
        if isinstance(loss, str) and (
            (fits is not None and loss not in fits) or (fits is None and loss in _CLASSIFIER_LOSSES)
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
