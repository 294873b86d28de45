"""FLOPs of one training step, counted layer by layer: the counting convention, pure Python.

The worker traces the built model (``harness.worker.trace``) into :class:`LayerCall` records
and the rest of the step into a :class:`StepSpec`; :func:`count_step` prices them with the
constants below. A multiply-add is 2 FLOPs; a transcendental (exp, log, tanh, sqrt) is 1.
The backward pass of a Dense or convolution layer is its forward product twice over (the
gradient of the weights and of the input), less the input's when no trainable layer ran
before it; elementwise work is a small stated constant per element (each layer's price:
``harness.worker.layer_costs``). docs/efficiency.md has the whole table and where the
count and what a backend executes part ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.records.efficiency import FlopCount
from harness.worker.layer_costs import LayerCall, layer_cost

# Per element of the predictions, (forward, backward); plus 1 per sample for the batch mean.
LOSSES: dict[str, tuple[int, int]] = {
    "sparse_categorical_crossentropy": (6, 5),  # normalize, clip, log, pick
    "categorical_crossentropy": (6, 5),
    "binary_crossentropy": (8, 6),
    "mean_squared_error": (3, 2),
    "mean_absolute_error": (3, 2),
}
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
ACCURACIES = frozenset(
    {"accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy"}
)
# Per prediction element (difference, absolute value or square, sum); plus 1 per sample.
ERROR_METRICS: dict[str, int] = {
    "mae": 3,
    "mean_absolute_error": 3,
    "mse": 3,
    "mean_squared_error": 3,
}
# Per penalized weight (or activity element), (forward, backward).
PENALTIES: dict[str, tuple[int, int]] = {"l1": (2, 3), "l2": (2, 3), "l1l2": (4, 6)}
# Per trainable parameter: (FLOPs, float32 words read + written) of one update.
OPTIMIZERS: dict[str, tuple[int, int]] = {
    "sgd": (2, 3),  # w -= lr * g
    "adam": (12, 7),  # m: 3, v: 4, w -= lr * m / (sqrt(v) + eps): 5
    "adamw": (14, 7),  # adam and the decoupled weight decay
    "adamax": (10, 7),
    "rmsprop": (9, 5),
    "adagrad": (7, 5),
}
WORD = 4  # bytes of a float32 variable (variables stay float32 under mixed precision)


@dataclass(frozen=True)
class StepSpec:
    """The rest of a training step: predictions per output (per-sample shapes), the loss and
    metrics on each, the optimizer (``OPTIMIZERS`` key and its options), the activations'
    bytes per element."""

    outputs: dict[str, tuple[int, ...]]
    losses: dict[str, str]
    metrics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    optimizer: str = "adam"
    optimizer_extra: int = 0  # FLOPs per parameter for momentum, clipping, loss scaling
    trainable_params: int = 0
    itemsize: int = 4


@dataclass
class _Tally:
    forward: float = 0.0
    backward: float = 0.0
    loss: float = 0.0
    optimizer: float = 0.0
    bytes_moved: float = 0.0
    matmul: tuple[int, int, int] | None = None
    uncounted: list[str] = field(default_factory=list)
    stated: bool = False


def count_step(calls: list[LayerCall], step: StepSpec, batch_size: int) -> FlopCount:
    """The FLOPs of one training step of ``batch_size`` samples."""
    tally = _Tally()
    upstream_trainable = False
    for call in calls:
        _add_layer(tally, call, batch_size, upstream_trainable, step.itemsize)
        upstream_trainable = upstream_trainable or call.trainable > 0
    _add_loss(tally, step, batch_size)
    _add_optimizer(tally, step)
    return FlopCount(
        total=tally.forward + tally.backward + tally.loss + tally.optimizer,
        forward=tally.forward,
        backward=tally.backward,
        loss=tally.loss,
        optimizer=tally.optimizer,
        bytes_moved=tally.bytes_moved,
        batch_size=batch_size,
        largest_matmul=list(tally.matmul) if tally.matmul else None,
        counted_by="harness+plugin" if tally.stated else "harness",
        uncounted=sorted(set(tally.uncounted)),
    )


def _add_layer(
    tally: _Tally, call: LayerCall, batch: int, needs_input_grad: bool, itemsize: int
) -> None:
    """One call's forward and backward FLOPs, its penalties and its traffic: its inputs,
    output and weights once forward, twice again backward (read, and write the gradients)."""
    backward_needed = needs_input_grad or call.trainable > 0
    times = batch if call.batched else 1
    elements = sum(math.prod(shape) for shape in call.inputs) + math.prod(call.output)
    moved = times * elements * itemsize + WORD * call.weights
    tally.bytes_moved += moved * (3 if backward_needed else 1)
    _add_penalties(tally, call, times)
    if call.stated is not None:
        tally.forward += call.stated[0]
        tally.backward += call.stated[1]
        tally.stated = True
        return
    cost = layer_cost(call, needs_input_grad)
    if cost is None:
        tally.uncounted.append(f"{'op' if call.operation else 'layer'} {call.kind}")
        return
    forward, backward, matmul = cost
    tally.forward += times * forward
    tally.backward += times * backward if backward_needed else 0.0
    if matmul is not None:
        shape = (times * matmul[0], matmul[1], matmul[2])
        if tally.matmul is None or math.prod(shape) > math.prod(tally.matmul):
            tally.matmul = shape


def _add_penalties(tally: _Tally, call: LayerCall, batch: int) -> None:
    """A layer's weight and activity penalties and their gradients, counted with the loss."""
    for what, penalty, size in call.penalties:
        if penalty not in PENALTIES:
            tally.uncounted.append(f"penalty {penalty}")
            continue
        tally.loss += (batch if what == "activity" else 1) * size * sum(PENALTIES[penalty])


