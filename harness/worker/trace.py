"""What a built model computes in one training step, read from the model (worker side).

One forward call on two copies of a sample, with the ``call`` of every leaf layer, of every
layer priced whole (``layer_costs.WHOLE``: an RNN, attention) and of every operation of a
functional graph recorded, gives each call's shapes in execution order (subclassed models,
custom layers' sublayers and shared layers included; on JAX the call is traced abstractly,
``WorkerBackend.shapes_of``, so nothing compiles). A call none of whose tensors has the
batch of two in front (a position embedding of ``arange(length)``) runs once a step. The
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

import numpy as np

from harness.plugin import ModelPlugin
from harness.records.efficiency import FlopCount
from harness.worker.flops import LayerCall, StepSpec, count_step, optimizer_extra
from harness.worker.layer_costs import WHOLE
from harness.worker.model import take

ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
TRACED_BATCH = 2  # the batch traced: a tensor without it in front does not see the batch


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
    calls, outputs = trace_calls(model, plugin, sample, batch_size, shapes_of)
    step = step_spec(model, plugin, outputs, ITEMSIZE.get(compute_dtype, 4))
    return count_step(calls, step, batch_size)


def trace_calls(
    model: Any,
    plugin: ModelPlugin,
    sample: Any,
    batch_size: int,
    shapes_of: Callable[..., Any] | None = None,
) -> tuple[list[LayerCall], dict[str, tuple[int, ...]]]:
    """Every priced call of one forward pass, and the per-sample shape of each output."""
    recorded: list[tuple[Any, dict[str, Any], Any]] = []
    run = shapes_of or (lambda function, *args: function(*args))
    batch = take(sample, np.zeros(TRACED_BATCH, dtype=int))
    with _recording([*_priced(model), *_operations(model)], recorded):
        predictions = run(lambda x: model(x, training=False), batch)
    calls = [_call(layer, arguments, out, plugin, batch_size) for layer, arguments, out in recorded]
    return calls, _outputs(model, predictions)


def _priced(layer: Any, seen: set[int] | None = None) -> list[Any]:
    """The layers priced on their own: those with no sublayers and those priced whole (their
    sublayers not walked); a layer with sublayers counts as its sublayers (its own
    arithmetic beyond them is not seen)."""
    seen = set() if seen is None else seen
    found = []
    for sub in layer._flatten_layers(include_self=False, recursive=False):
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        whole = bool(_ancestry(sub) & WHOLE) or hasattr(sub, "cell")
        if whole or not sub._flatten_layers(include_self=False, recursive=False):
            found.append(sub)
        else:
            found.extend(_priced(sub, seen))
    return found


def _operations(model: Any) -> list[Any]:
    """The operations of every functional graph in the model that are not layers
    (``x + 3.0`` between two layers)."""
    graphs = [model, *model._flatten_layers(include_self=False, recursive=True)]
    return [
        op
        for graph in graphs
        if getattr(graph, "_nodes_by_depth", None) is not None
        for op in getattr(graph, "operations", ())
        if not hasattr(op, "_flatten_layers")
    ]


@contextlib.contextmanager
def _recording(layers: list[Any], sink: list[tuple[Any, dict[str, Any], Any]]) -> Iterator[None]:
    """Each layer's ``call`` wrapped to append (layer, its arguments by name, output) to
    ``sink``."""
    for layer in layers:
        original = layer.call

        def recorded(*args: Any, _layer: Any = layer, _call: Any = original, **kwargs: Any):
            out = _call(*args, **kwargs)
            sink.append((_layer, _arguments(_call, args, kwargs), out))
            return out

        layer.call = recorded
    try:
        yield
    finally:
        for layer in layers:
            del layer.call


def _arguments(function: Any, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments by name, in the signature's order (positional ones as given when
    the signature cannot be read)."""
    try:
        return dict(inspect.signature(function).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {f"arg{i}": arg for i, arg in enumerate(args)} | kwargs


def _call(
    layer: Any, arguments: dict[str, Any], out: Any, plugin: ModelPlugin, batch: int
) -> LayerCall:
    tensors = _inputs(layer, arguments)
    outputs = _tensors(out)
    batched = any(t.shape and t.shape[0] == TRACED_BATCH for t in [*tensors, *outputs])
    inputs = tuple(_shape(t, batched) for t in tensors)
    output = _shape(next(iter(outputs), None), batched)
    owner = getattr(layer, "cell", layer)  # an RNN's weights are its cell's
    kernel = getattr(owner, "kernel", None)
    kernel = kernel if kernel is not None else getattr(owner, "depthwise_kernel", None)
    operation = not hasattr(layer, "_flatten_layers")  # of a functional graph, not a layer
    stated = None
    if plugin.layer_flops is not None and not operation:
        stated = _stated(plugin, layer, inputs, output, batch if batched else None)
    return LayerCall(
        name=layer.name,
        kind=type(layer).__name__,
        inputs=inputs,
        output=output,
        kernel=tuple(int(d) for d in kernel.shape) if kernel is not None else None,
        bias=_biases(layer, owner),
        trainable=_size(getattr(layer, "trainable_weights", [])),
        weights=_size(getattr(layer, "weights", [])),
        activation=_activation(layer),
        pool=_pool(getattr(layer, "pool_size", None)),
        penalties=_penalties(layer, output),
        stated=stated,
        batched=batched,
        operation=operation,
        gate_activation=_name(getattr(layer, "recurrent_activation", None)),
        heads=_heads(layer),
        masked=_masked(arguments),
        dropout=bool(getattr(layer, "dropout", 0)) and _heads(layer) is not None,
    )


def _inputs(layer: Any, arguments: dict[str, Any]) -> list[Any]:
    """The tensors a call computes on: attention's query, value and key; every tensor
    operand of an operation; a layer's first argument."""
    if _heads(layer) is not None:
        names = ("query", "value", "key")
        return [arguments[n] for n in names if arguments.get(n) is not None]
    if not hasattr(layer, "_flatten_layers"):
        return _tensors(list(arguments.values()))
    return _tensors(next(iter(arguments.values()), ()))


def _shape(tensor: Any, batched: bool) -> tuple[int, ...]:
    """Per sample where the call sees the batch (and the tensor has it in front)."""
    if tensor is None:
        return ()
    shape = tuple(int(d) for d in tensor.shape)
    return shape[1:] if batched and shape and shape[0] == TRACED_BATCH else shape


def _biases(layer: Any, owner: Any) -> int:
    """The bias vectors added per output: 0, 1, or a GRU's 2 (input and recurrent)."""
    bias = getattr(owner, "bias", None)
    if bias is None or not hasattr(bias, "shape"):
        return int(bool(getattr(layer, "use_bias", False)) and _heads(layer) is not None)
    return int(bias.shape[0]) if len(bias.shape) == 2 else 1


def _activation(layer: Any) -> str | None:
    if type(layer).__name__ == "ReLU":  # its options make it another function
        if getattr(layer, "negative_slope", 0):
            return "leaky_relu"
        return "relu6" if getattr(layer, "max_value", None) is not None else "relu"
    return _name(getattr(layer, "activation", None))


def _ancestry(layer: Any) -> set[str]:
    """The names of the layer's class and its bases (keras-hub's attention is Keras's)."""
    return {cls.__name__ for cls in type(layer).__mro__}


def _heads(layer: Any) -> tuple[int, int, int] | None:
    """(heads, key width, value width) of a MultiHeadAttention (or a subclass)."""
    if "MultiHeadAttention" not in _ancestry(layer):
        return None
    value_dim = getattr(layer, "value_dim", None) or layer.key_dim
    return int(layer.num_heads), int(layer.key_dim), int(value_dim)


def _masked(arguments: dict[str, Any]) -> bool:
    masks = ("attention_mask", "query_mask", "value_mask", "key_mask")
    return bool(arguments.get("use_causal_mask")) or any(
        arguments.get(m) is not None for m in masks
    )


def _stated(
    plugin: ModelPlugin, layer: Any, inputs: tuple, output: tuple, batch: int | None
) -> tuple[float, float] | None:
    """The plugin's (forward, backward) FLOPs for this call at the step's batch size (the
    shapes as they are for a call without the batch)."""
    front = () if batch is None else (batch,)
    answer = plugin.layer_flops(  # type: ignore[misc]
        layer, tuple((*front, *s) for s in inputs), (*front, *output)
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
