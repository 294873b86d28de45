"""What one layer call costs: the per-layer table of the FLOP count, pure Python.

:func:`layer_cost` prices one :class:`LayerCall` per sample: a product (Dense, convolutions)
as its multiply-adds, 2 FLOPs each, its backward as the weights' gradient and, when a
trainable layer ran before, the input's; elementwise work (activations, normalization,
merges, pooling) as a small stated constant per element; recurrent layers and multi-head
attention whole (:data:`WHOLE`), from their inputs' shapes and settings; an operation of a
functional graph (``x + 3.0``) by its kind. ``harness.worker.flops`` adds up a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Per element, (forward, backward) FLOPs.
ACTIVATIONS: dict[str, tuple[int, int]] = {
    "linear": (0, 0),
    "relu": (1, 1),
    "relu6": (2, 1),
    "leaky_relu": (2, 2),
    "elu": (3, 3),
    "selu": (4, 3),
    "gelu": (8, 10),
    "sigmoid": (4, 3),  # neg, exp, add, divide / s * (1 - s) * dy
    "hard_sigmoid": (3, 1),
    "hard_silu": (5, 4),  # x + 3, clipped to [0, 6], / 6, times x / its piecewise gradient
    "hard_swish": (5, 4),
    "tanh": (1, 3),
    "softmax": (5, 4),  # max, subtract, exp, sum, divide / s * (dy - sum(s * dy))
    "log_softmax": (5, 3),
    "softplus": (3, 3),
    "softsign": (3, 3),
    "silu": (5, 5),
    "swish": (5, 5),
    "exponential": (1, 1),
}
ELEMENTWISE: dict[str, tuple[int, int]] = {
    "LeakyReLU": ACTIVATIONS["leaky_relu"],
    "ELU": ACTIVATIONS["elu"],
    "Softmax": ACTIVATIONS["softmax"],
    "Dropout": (2, 1),  # compare the random draw, scale / mask the gradient (draws not counted)
    "SpatialDropout1D": (2, 1),
    "SpatialDropout2D": (2, 1),
    "SpatialDropout3D": (2, 1),
    "BatchNormalization": (8, 9),  # mean, variance, normalize, scale and shift / its gradient
    "LayerNormalization": (8, 9),
    "Rescaling": (2, 1),  # x * scale + offset / dy * scale
    "Normalization": (2, 1),
}
FREE = frozenset(
    {
        "InputLayer",
        "Flatten",
        "Reshape",
        "Permute",
        "Identity",
        "Concatenate",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
    }
)
MERGES = frozenset({"Add", "Subtract", "Average", "Maximum", "Minimum", "Multiply"})
POOLS = frozenset({f"{k}Pooling{d}D" for k in ("Max", "Average") for d in (1, 2, 3)})
GLOBAL_POOLS = frozenset({f"Global{k}Pooling{d}D" for k in ("Max", "Average") for d in (1, 2, 3)})
MATMULS = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D"})  # grouped: kernel (*k, c / g, f)
DEPTHWISE = frozenset({"DepthwiseConv1D", "DepthwiseConv2D"})
SEPARABLE = frozenset({"SeparableConv1D", "SeparableConv2D"})
TRANSPOSED = frozenset({"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"})
# Layers priced as a whole from their inputs and settings, their sublayers (an RNN's cell,
# attention's projections) not walked; those of them not in ``RECURRENT`` and not attention
# stay uncounted (a custom cell, a wrapped layer run once per time step).
WHOLE = frozenset(
    {"LSTM", "GRU", "SimpleRNN", "RNN", "MultiHeadAttention", "GroupedQueryAttention"}
    | {"TimeDistributed", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
)


@dataclass(frozen=True)
class Recurrence:
    """Per unit and time step of a recurrent layer: its gates (column blocks of both
    kernels), how many gate and candidate activations it evaluates, and its state update's
    (forward, backward) FLOPs."""

    gates: int
    gate_activations: int
    activations: int
    state: tuple[int, int]


RECURRENT: dict[str, Recurrence] = {
    "SimpleRNN": Recurrence(1, 0, 1, (0, 0)),
    # r * (h U + b), 1 - z, z * h, (1 - z) * candidate, their sum / the gradients of each
    "GRU": Recurrence(3, 2, 1, (5, 7)),
    # f * c, i * g, their sum, o * act(c) / the gradients of each, the cell's gradient summed
    "LSTM": Recurrence(4, 3, 2, (4, 7)),
}
# Operations of a functional graph (``x + 3.0``, ``ops.multiply``): per output element
# forward, per output element and tensor operand backward. A unary math operation is priced
# as the activation of its name (``Tanh`` as ``tanh``).
OPERATIONS: dict[str, tuple[int, int]] = {
    "Add": (1, 0),
    "Subtract": (1, 0),
    "Multiply": (1, 1),
    "Divide": (1, 2),
    "TrueDivide": (1, 2),
    "Maximum": (1, 1),
    "Minimum": (1, 1),
    "Negative": (1, 1),
    "Exp": (1, 1),
    "Log": (1, 1),
    "Sqrt": (1, 2),
    "Square": (1, 2),
    "Abs": (1, 1),
}
FREE_OPERATIONS = frozenset(
    {"Reshape", "Transpose", "ExpandDims", "Squeeze", "Concatenate", "Stack", "Cast"}
    | {"GetItem", "Slice", "Split", "Flatten", "Identity", "Zeros", "Ones", "Arange", "Tile"}
    | {"BroadcastTo", "Repeat", "Pad"}
)


@dataclass(frozen=True)
class LayerCall:
    """One call of a leaf layer (or a whole one, :data:`WHOLE`) in the traced forward pass;
    shapes are per sample, or of the whole call when it does not see the batch
    (``batched=False``: a position embedding of ``arange(length)``, priced once a step).

    ``kernel`` is the main weight's shape (an RNN's input kernel, a separable convolution's
    depthwise kernel), ``bias`` the bias vectors added per output (a GRU resetting after
    the product adds 2), ``trainable`` and ``weights`` count the layer's trainable and all
    parameters, ``penalties`` pairs a penalized weight (``kernel``, ``bias``, ``activity``)
    with its penalty (``l1``, ``l2``, ``l1l2``) and that weight's size (per sample for
    ``activity``). Attention has ``inputs`` (query, value, key), ``heads`` (heads, key and
    value width), ``masked`` (a causal or given mask) and ``dropout``; an RNN its
    ``gate_activation``. ``operation`` marks an operation of a functional graph rather than
    a layer. ``stated`` is the plugin's own (forward, backward) FLOPs for this call at the
    step's batch size, which wins over the table.
    """

    name: str
    kind: str
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    kernel: tuple[int, ...] | None = None
    bias: int = 0
    trainable: int = 0
    weights: int = 0
    activation: str | None = None
    pool: tuple[int, ...] | None = None
    penalties: tuple[tuple[str, str, int], ...] = ()
    stated: tuple[float, float] | None = None
    batched: bool = True
    operation: bool = False
    gate_activation: str | None = None
    heads: tuple[int, int, int] | None = None
    masked: bool = False
    dropout: bool = False


Cost = tuple[float, float, tuple[int, int, int] | None]


def layer_cost(call: LayerCall, needs_input_grad: bool) -> Cost | None:
    """Per sample (per step for a call without the batch): (forward, backward, the largest
    matmul [m, k, n] or None); None for a layer the table does not know."""
    out = math.prod(call.output)
    if call.operation:
        return _operation_cost(call, out)
    if call.kind in RECURRENT:
        return _recurrent_cost(call, needs_input_grad)
    if call.heads is not None:  # MultiHeadAttention, or a subclass of it
        return _attention_cost(call, needs_input_grad)
    if call.kind in MATMULS | DEPTHWISE | SEPARABLE | TRANSPOSED and call.kernel:
        activation = ACTIVATIONS.get(call.activation or "linear")
        if activation is None:
            return None
        macs, input_macs, matmul = _macs(call)
        bias = out if call.bias else 0
        forward = 2 * macs + bias + activation[0] * out
        # the weights' gradient, and the inputs': the layer's own when needed, and a
        # separable convolution's pointwise product's (the depthwise output's) always
        backward = 2 * macs + 2 * input_macs * needs_input_grad + 2 * (macs - input_macs)
        return forward, backward + bias + activation[1] * out, matmul
    return _shapeless_cost(call, out)


def _macs(call: LayerCall) -> tuple[int, int, tuple[int, int, int] | None]:
    """Multiply-adds per sample, those of them that take the layer's input (whose gradient
    is needed only when a trainable layer ran before), and the product as a matmul."""
    kernel, out = call.kernel or (), math.prod(call.output)
    if call.kind in DEPTHWISE:  # kernel (*k, channels, multiplier): no reduction over channels
        macs = out * math.prod(kernel[:-2])
        return macs, macs, None
    if call.kind in SEPARABLE:  # the depthwise product above, then a 1x1 convolution
        rows, depth = out // call.output[-1], kernel[-2] * kernel[-1]
        depthwise = rows * depth * math.prod(kernel[:-2])
        return depthwise + out * depth, depthwise, (rows, depth, call.output[-1])
    if call.kind in TRANSPOSED:  # kernel (*k, filters, channels): each input scattered
        macs = math.prod(call.inputs[0]) // kernel[-1] * math.prod(kernel)
        return macs, macs, None
    rows, depth = out // kernel[-1], math.prod(kernel[:-1])  # kernel (*k, channels, filters)
    return rows * depth * kernel[-1], rows * depth * kernel[-1], (rows, depth, kernel[-1])


def _recurrent_cost(call: LayerCall, needs_input_grad: bool) -> Cost | None:
    """An RNN over its time steps: per step, the input's and the state's products with the
    kernels (``kernel`` (features, gates x units)), their sum, the bias, the activations and
    the state update; backward, both kernels' gradients, the state's gradient through the
    recurrent kernel, and the input's when needed."""
    spec = RECURRENT[call.kind]
    gate = ACTIVATIONS.get(call.gate_activation or "linear")
    candidate = ACTIVATIONS.get(call.activation or "linear")
    if not call.kernel or not call.inputs or gate is None or candidate is None:
        return None
    steps, (features, width) = math.prod(call.inputs[0][:-1]), call.kernel[-2:]
    units = width // spec.gates
    forward = 2 * (features + units) * width + (1 + call.bias) * width
    forward += units * (spec.gate_activations * gate[0] + spec.activations * candidate[0])
    backward = 2 * (features + 2 * units + features * needs_input_grad) * width
    backward += units * (spec.gate_activations * gate[1] + spec.activations * candidate[1])
    backward += call.bias * width
    matmul = (1, max(features, units), width)
    return (
        steps * (forward + units * spec.state[0]),
        steps * (backward + units * spec.state[1]),
        matmul,
    )


