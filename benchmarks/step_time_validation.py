"""Does the harness's step time agree with the marginal cost of one more step?

For ``dense_mlp`` at batch 32 on each backend, in one run:

1. the harness's own measurement: a ``kbench`` cell (a fresh worker process, ``quick``
   profile) reports its median ms/step;
2. an independent one, in another fresh process: the time of ``fit`` over 2N steps minus the
   time over N steps, divided by N (medians of alternating repeats, each fit closed by a
   barrier), which cancels every fixed per-fit cost;
3. for contrast, the method the harness rejects: a Python timer around each batch in a
   per-batch callback (which also turns off Keras's asynchronous dispatch).

(1) and (2) alternate ``--rounds`` times per backend (timings on a shared 2-core machine
drift by 10-20% over minutes; alternating lets the drift hit both), and the medians over
rounds are compared. Passes (exit 0) when (1) is within ``--tolerance`` (10%) of (2) on
every backend.

    python benchmarks/step_time_validation.py [--backend jax,torch] [--rounds 3]
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

from harness import devices
from harness.atomic import write_json_atomic
from harness.bench import RunRequest, execute, load_data, prepare
from harness.measure import marginal_step_cost

PLUGIN, BATCH = "dense_mlp", 32
console = Console()


def marginal_child(backend: str, steps: int, repeats: int) -> dict:
    """In a fresh process: the marginal cost of a step, and the per-batch-timer reading."""
    import keras

    from harness import backends, datasets, registry
    from harness.plan import RunSettings
    from harness.worker import Session, cycle_samples

    plugin = registry.discover()[PLUGIN].plugin
    session = Session(keras, plugin, RunSettings(batch_size=BATCH), backend)
    data = datasets.load_dataset("synthetic")
    x, y = data.x_train.reshape(-1, 784), data.y_train
    model = session.build()
    n_set, twice_set = cycle_samples(x, y, steps * BATCH), cycle_samples(x, y, 2 * steps * BATCH)
    for warm in (n_set, twice_set):
        session.timed_fit(model, *warm)
    seconds_n, seconds_2n = [], []
    for i in range(repeats):
        order = [(n_set, seconds_n), (twice_set, seconds_2n)]
        for (xs, ys), out in order[:: 1 if i % 2 == 0 else -1]:
            out.append(session.timed_fit(model, xs, ys))
    per_batch = _per_batch_timer(keras, model, *n_set)
    backends.sync(backend, model)
    return {
        "marginal_ms": marginal_step_cost(seconds_n, seconds_2n, steps) * 1000.0,
        "fit_n_s": seconds_n,
        "fit_2n_s": seconds_2n,
        "per_batch_timer_ms": per_batch,
    }


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


def harness_step_ms(backend: str) -> float:
    """The harness's reported median ms/step for one fresh ``quick`` cell."""
    request = RunRequest(
        plugins=[PLUGIN],
        backends=[backend],
        device="cpu",
        dataset="synthetic",
        profile="quick",
        epochs=1,
        batch_size=BATCH,
    )
    prepared = prepare(request)
    cell = execute(prepared, load_data(prepared)).cells[0]
    if not cell.ok:
        raise SystemExit(f"{backend}: harness cell {cell.status.value}: {cell.error}")
    return cell.step_time_ms.median


def marginal(backend: str, steps: int, repeats: int) -> dict:
    """The independent measurement, in a fresh process of its own."""
    env = {**os.environ, **devices.worker_env(backend, "cpu", None)}
    command = [sys.executable, __file__, "--child", backend]
    command += ["--steps", str(steps), "--repeats", str(repeats)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_backend(backend: str, steps: int, repeats: int, rounds: int) -> dict:
    """Alternate the two measurements ``rounds`` times, so machine drift hits both."""
    harness_ms, children = [], []
    for _ in range(rounds):
        harness_ms.append(harness_step_ms(backend))
        children.append(marginal(backend, steps, repeats))
    marginal_ms = statistics.median(c["marginal_ms"] for c in children)
    harness_median = statistics.median(harness_ms)
    return {
        "backend": backend,
        "harness_median_ms": harness_median,
        "harness_per_round_ms": harness_ms,
        "marginal_ms": marginal_ms,
        "marginal_per_round_ms": [c["marginal_ms"] for c in children],
        "per_batch_timer_ms": statistics.median(c["per_batch_timer_ms"] for c in children),
        "rounds": children,
        "ratio": harness_median / marginal_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(devices.BACKENDS))
    parser.add_argument("--steps", type=int, default=200, help="N in (T(2N) - T(N)) / N")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two methods")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(marginal_child(args.child, args.steps, args.repeats)))
        return 0
    rows = [
        measure_backend(b, args.steps, args.repeats, args.rounds) for b in args.backend.split(",")
    ]
    table = Table(title=f"{PLUGIN}, batch {BATCH}: harness step time vs marginal cost of a step")
    for column in ("backend", "harness median ms", "marginal ms", "ratio", "per-batch timer ms"):
        table.add_column(column, justify="right")
    for r in rows:
        ok = abs(r["ratio"] - 1) <= args.tolerance
        table.add_row(
            r["backend"],
            f"{r['harness_median_ms']:.3f}",
            f"{r['marginal_ms']:.3f}",
            f"[{'green' if ok else 'red'}]{r['ratio']:.3f}[/]",
            f"{r['per_batch_timer_ms']:.3f}",
        )
    console.print(table)
    if args.out:
        write_json_atomic(args.out, rows)
    passed = all(abs(r["ratio"] - 1) <= args.tolerance for r in rows)
    console.print(f"within {args.tolerance:.0%} on every backend: {'yes' if passed else 'NO'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
