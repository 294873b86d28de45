"""Synthetic data from a plugin's declared inputs and task: deterministic from the seed, and
learnable (the targets are a fixed function of the inputs, so the quality figure shows that
the model trained).

Made inside the worker (large inputs never travel from the parent); numpy only. The rule:

* float inputs have unit variance: a vector is standard normal; an image or a series is a
  level per channel in each of 4 segments along its first axis (stripes of an image, spans
  of a series), carrying ``STRUCTURE`` of its standard deviation, plus standard normal noise
  (so a model sees its signal in every pixel, as a convnet does in a real image);
  token ids are uniform over the vocabulary;
* each input gives a few linear features: a vector input its projection, a longer one the
  means of its 4 segments (per channel), token ids the mean of a fixed random vector per
  token; each feature scaled to unit variance; a fixed random matrix mixes them into
  scores ``z``;
* classification: the label is ``argmax(z)``; binary: ``z > 0``; regression: ``z`` itself
  (about unit variance, so an untrained model's mean squared error is about 1);
* a language model's sequences follow a fixed successor of each token 80% of the time (a
  random token otherwise); the targets are the inputs shifted by one token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.plugin import InputArray, Inputs, Task, input_arrays

NAME = "spec_synthetic"  # the ``dataset`` recorded for a cell that ran on this data
SEGMENTS = 4
STRUCTURE = 0.8  # the share of an image's or series' standard deviation its segment levels carry
FOLLOW = 0.8  # a language model's share of tokens that follow their fixed successor
MAX_BYTES = 512 * 2**20  # the inputs of both splits together, at most


@dataclass(frozen=True, eq=False)
class SpecData:
    """Train and test inputs (an array, or a dict by name) and targets."""

    x_train: Any = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: Any = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    source: str = ""
    name: str = NAME
    num_classes: int = 0  # unused: such a plugin's model is built as build(inputs, task)


def generate(inputs: Inputs, task: Task, n_train: int, n_test: int, seed: int) -> SpecData:
    """``n_train`` + ``n_test`` samples (fewer when they would pass ``MAX_BYTES``)."""
    arrays = input_arrays(inputs)
    n_train, n_test = fit_in_memory(arrays, n_train, n_test)
    n = n_train + n_test
    rng = np.random.default_rng(seed)
    if task.kind == "language_model":
        x, y = _sequences(rng, next(iter(arrays.values())), n)
    else:
        drawn = {name: _draw(rng, array, n) for name, array in arrays.items()}
        y = _targets(task, _scores(rng, arrays, drawn, _width(task)))
        x = drawn if len(drawn) > 1 or not isinstance(inputs, InputArray) else drawn["inputs"]
    source = f"generated from the plugin's inputs and task (seed={seed})"
    return SpecData(rows(x, slice(n_train)), y[:n_train], rows(x, slice(n_train, n)),
                    y[n_train:], source)  # fmt: skip


def fit_in_memory(arrays: dict[str, InputArray], n_train: int, n_test: int) -> tuple[int, int]:
    """The split sizes scaled down so that the inputs stay within ``MAX_BYTES``."""
    per_sample = sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize for a in arrays.values())
    most = max(2, MAX_BYTES // max(per_sample, 1))
    if n_train + n_test <= most:
        return n_train, n_test
    share = most / (n_train + n_test)
    return max(1, int(n_train * share)), max(1, int(n_test * share))


def chance_accuracy(task: Task, targets: np.ndarray) -> float | None:
    """The accuracy of always answering the commonest target (None for a regression)."""
    if task.kind == "regression" or not targets.size:
        return None
    counts = np.bincount(targets.astype(np.int64).ravel())
    return float(counts.max() / targets.size)


def _draw(rng: np.random.Generator, array: InputArray, n: int) -> np.ndarray:
    if array.is_tokens:
        return rng.integers(0, array.vocab_size or 2, (n, *array.shape)).astype(array.dtype)
    noise = rng.standard_normal((n, *array.shape))
    if len(array.shape) < 2:
        return noise.astype(array.dtype)
    steps, channels = array.shape[0], array.shape[-1]
    levels = rng.standard_normal((n, min(SEGMENTS, steps), channels))
    segment = np.concatenate(
        [
            np.full(len(part), i)
            for i, part in enumerate(np.array_split(np.arange(steps), len(levels[0])))
        ]
    )
    level = levels[:, segment].reshape(n, steps, *([1] * (len(array.shape) - 2)), channels)
    return (STRUCTURE * level + math.sqrt(1 - STRUCTURE**2) * noise).astype(array.dtype)


def _width(task: Task) -> int:
    if task.kind == "classification":
        return int(task.classes or 2)
    return math.prod(task.target_shape or (1,)) if task.kind == "regression" else 1


def _scores(
    rng: np.random.Generator,
    arrays: dict[str, InputArray],
    drawn: dict[str, np.ndarray],
    width: int,
) -> np.ndarray:
    """``z``: every input's features, mixed by fixed random matrices, about unit variance."""
    total = np.zeros((len(next(iter(drawn.values()))), width))
    for name, array in arrays.items():
        if array.is_tokens:
            table = rng.standard_normal((array.vocab_size or 2, width))
            tokens = drawn[name].reshape(len(total), -1)
            total += table[tokens].mean(axis=1) * math.sqrt(tokens.shape[1])
            continue
        features = _features(drawn[name].astype(np.float64))
        mix = rng.standard_normal((features.shape[1], width)) / math.sqrt(features.shape[1])
        total += features @ mix
    return total / math.sqrt(len(arrays))


def _features(x: np.ndarray) -> np.ndarray:
    """A vector as it is; else per channel the means of its ``SEGMENTS`` segments along the
    first axis (``_draw``'s levels, plus the noise's mean), scaled to unit variance."""
    if x.ndim == 2:
        return x
    n, steps = x.shape[:2]
    parts = np.array_split(x.reshape(n, steps, -1, x.shape[-1]), min(SEGMENTS, steps), axis=1)
    spread = [
        math.sqrt(STRUCTURE**2 + (1 - STRUCTURE**2) / (p.shape[1] * p.shape[2])) for p in parts
    ]
    means = [p.mean(axis=(1, 2)) / sd for p, sd in zip(parts, spread, strict=True)]
    return np.concatenate(means, axis=1)


def _targets(task: Task, z: np.ndarray) -> np.ndarray:
    if task.kind == "classification":
        return np.argmax(z, axis=1).astype(np.int64)
    if task.kind == "binary":
        return (z > 0).astype(np.float32)
    return z.reshape(len(z), *(task.target_shape or (1,))).astype(np.float32)


def _sequences(rng: np.random.Generator, array: InputArray, n: int) -> tuple[Any, Any]:
    """Token sequences one longer than the input: inputs, and the same shifted by one."""
    vocab, length = int(array.vocab_size or 2), array.shape[0]
    successor = rng.permutation(vocab)
    seq = np.empty((n, length + 1), dtype=np.int64)
    seq[:, 0] = rng.integers(0, vocab, n)
    follows = rng.random((n, length)) < FOLLOW
    noise = rng.integers(0, vocab, (n, length))
    for t in range(length):
        seq[:, t + 1] = np.where(follows[:, t], successor[seq[:, t]], noise[:, t])
    return seq[:, :-1].astype(array.dtype), seq[:, 1:].astype(array.dtype)


def rows(x: Any, which: slice) -> Any:
    """Rows ``which`` of an array or of every array in a dict."""
    return {k: v[which] for k, v in x.items()} if isinstance(x, Mapping) else x[which]
