"""Does the harness's FLOP count agree with XLA's cost analysis of the JAX training step?

    python -m validation.flops_xla [--plugins dense_mlp,zoo] [--plugin-path FILE]
                                   [--batch-size 32] [--out FILE]

For every built-in plugin (or ``--plugins``: names or families, such as ``zoo``), under the
JAX backend and in this process, on a batch of the plugin's data (Fashion-MNIST-shaped
noise, or the synthetic data made from its declared inputs and task):
the harness's count of one training step (``count_model``, as a worker counts it), and the
``flops`` of XLA's cost analysis of the same step, ``jax.jit(model.train_step)`` lowered
on one batch, before optimisation (the HLO as traced) and after it (compiled for this
machine). Also the forward pass alone (``stateless_call`` with ``training=True``) on both
sides, and XLA's transcendental count, which its ``flops`` leave out. Recurrent layers are
unrolled on XLA's side (its cost analysis counts a loop's body once). Prints one table and
writes the figures (with what the count left out) to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from harness import registry, synthetic
from harness.plugin import ModelPlugin
from harness.records import write_json_atomic
from harness.run import RunSettings
from harness.worker import Session, count_model, inputs_targets

COLUMNS = (
    "plugin",
    "ours",
    "xla traced",
    "xla compiled",
    "ours / compiled",
    "ours fwd",
    "xla fwd",
    "xla transc.",
    "left out",
)


def xla_costs(model: Any, x: Any, y: Any) -> dict[str, float]:
    """XLA's flops of the training step (traced and compiled) and of the forward pass."""
    import jax

    batch = len(next(iter(y.values())) if isinstance(y, dict) else y)
    unroll(model)  # before the step is first traced (a later trace may reuse that one)
    model.fit(x, y, batch_size=batch, verbose=0)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    lowered = jax.jit(model.train_step).lower(state, (x, y))
    traced, compiled = lowered.cost_analysis(), lowered.compile().cost_analysis()

    training = {"training": True} if "training" in inspect.signature(model.call).parameters else {}

    def forward(trainable: Any, non_trainable: Any, inputs: Any) -> Any:
        return model.stateless_call(trainable, non_trainable, inputs, **training)[0]

    forward_cost = jax.jit(forward).lower(state[0], state[1], x).cost_analysis()
    return {
        "traced": float(traced["flops"]),
        "compiled": float(compiled["flops"]),
        "transcendentals": float(compiled.get("transcendentals", 0.0)),
        "forward": float(forward_cost["flops"]),
    }


def batch_of(plugin: ModelPlugin, batch: int) -> tuple[Any, Any]:
    """One batch of the plugin's inputs and targets."""
    if plugin.task is not None:
        data = synthetic.generate(plugin.inputs, plugin.task, batch, 0, seed=0)
        return data.x_train, data.y_train
    rng = np.random.default_rng(0)
    pixels = rng.random((batch, 784), dtype=np.float32).reshape(batch, *plugin.input_shape)
    return inputs_targets(plugin, pixels, np.arange(batch) % 10)


def unroll(model: Any) -> None:
    """Every recurrent layer unrolled: XLA's cost analysis counts a loop's body once, not
    once per iteration, so a scanned RNN would show one time step; unrolled, the same
    arithmetic shows every step."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if hasattr(layer, "cell") and hasattr(layer, "unroll"):
            layer.unroll = True


def measure(plugin: ModelPlugin, batch_size: int | None) -> dict[str, Any]:
    """Both counts of one plugin's training step."""
    import keras

    session = Session(keras, plugin, RunSettings(batch_size=batch_size), "jax")
    batch = session.batch_size
    x, y = batch_of(plugin, batch)
    model = session.build(10)
    dtype = keras.config.dtype_policy().compute_dtype
    one = {k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1]
    ours = count_model(model, plugin, one, batch, dtype)
    xla = xla_costs(model, x, y)
    return {
        "plugin": plugin.name,
        "batch_size": batch,
        "ours": ours.total,
        "ours_parts": {p: getattr(ours, p) for p in ("forward", "backward", "loss", "optimizer")},
        "uncounted": ours.uncounted,
        "xla": xla,
        "ours_over_compiled": ours.total / xla["compiled"],
    }


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="FLOPs per training step: the harness's count and XLA's (MFLOP)")
    for index, column in enumerate(COLUMNS):
        out.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        xla, mega = row["xla"], 1e-6
        out.add_row(
            row["plugin"],
            f"{row['ours'] * mega:,.2f}",
            f"{xla['traced'] * mega:,.2f}",
            f"{xla['compiled'] * mega:,.2f}",
            f"{row['ours_over_compiled']:.3f}",
            f"{row['ours_parts']['forward'] * mega:,.2f}",
            f"{xla['forward'] * mega:,.2f}",
            f"{xla['transcendentals'] * mega:,.3f}",
            ", ".join(row["uncounted"]) or "-",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.flops_xla", description=__doc__)
    parser.add_argument(
        "--plugins", help="names or families, comma-separated (default: every built-in plugin)"
    )
    parser.add_argument("--plugin-path", action="append", default=[], help="a plugin file")
    parser.add_argument("--batch-size", type=int, help="default: each plugin's own (32)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported, in measure()
    found = registry.discover(args.plugin_path)
    builtin = [n for n, r in found.items() if r.origin.startswith("plugins.")]
    plugins = registry.select(found, args.plugins.split(",") if args.plugins else builtin)
    missing = {p.name: p.unmet_requirement() for p in plugins}
    for name, reason in missing.items():
        if reason:
            print(f"{name}: unavailable ({reason})", file=sys.stderr)
    rows = [measure(p, args.batch_size) for p in plugins if not missing[p.name]]
    show_and_save(rows, table(rows), args.out)
    return 0


def show_and_save(rows: list[dict[str, Any]], shown: Table, out: Path | None) -> None:
    """Print the table; with ``out``, write the rows with the date and the command line."""
    Console(width=160).print(shown)
    if out:
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(out, {"created": created, "command": sys.argv, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
