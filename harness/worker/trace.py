"""What a built model computes in one training step, read from the model (worker side).

One forward call on a single sample, with every leaf layer's ``call`` recorded, gives each
layer call's shapes in execution order (subclassed models and shared layers included; on
JAX the call is traced abstractly, ``WorkerBackend.shapes_of``, so nothing compiles); the
layers' weights and settings, the compiled loss, the plugin's metrics and the optimizer give
the rest. :func:`count_model` prices it with ``harness.worker.flops``. Keras is already
imported where these run; nothing here imports it.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

from harness.plugin import ModelPlugin
from harness.records.efficiency import FlopCount
from harness.worker.flops import LayerCall, StepSpec, count_step, optimizer_extra

ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def count_model(
    model: Any,
    plugin: ModelPlugin,
    sample: Any,
    batch_size: int,
    compute_dtype: str,
    shapes_of: Callable[..., Any] | None = None,
) -> FlopCount:
    """The FLOPs of one training step of the compiled ``model`` at ``batch_size``;
    ``sample`` is one sample of the model's inputs (a batch of one), ``shapes_of`` the
    backend's way to run the forward pass for its shapes (``WorkerBackend.shapes_of``)."""
    calls, outputs = trace(model, plugin, sample, batch_size, shapes_of)
    step = step_spec(model, plugin, outputs, ITEMSIZE.get(compute_dtype, 4))
    return count_step(calls, step, batch_size)


def trace(
    model: Any,
    plugin: ModelPlugin,
    sample: Any,
    batch_size: int,
    shapes_of: Callable[..., Any] | None = None,
) -> tuple[list[LayerCall], dict[str, tuple[int, ...]]]:
    """Every leaf layer call of one forward pass, and the per-sample shape of each output."""
    recorded: list[tuple[Any, tuple, Any]] = []
    run = shapes_of or (lambda function, *args: function(*args))
    with _recording(_leaves(model), recorded):
        predictions = run(lambda x: model(x, training=False), sample)
    calls = [_call(layer, args, out, plugin, batch_size) for layer, args, out in recorded]
    return calls, _outputs(model, predictions)


def _leaves(model: Any) -> list[Any]:
    """The layers with no sublayers (a block's own arithmetic beyond its sublayers is not
    seen)."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if not layer._flatten_layers(include_self=False)]


@contextlib.contextmanager
def _recording(layers: list[Any], sink: list[tuple[Any, tuple, Any]]) -> Iterator[None]:
    """Each layer's ``call`` wrapped to append (layer, args, output) to ``sink``."""
    for layer in layers:
        original = layer.call

        def recorded(*args: Any, _layer: Any = layer, _call: Any = original, **kwargs: Any):
            out = _call(*args, **kwargs)
            sink.append((_layer, args, out))
            return out

        layer.call = recorded
    try:
        yield
    finally:
        for layer in layers:
            del layer.call


def _call(layer: Any, args: tuple, out: Any, plugin: ModelPlugin, batch: int) -> LayerCall:
    inputs = tuple(_sample_shape(t) for t in _tensors(args[0] if args else ()))
    output = _sample_shape(next(iter(_tensors(out)), None))
    kernel = getattr(layer, "kernel", None)
    stated = None
    if plugin.layer_flops is not None:
        stated = _stated(plugin, layer, inputs, output, batch)
    return LayerCall(
        name=layer.name,
        kind=type(layer).__name__,
        inputs=inputs,
        output=output,
        kernel=tuple(int(d) for d in kernel.shape) if kernel is not None else None,
        bias=getattr(layer, "bias", None) is not None,
        trainable=_size(layer.trainable_weights),
        weights=_size(layer.weights),
        activation=_name(getattr(layer, "activation", None)),
        pool=_pool(getattr(layer, "pool_size", None)),
        penalties=_penalties(layer, output),
        stated=stated,
    )


