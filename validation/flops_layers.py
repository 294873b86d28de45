"""Each layer kind the FLOP counter prices, alone, against XLA's cost analysis.

    python -m validation.flops_layers [--batch-size 32] [--out FILE]

For one small layer of each kind (the zoo's: Embedding, LSTM, GRU, SimpleRNN, attention with
and without a causal mask, LayerNormalization, the convolutions, hard_silu, ...), under the
JAX backend: the counter's forward and forward + backward FLOPs of its call
(``harness.worker.layer_costs``), and the ``flops`` XLA's cost analysis gives the traced
forward pass (``training=True``) and the value and gradient of a probe loss
``vdot(output, c)``, less that probe's own (its product and its gradient, as XLA counts
them alone: the row ``linear`` shows the rest is 0), traced and compiled for this machine.
The gradient is taken
with respect to the weights, or to the input for a layer without weights (as the counter
prices a first layer, and a later one). Recurrent layers are unrolled (XLA counts a loop's
body once). Prints one table and writes the figures to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from harness.plugin import ModelPlugin
from harness.worker import layer_cost, trace_calls
from validation.flops_xla import show_and_save


def kinds(keras: Any) -> dict[str, tuple[tuple[int, ...], str, Callable[[], Any]]]:
    """Each case: the per-sample input shape, its dtype, and the layer."""
    layers = keras.layers

    class SelfAttention(layers.Layer):
        """Attention of a sequence to itself, causal or not (the way a block calls it)."""

        def __init__(self, causal: bool = False) -> None:
            super().__init__()
            self.attention, self.causal = layers.MultiHeadAttention(2, 16), causal

        def call(self, x: Any) -> Any:
            return self.attention(x, x, use_causal_mask=self.causal)

    return {
        "linear (the probe alone)": ((32, 32), "float32", lambda: layers.Activation("linear")),
        "Embedding": ((32,), "int32", lambda: layers.Embedding(500, 16)),
        "LSTM": ((32, 16), "float32", lambda: layers.LSTM(16, unroll=True)),
        "GRU": ((32, 16), "float32", lambda: layers.GRU(16, unroll=True)),
        "SimpleRNN": ((32, 16), "float32", lambda: layers.SimpleRNN(16, unroll=True)),
        "MultiHeadAttention": ((32, 32), "float32", SelfAttention),
        "causal attention": ((32, 32), "float32", lambda: SelfAttention(causal=True)),
        "LayerNormalization": ((32, 32), "float32", layers.LayerNormalization),
        "Conv1D same": ((64, 3), "float32", lambda: layers.Conv1D(16, 5, padding="same")),
        "DepthwiseConv2D": ((16, 16, 8), "float32", lambda: layers.DepthwiseConv2D(3)),
        "SeparableConv2D": ((16, 16, 8), "float32", lambda: layers.SeparableConv2D(16, 3)),
        "Conv2D groups=2": ((16, 16, 8), "float32", lambda: layers.Conv2D(16, 3, groups=2)),
        "hard_silu": ((32, 32), "float32", lambda: layers.Activation("hard_silu")),
        "ReLU(6)": ((32, 32), "float32", lambda: layers.ReLU(6.0)),
        "softmax": ((32, 32), "float32", lambda: layers.Activation("softmax")),
        "Rescaling": ((32, 32), "float32", lambda: layers.Rescaling(0.5, 0.1)),
        "GlobalAveragePooling1D": ((32, 32), "float32", layers.GlobalAveragePooling1D),
        "AveragePooling1D": ((64, 16), "float32", lambda: layers.AveragePooling1D(4)),
        "Dropout": ((32, 32), "float32", lambda: layers.Dropout(0.1)),
    }


def measure(name: str, shape: tuple[int, ...], dtype: str, make: Any, batch: int) -> dict:
    """The counter's and XLA's FLOPs of one layer's forward pass and of its gradient."""
    import jax
    import keras

    model = keras.Sequential([keras.Input(shape, dtype=dtype), make()])
    x = np.ones((batch, *shape), dtype)
    plugin = ModelPlugin("one_layer", "layers", name, "flat", lambda *_: model)
    calls = trace_calls(model, plugin, x[:1], batch, jax.eval_shape)[0]
    weights = bool(model.trainable_variables)
    costs = [layer_cost(call, needs_input_grad=not weights) for call in calls]
    ours = [sum(batch * c[i] for c in costs if c is not None) for i in (0, 1)]
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    probe = np.ones(model.compute_output_shape((batch, *shape)), "float32")

    def forward(trainable: Any, x: Any) -> Any:
        return model.stateless_call(trainable, frozen, x, training=True)[0]

    def loss(trainable: Any, x: Any) -> Any:
        return jax.numpy.vdot(forward(trainable, x), probe)

    wrt = 0 if weights else 1
    xla_forward = jax.jit(forward).lower(trainable, x).cost_analysis()
    lowered = jax.jit(jax.value_and_grad(loss, argnums=wrt)).lower(trainable, x)
    both, compiled = lowered.cost_analysis(), lowered.compile().cost_analysis()
    alone = jax.jit(jax.value_and_grad(lambda y: jax.numpy.vdot(y, probe))).lower(probe)
    probe_cost = alone.cost_analysis().get("flops", 0.0)  # the probe's product and gradient
    probe_compiled = alone.compile().cost_analysis().get("flops", 0.0)
    return {
        "layer": name,
        "ours_forward": ours[0],
        "xla_forward": float(xla_forward.get("flops", 0.0)),
        "ours_both": ours[0] + ours[1],
        "xla_both": float(both.get("flops", 0.0)) - probe_cost,
        "xla_both_compiled": float(compiled.get("flops", 0.0)) - probe_compiled,
        "transcendentals": float(xla_forward.get("transcendentals", 0.0)),
        "uncounted": [c.kind for c, cost in zip(calls, costs, strict=True) if cost is None],
    }


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="One layer, batch of 32: the counter's FLOPs and XLA's (kFLOP)")
    columns = ("layer", "ours fwd", "xla fwd", "fwd ratio", "ours fwd+bwd", "xla fwd+bwd")
    columns += ("both ratio", "xla fwd+bwd compiled", "xla transc. fwd")
    for index, column in enumerate(columns):
        out.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        kilo = 1e-3
        out.add_row(
            row["layer"],
            f"{row['ours_forward'] * kilo:,.1f}",
            f"{row['xla_forward'] * kilo:,.1f}",
            _ratio(row["ours_forward"], row["xla_forward"]),
            f"{row['ours_both'] * kilo:,.1f}",
            f"{row['xla_both'] * kilo:,.1f}",
            _ratio(row["ours_both"], row["xla_both"]),
            f"{row['xla_both_compiled'] * kilo:,.1f}",
            f"{row['transcendentals'] * kilo:,.1f}",
        )
    return out


def _ratio(ours: float, xla: float) -> str:
    return f"{ours / xla:.3f}" if xla and math.isfinite(xla) else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.flops_layers", description=__doc__)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported
    import keras

    cases = kinds(keras)
    rows = [measure(name, *case, args.batch_size) for name, case in cases.items()]
    show_and_save(rows, table(rows), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