def _add_loss(tally: _Tally, step: StepSpec, batch: int) -> None:
    """The loss on each output, its gradient, and the compiled metrics."""
    for name, shape in step.outputs.items():
        size = math.prod(shape)
        loss = LOSS_ALIASES.get(step.losses.get(name, ""), step.losses.get(name, ""))
        if loss in LOSSES:
            forward, backward = LOSSES[loss]
            tally.loss += batch * (size * (forward + backward) + 1)
        else:
            tally.uncounted.append(f"loss {loss or '?'}")
        tally.bytes_moved += 2 * batch * size * step.itemsize
        for metric in step.metrics.get(name, ()):
            if metric in ACCURACIES:
                tally.loss += batch * (size + 2)  # argmax (or threshold), compare, count
            elif metric in ERROR_METRICS:
                tally.loss += batch * (ERROR_METRICS[metric] * size + 1)
            else:
                tally.uncounted.append(f"metric {metric}")


def _add_optimizer(tally: _Tally, step: StepSpec) -> None:
    per = OPTIMIZERS.get(step.optimizer)
    if per is None:
        tally.uncounted.append(f"optimizer {step.optimizer}")
        return
    tally.optimizer += step.trainable_params * (per[0] + step.optimizer_extra)
    tally.bytes_moved += step.trainable_params * per[1] * WORD


def optimizer_extra(
    name: str, momentum: float = 0.0, nesterov: bool = False, **options: object
) -> int:
    """FLOPs per parameter on top of ``OPTIMIZERS[name]``: SGD's momentum (2, Nesterov 5),
    AMSGrad's maximum (1), a weight decay (2), clipping by norm (3) or value (2), and a
    loss-scale optimizer's unscaling and finiteness check (2)."""
    extra = 0
    if name == "sgd" and momentum:
        extra += 5 if nesterov else 2
    extra += 1 if options.get("amsgrad") else 0
    extra += 2 if options.get("weight_decay") and name != "adamw" else 0
    extra += 3 if options.get("clipnorm") or options.get("global_clipnorm") else 0
    extra += 2 if options.get("clipvalue") else 0
    extra += 2 if options.get("loss_scale") else 0
    return extra
