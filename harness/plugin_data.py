"""A plugin's own data: what its ``load(seed)`` returns, checked against its declared inputs
and task before anything is timed (worker side; numpy only).

``load(seed)`` returns ``(x_train, y_train, x_test, y_test)``: each ``x`` an array (a single
declared input) or a dict of arrays by input name, each ``y`` the targets the task takes.
A split whose arrays do not match the declaration raises :class:`PluginError` naming the
plugin and the field, so the cell fails with that one line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from harness.errors import PluginError
from harness.plugin import InputArray, ModelPlugin, Task, input_arrays
from harness.synthetic import SpecData, rows

NAME = "plugin_loader"  # the ``dataset`` recorded for a cell that ran on its plugin's data


def load(plugin: ModelPlugin, n_train: int | None, n_test: int | None, seed: int) -> SpecData:
    """The plugin's splits, checked, cut to at most ``n_train`` / ``n_test`` samples."""
    if plugin.load is None or plugin.task is None:
        raise PluginError(f"Plugin {plugin.name!r} declares no load(seed) with inputs and task")
    loaded = plugin.load(seed)
    if not (isinstance(loaded, tuple | list) and len(loaded) == 4):
        raise _error(plugin, "load", "must return (x_train, y_train, x_test, y_test)", loaded)
    x_train, y_train, x_test, y_test = loaded
    problems = [
        *split_problems(plugin.inputs, plugin.task, x_train, y_train, "train"),
        *split_problems(plugin.inputs, plugin.task, x_test, y_test, "test"),
    ]
    if problems:
        raise PluginError(f"Plugin {plugin.name!r}: load() returned {problems[0]}")
    source = f"{plugin.name}.load(seed={seed})"
    return SpecData(
        rows(x_train, slice(n_train)), y_train[:n_train],
        rows(x_test, slice(n_test)), y_test[:n_test], source, NAME,
    )  # fmt: skip


def split_problems(inputs: Any, task: Task, x: Any, y: Any, split: str) -> Iterator[str]:
    """What does not match the declaration in one split, each naming the field."""
    arrays = input_arrays(inputs)
    single = isinstance(inputs, InputArray)
    if single:
        given = {"inputs": x}
    elif isinstance(x, Mapping) and set(x) == set(arrays):
        given = dict(x)
    else:
        found = sorted(x) if isinstance(x, Mapping) else type(x).__name__
        yield f"x_{split} that is not a dict of {sorted(arrays)}. Received: {found}"
        return
    lengths = set()
    for name, array in arrays.items():
        field = f"x_{split}" if single else f"x_{split}[{name!r}]"
        value = given[name]
        if not isinstance(value, np.ndarray):
            yield f"{field} that is not a numpy array. Received: {type(value).__name__}"
            continue
        yield from _array_problems(field, value, array.shape, array.dtype)
        if array.is_tokens and value.size and not _within(value, int(array.vocab_size or 0)):
            yield f"{field} with ids outside range({array.vocab_size})"
        lengths.add(len(value))
    if not isinstance(y, np.ndarray):
        yield f"y_{split} that is not a numpy array. Received: {type(y).__name__}"
        return
    yield from _target_problems(f"y_{split}", y, task, inputs)
    lengths.add(len(y))
    if len(lengths) > 1:
        yield f"x_{split} and y_{split} of different lengths. Received: {sorted(lengths)}"


def _target_problems(field: str, y: np.ndarray, task: Task, inputs: Any) -> Iterator[str]:
    if task.kind == "classification":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            yield f"{field} that is not one integer label per sample. Received: {_form(y)}"
        elif y.size and not _within(y, int(task.classes or 0)):
            yield f"{field} with labels outside range({task.classes})"
    elif task.kind == "binary":
        if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] != 1) or y.dtype.kind != "f":
            yield f"{field} that is not one 0/1 float per sample. Received: {_form(y)}"
    elif task.kind == "regression":
        yield from _array_problems(field, y, tuple(task.target_shape or ()), "float32")
    else:
        tokens = next(iter(input_arrays(inputs).values()))
        yield from _array_problems(field, y, tokens.shape, tokens.dtype)


def _array_problems(
    field: str, value: np.ndarray, shape: tuple[int, ...], dtype: str
) -> Iterator[str]:
    if value.shape[1:] != tuple(shape) or value.dtype != np.dtype(dtype):
        expected = f"(n, {', '.join(map(str, shape))}) {dtype}"
        yield f"{field} of shape {expected}. Received: {_form(value)}"


def _within(values: np.ndarray, end: int) -> bool:
    return 0 <= int(values.min()) and int(values.max()) < end


def _form(value: np.ndarray) -> str:
    return f"shape={value.shape} dtype={value.dtype}"


def _error(plugin: ModelPlugin, field: str, what: str, received: Any) -> PluginError:
    return PluginError(
        f"Plugin {plugin.name!r}: {field} {what}. Received: {type(received).__name__}"
    )
