"""What a plugin with data of its own shape declares: the arrays its model eats
(:class:`InputArray`, :func:`floats`, :func:`token_ids`) and what it is asked to do
(:class:`Task`, :func:`classification`, :func:`binary`, :func:`regression`,
:func:`language_model`). ``harness.plugin`` re-exports them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FLOAT_DTYPES = ("float32", "float16", "float64")
INT_DTYPES = ("int32", "int64")
TaskKind = Literal["classification", "binary", "regression", "language_model"]
TASK_KINDS: tuple[str, ...] = ("classification", "binary", "regression", "language_model")
# String losses that fit a task's targets (sparse integer labels, 0/1 floats); a regression
# takes any loss but these.
TASK_LOSSES: dict[str, frozenset[str]] = {
    "classification": frozenset({"sparse_categorical_crossentropy"}),
    "language_model": frozenset({"sparse_categorical_crossentropy"}),
    "binary": frozenset({"binary_crossentropy", "binary_focal_crossentropy"}),
}
CLASSIFIER_LOSSES = frozenset().union(*TASK_LOSSES.values()) | {"categorical_crossentropy"}


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
        elif self.is_tokens and not (positive_int(self.vocab_size) and self.vocab_size >= 2):
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

    def problems(self, where: str = "task") -> Iterator[str]:
        """What is wrong with this task, each naming the field."""
        if self.kind not in TASK_KINDS:
            yield f"{where}.kind must be one of {TASK_KINDS}. Received: kind={self.kind!r}"
            return
        wants_classes = self.kind == "classification"
        if wants_classes and not (positive_int(self.classes) and self.classes >= 2):
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


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _shape_problems(field_name: str, shape: Any) -> Iterator[str]:
    if not (isinstance(shape, tuple) and shape and all(positive_int(d) for d in shape)):
        name = field_name.rsplit(".", 1)[-1]
        yield f"{field_name} must be a non-empty tuple of positive ints. Received: {name}={shape!r}"