def _attention_cost(call: LayerCall, needs_input_grad: bool) -> Cost | None:
    """Multi-head attention: the query, key and value projections, the scores (QK^T, all
    query x key pairs, masked or not), their scaling, mask, softmax and dropout, the
    weighted sum of the values, and the output projection."""
    if len(call.inputs) < 2:
        return None
    heads, key_width, value_width = call.heads
    query, value = call.inputs[0], call.inputs[1]
    key = call.inputs[2] if len(call.inputs) > 2 else value
    queries, keys = math.prod(query[:-1]), math.prod(key[:-1])
    projections = [
        (queries, query[-1], heads * key_width),
        (keys, key[-1], heads * key_width),
        (keys, value[-1], heads * value_width),
    ]
    output = (queries, heads * value_width, call.output[-1])
    inputs_macs, output_macs = sum(math.prod(p) for p in projections), math.prod(output)
    scores = heads * queries * keys
    attend = scores * (key_width + value_width)  # QK^T and the weighted sum, multiply-adds
    softmax = ACTIVATIONS["softmax"]
    per_score = (1 + call.masked + softmax[0] + 2 * call.dropout, 1 + call.masked + softmax[1])
    bias = call.bias * (sum(p[0] * p[2] for p in projections) + math.prod(call.output))
    forward = 2 * (inputs_macs + output_macs + attend) + bias + per_score[0] * scores
    backward = 2 * inputs_macs * (1 + needs_input_grad) + 4 * (output_macs + attend)
    backward += bias + (per_score[1] + call.dropout) * scores
    return forward, backward, max([*projections, output], key=math.prod)


