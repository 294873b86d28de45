"""Does the harness's step time agree with the marginal cost of one more step?

For ``dense_mlp`` at batch 32 on each backend, each round is one fresh worker process (the
worker's environment) that alternates, ``--blocks`` times:

1. the harness's own measurement: the worker's ``Session.time_steps`` with the ``quick``
   profile's window plan (N sized to the plan, alternating N / 2N-step fits, the median of
   the pairs' marginal costs), exactly what a ``kbench`` cell reports;
2. an independent one on a fresh model: the time of ``fit`` over 2N steps minus the time
   over N steps, divided by N, with a long N (200 by default) and medians of alternating
   repeats, which cancels every fixed per-fit cost;
3. once per round, for contrast, the method the harness rejects: a Python timer around each
   batch in a per-batch callback (which also turns off Keras's asynchronous dispatch).

Both measurements share the process, so the ratio (1) / (2) of each block is free of the
process-to-process scatter (10-20% on a shared 2-core machine, which the regression gate
handles with many processes) and tests the estimator itself. Passes (exit 0) when, on every
backend, the median ratio over all blocks of all rounds is within ``--tolerance`` (10%) of 1;
its 95% bootstrap CI is printed next to it.

    python -m validation.timing.step_time [--backend jax,torch] [--rounds 3] [--blocks 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.backends import BACKENDS, worker_env
from harness.errors import UsageError
from harness.records import marginal_step_cost, write_json_atomic
from harness.run import PROFILES, RunSettings, parse_selection, select_backends
from harness.stats import median_ci
from harness.worker import Session, cycle_samples

PLUGIN, BATCH, PROFILE = "dense_mlp", 32, "quick"
console = Console()


def child(backend: str, steps: int, repeats: int, blocks: int) -> dict:
    """In a fresh process: ``blocks`` alternations of the harness's estimate and the marginal."""
    import keras

    from harness import datasets, registry
    from harness.backends import worker_backend

    plugin = registry.discover()[PLUGIN].plugin
    settings = RunSettings(profile=PROFILE, batch_size=BATCH, timing=PROFILES[PROFILE].timing)
    session = Session(keras, plugin, settings, backend)
    data = datasets.load_dataset("synthetic")
    x, y = data.x_train.reshape((-1, *plugin.input_shape)), data.y_train
    out: dict = {"harness_ms": [], "harness_window_steps": [], "marginal_ms": []}
    for _ in range(blocks):
        step = session.time_steps(x, y, data.num_classes, predict=False)["step"]
        out["harness_ms"].append(step.median)
        out["harness_window_steps"].append(step.window_steps)
        out["marginal_ms"].append(_marginal_ms(session, x, y, steps, repeats))
    model = session.build(data.num_classes)
    out["per_batch_timer_ms"] = _per_batch_timer(keras, model, *cycle_samples(x, y, steps * BATCH))
    worker_backend(backend).sync(model)
    return out


def _marginal_ms(session: Session, x, y, steps: int, repeats: int) -> float:
    """(T(2N) - T(N)) / N on a fresh model: medians of ``repeats`` alternating fits each."""
    model = session.build()
    n_set, twice_set = cycle_samples(x, y, steps * BATCH), cycle_samples(x, y, 2 * steps * BATCH)
    for warm in (n_set, twice_set):
        session.timed_fit(model, *warm)
    seconds_n: list[float] = []
    seconds_2n: list[float] = []
    for i in range(repeats):
        order = [(n_set, seconds_n), (twice_set, seconds_2n)]
        for (xs, ys), times in order[:: 1 if i % 2 == 0 else -1]:
            times.append(session.timed_fit(model, xs, ys))
    return marginal_step_cost(seconds_n, seconds_2n, steps) * 1000.0


def _per_batch_timer(keras, model, x, y) -> float:
    """The naive reading: a timer around each batch in a callback (median ms)."""

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    timer = BatchTimer()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[timer])
    return statistics.median(timer.times) * 1000.0


def run_round(backend: str, steps: int, repeats: int, blocks: int) -> dict:
    """One fresh process with the worker's environment, as ``kbench`` starts a cell."""
    env = {**os.environ, **worker_env(backend, "cpu", None)}
    command = [sys.executable, "-m", "validation.timing.step_time", "--child", backend]
    command += ["--steps", str(steps)]
    command += ["--repeats", str(repeats), "--blocks", str(blocks)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{backend}: validation process failed: {tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_backend(backend: str, steps: int, repeats: int, rounds: int, blocks: int) -> dict:
    """``rounds`` processes of ``blocks`` paired blocks each; the ratios pooled over all."""
    children = [run_round(backend, steps, repeats, blocks) for _ in range(rounds)]
    harness_ms = [v for c in children for v in c["harness_ms"]]
    marginal_ms = [v for c in children for v in c["marginal_ms"]]
    ratios = [h / m for h, m in zip(harness_ms, marginal_ms, strict=True)]
    return {
        "backend": backend,
        "harness_median_ms": statistics.median(harness_ms),
        "marginal_median_ms": statistics.median(marginal_ms),
        "ratio": statistics.median(ratios),
        "ratio_ci": median_ci(ratios),
        "ratios": ratios,
        "harness_process_medians_ms": [statistics.median(c["harness_ms"]) for c in children],
        "per_batch_timer_ms": statistics.median(c["per_batch_timer_ms"] for c in children),
        "rounds": children,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--child BACKEND`` is the per-process side, started by a round)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(BACKENDS))
    parser.add_argument("--steps", type=int, default=200, help="N of the independent marginal")
    parser.add_argument("--repeats", type=int, default=5, help="fits per length, per block")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per backend")
    parser.add_argument("--blocks", type=int, default=3, help="paired blocks per process")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def results_table(rows: list[dict], tolerance: float) -> Table:
    """One row per backend: both medians, the ratio (red outside ``tolerance``), its CI."""
    title = f"{PLUGIN}, batch {BATCH}: harness step time vs marginal cost, in the same process"
    table = Table(title=title)
    columns = ("backend", "harness ms", "marginal ms", "ratio", "95% CI", "blocks")
    for column in (*columns, "harness per process ms", "per-batch timer ms"):
        table.add_column(column, justify="right")
    for r in rows:
        ok = abs(r["ratio"] - 1) <= tolerance
        low_high = r["ratio_ci"]
        table.add_row(
            r["backend"],
            f"{r['harness_median_ms']:.3f}",
            f"{r['marginal_median_ms']:.3f}",
            f"[{'green' if ok else 'red'}]{r['ratio']:.3f}[/]",
            f"{low_high[0]:.3f}-{low_high[1]:.3f}" if low_high else "n/a",
            str(len(r["ratios"])),
            " / ".join(f"{v:.2f}" for v in r["harness_process_medians_ms"]),
            f"{r['per_batch_timer_ms']:.3f}",
        )
    return table


def main() -> int:
    parser = build_parser()
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.repeats, args.blocks)))
        return 0
    try:
        chosen = select_backends(parse_selection([args.backend]))
    except UsageError as error:
        parser.error(str(error))
    rows = [measure_backend(b, args.steps, args.repeats, args.rounds, args.blocks) for b in chosen]
    console.print(results_table(rows, args.tolerance))
    if args.out:
        write_json_atomic(args.out, rows)
    passed = all(abs(r["ratio"] - 1) <= args.tolerance for r in rows)
    console.print(
        f"median ratio within {args.tolerance:.0%} on every backend: {'yes' if passed else 'NO'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
