"""Worker-side helpers on a plugin's model and data: compile, shape, slice, count, describe.

Used by the benchmark worker, the parity worker and ``kbench list`` (through
``harness.worker.describe``); Keras is already imported where these run.
"""

from __future__ import annotations

import inspect
import json
import math
from typing import Any

import numpy as np

from harness.plugin import ModelPlugin
from harness.records.schema import Params


def compile_model(model: Any, plugin: ModelPlugin, jit_compile: Any = "auto") -> None:
    """Compile with the plugin's optimizer, loss and metrics."""
    defaults = plugin.training
    metrics = defaults.metrics
    model.compile(
        optimizer=_make(defaults.optimizer),
        loss=_make_loss(defaults.loss),
        metrics=metrics if isinstance(metrics, dict) else [*metrics],
        jit_compile=jit_compile,
    )


def inputs_targets(plugin: ModelPlugin, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """The dataset's arrays as the plugin's model takes them."""
    shaped = x.reshape((len(x), *plugin.input_shape))
    return plugin.prepare(shaped, y) if plugin.prepare else (shaped, y)


def cycle_samples(x: Any, y: Any, n: int) -> tuple[Any, Any]:
    """The first ``n`` samples of inputs and targets (arrays or dicts of arrays), repeated
    when the data holds fewer."""
    idx = np.arange(n) % length(x)
    return take(x, idx), take(y, idx)


def length(tree: Any) -> int:
    """The number of samples in an array or a dict of arrays."""
    return length(next(iter(tree.values()))) if isinstance(tree, dict) else len(tree)


def take(tree: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array or of every array in a dict."""
    if isinstance(tree, dict):
        return {k: take(v, idx) for k, v in tree.items()}
    return tree[idx]


def count_params(model: Any) -> Params:
    """Parameter counts of a built model: trainable, non-trainable and their total."""
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    non_trainable = sum(math.prod(v.shape) for v in model.non_trainable_weights)
    return Params(total=trainable + non_trainable, trainable=trainable, non_trainable=non_trainable)


def describe_model(model: Any) -> dict[str, Any]:
    """Parameter counts and the layer list with output shapes (``kbench list``, parity)."""
    layers = [
        {"class": type(layer).__name__, "output_shape": _shape(layer)}
        for layer in model.layers
        if type(layer).__name__ != "InputLayer"
    ]
    return {"params": count_params(model).to_dict(), "layers": layers}


def _shape(layer: Any) -> Any:
    try:
        return json.loads(json.dumps(layer.output.shape))
    except (AttributeError, ValueError, TypeError):
        return None


def _make(value: Any) -> Any:
    return value() if callable(value) else value


def _make_loss(value: Any) -> Any:
    """A loss identifier or factory; a plain loss function is passed through."""
    if callable(value) and not inspect.signature(value).parameters:
        return value()
    return value
