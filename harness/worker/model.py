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

from harness.errors import PluginError
from harness.plugin import InputArray, ModelPlugin, input_arrays
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


def build_model(plugin: ModelPlugin, num_classes: int = 10) -> Any:
    """The plugin's uncompiled model: ``build(input_shape, num_classes)`` for a registered
    dataset, ``build(inputs, task)`` (its output checked against the task) otherwise."""
    if plugin.task is None:
        return plugin.build(plugin.input_shape, num_classes)
    model = plugin.build(plugin.inputs, plugin.task)
    check_outputs(plugin, model)
    return model


def check_outputs(plugin: ModelPlugin, model: Any) -> None:
    """Raise PluginError when the model's one output does not have the task's shape (a
    multi-output model, with ``prepare``, or one whose output is not known yet passes)."""
    if plugin.task is None or plugin.prepare is not None:
        return
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError, TypeError):  # a subclassed model: not known yet
        return
    if len(outputs) != 1:
        return
    found = tuple(outputs[0].shape[1:])
    expected = plugin.task.output_shape(plugin.inputs)
    if found != expected:
        raise PluginError(
            f"Plugin {plugin.name!r}: the model's output does not fit its task "
            f"({plugin.task.kind}): expected a per-sample shape of {expected}. "
            f"Received: output_shape={found}"
        )


def inputs_targets(plugin: ModelPlugin, x: Any, y: np.ndarray) -> tuple[Any, Any]:
    """The dataset's arrays as the plugin's model takes them (declared inputs: as made)."""
    shaped = x if plugin.task is not None else x.reshape((len(x), *plugin.input_shape))
    return plugin.prepare(shaped, y) if plugin.prepare else (shaped, y)


def sample_inputs(plugin: ModelPlugin) -> Any:
    """One sample of zeros (a batch of one) as the plugin's model takes it."""
    if plugin.task is None:
        x, y = np.zeros((1, *plugin.input_shape), dtype="float32"), np.zeros(1, dtype="int64")
        return inputs_targets(plugin, x, y)[0]
    arrays = input_arrays(plugin.inputs)
    zeros = {name: np.zeros((1, *a.shape), dtype=a.dtype) for name, a in arrays.items()}
    return zeros["inputs"] if isinstance(plugin.inputs, InputArray) else zeros


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