def _stated(
    plugin: ModelPlugin, layer: Any, inputs: tuple, output: tuple, batch: int
) -> tuple[float, float] | None:
    """The plugin's (forward, backward) FLOPs for this call at the step's batch size."""
    answer = plugin.layer_flops(  # type: ignore[misc]
        layer, tuple((batch, *s) for s in inputs), (batch, *output)
    )
    if answer is None:
        return None
    return float(answer.get("forward", 0.0)), float(answer.get("backward", 0.0))


def _tensors(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return [value] if hasattr(value, "shape") else []


def _sample_shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape[1:]) if tensor is not None else ()


def _size(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)


def _name(function: Any) -> str | None:
    if function is None:
        return None
    return getattr(function, "__name__", None) or type(function).__name__.lower()


def _pool(size: Any) -> tuple[int, ...] | None:
    if size is None:
        return None
    return tuple(int(s) for s in size) if isinstance(size, list | tuple) else (int(size),)


def _penalties(layer: Any, output: tuple[int, ...]) -> tuple[tuple[str, str, int], ...]:
    """(weight, penalty, size) for the kernel, bias and activity regularizers set."""
    found = []
    for what in ("kernel", "bias", "activity"):
        penalty = getattr(layer, f"{what}_regularizer", None)
        if penalty is None:
            continue
        weight = getattr(layer, what, None)
        weights = [] if weight is None else [weight]
        size = math.prod(output) if what == "activity" else _size(weights)
        found.append((what, type(penalty).__name__.lower(), size))
    return tuple(found)


def _outputs(model: Any, predictions: Any) -> dict[str, tuple[int, ...]]:
    if isinstance(predictions, dict):
        return {name: _sample_shape(t) for name, t in predictions.items()}
    tensors = _tensors(predictions)
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(tensors):
        names = [f"output_{i}" for i in range(len(tensors))]
    return {name: _sample_shape(t) for name, t in zip(names, tensors, strict=True)}


def step_spec(
    model: Any, plugin: ModelPlugin, outputs: dict[str, tuple[int, ...]], itemsize: int
) -> StepSpec:
    """The loss and metrics per output and the optimizer of the compiled ``model``."""
    optimizer = model.optimizer
    loss_scale = hasattr(optimizer, "inner_optimizer")
    inner = optimizer.inner_optimizer if loss_scale else optimizer
    name = type(inner).__name__.lower()
    options = {k: getattr(inner, k, None) for k in ("momentum", "nesterov", "amsgrad")}
    options |= {k: getattr(inner, k, None) for k in ("weight_decay", "clipnorm", "clipvalue")}
    options["global_clipnorm"] = getattr(inner, "global_clipnorm", None)
    return StepSpec(
        outputs=outputs,
        losses=_per_output(model.loss, outputs, _loss_name),
        metrics=_per_output(plugin.training.metrics, outputs, _metric_names),
        optimizer=name,
        optimizer_extra=optimizer_extra(name, loss_scale=loss_scale, **_set(options)),
        trainable_params=_size(model.trainable_weights),
        itemsize=itemsize,
    )


def _set(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v}


def _per_output(spec: Any, outputs: dict[str, tuple[int, ...]], read: Any) -> dict[str, Any]:
    """A loss or metrics spec (one for all outputs, or a dict by output name) per output."""
    if isinstance(spec, dict):
        return {name: read(spec[name]) for name in outputs if name in spec}
    return {name: read(spec) for name in outputs}


def _loss_name(loss: Any) -> str:
    if isinstance(loss, str):
        return loss
    if callable(loss) and not isinstance(loss, type) and _takes_no_arguments(loss):
        loss = loss()
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__))


def _takes_no_arguments(function: Any) -> bool:
    try:
        return not inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _metric_names(metrics: Any) -> tuple[str, ...]:
    metrics = [metrics] if isinstance(metrics, str) or not hasattr(metrics, "__iter__") else metrics
    return tuple(m if isinstance(m, str) else str(getattr(m, "name", m)) for m in metrics)