def _operation_cost(call: LayerCall, out: int) -> Cost | None:
    """An operation of a functional graph, per output element (and tensor operand)."""
    if call.kind in FREE_OPERATIONS:
        return 0.0, 0.0, None
    per = OPERATIONS.get(call.kind) or ACTIVATIONS.get(_snake(call.kind))
    if per is None:
        return None
    return per[0] * out, per[1] * out * max(1, len(call.inputs)), None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _shapeless_cost(call: LayerCall, out: int) -> Cost | None:
    """Layers priced per element of their input or output."""
    inputs = sum(math.prod(shape) for shape in call.inputs)
    if call.kind in FREE:
        return 0.0, 0.0, None
    if call.kind == "Embedding":  # a gather; backward, the rows' gradients added in
        return 0.0, float(out), None
    if call.kind in ("Activation", "ReLU"):
        default = "relu" if call.kind == "ReLU" else "linear"
        per = ACTIVATIONS.get(call.activation or default)
        return None if per is None else (per[0] * out, per[1] * out, None)
    if call.kind in ELEMENTWISE:
        per = ELEMENTWISE[call.kind]
        return per[0] * out, per[1] * out, None
    if call.kind in MERGES:
        extra = 2 * (len(call.inputs) - 1) * out if call.kind == "Multiply" else 0
        return (len(call.inputs) - 1) * out, extra, None
    if call.kind in POOLS and call.pool:
        window = math.prod(call.pool)
        return window * out, window * out, None
    if call.kind in GLOBAL_POOLS:
        return inputs + out, inputs, None
    return None
