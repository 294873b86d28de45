"""Is a kbench cell's step time what a user's own script sees? Fresh processes of each, alternated.

For one plugin (``dense_mlp`` or ``cnn``) and backend, alternates ``--processes`` fresh
``kbench run -p P -b B --device cpu --dataset synthetic --batch-size 32 --no-report`` processes
with fresh plain-script processes: a self-contained script (``PLAIN_SCRIPT`` below) that builds
the same network with ``keras.Sequential`` as a new user would, compiles it with Adam and sparse
categorical cross-entropy, makes its own numpy data, fits once to warm up, then times
``model.fit`` over 100 and 300 batches of 32 and takes (T(300) - T(100)) / 200, the median of 3
repeats. Prints (and with ``--out`` saves) each side's per-process ms/step, the medians and the
ratio kbench / plain.

The ``--plain-*`` options move the plain script one difference at a time toward the worker
(bisection steps are flags): its data (fresh ``np.random`` or the harness's synthetic arrays
from an ``.npz``, as a worker reads them), dtype, how its fits slice the data, its environment
(the user's, or the worker's from ``harness.backends.worker_env``), a new session, the harness
imported first, the harness's train-end clock callback, and the timing plan (the user's 100/300
fits, or window pairs of N and 2N steps).

    python -m validation.timing.plain_script [--plugin dense_mlp] [--backend torch]
        [--processes 6] [--plain-data random|synthetic-npz] [--plain-dtype float32|float64]
        [--plain-env plain|worker] [--plain-plan user|harness] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from harness import datasets
from harness.backends import MALLOC_ENV, worker_env
from harness.records import read_run_data, write_json_atomic
from harness.stats import MANN_WHITNEY

BATCH = 32
TRAIN_LIMIT = 6000  # the default (quick) profile's train split
PLUGINS = ("dense_mlp", "cnn")
console = Console()

# The user's script: self-contained (numpy and keras only, unless --plain-imports harness).
PLAIN_SCRIPT = r"""
import json, os, statistics, sys, time
cfg = json.loads(sys.argv[1])
if cfg["imports"] == "harness":
    import harness.worker.session  # noqa: F401  (what a worker imports before keras)
import numpy as np
import keras

def build(plugin):
    L = keras.layers
    if plugin == "dense_mlp":
        return keras.Sequential([
            keras.Input(shape=(784,)),
            L.Dense(512, activation="sigmoid"), L.Dense(128, activation="tanh"),
            L.Dense(32, activation="relu"), L.Dense(10, activation="softmax"),
        ])
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"), L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"),
        L.Conv2D(64, 3, activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(256, activation="relu"), L.Dense(10, activation="softmax"),
    ])

shape = (784,) if cfg["plugin"] == "dense_mlp" else (28, 28, 1)
if cfg["data"] == "random":
    rng = np.random.default_rng()
    x = rng.random((cfg["samples"], *shape))
    x = x if cfg["dtype"] == "float64" else x.astype("float32")
    y = rng.integers(0, 10, cfg["samples"])
else:
    with np.load(cfg["npz"]) as f:
        x, y = f["x_train"].reshape((-1, *shape)), f["y_train"]
    x = x.astype(cfg["dtype"])

if cfg["seed"]:
    keras.utils.set_random_seed(0)
model = build(cfg["plugin"])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

class TrainEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.stopped_at = time.perf_counter()

def samples(n):
    if cfg["slices"] == "copy":  # fresh arrays of n samples, cycled, as the harness takes
        idx = np.arange(n) % len(x)
        return x[idx], y[idx]
    if n <= len(x):  # the user's slices: views of the data as made
        return x[:n], y[:n]
    reps = -(-n // len(x))
    return np.concatenate([x] * reps)[:n], np.concatenate([y] * reps)[:n]

def fit(n_steps):
    xs, ys = samples(n_steps * 32)
    clock = TrainEnd()
    start = time.perf_counter()
    model.fit(xs, ys, batch_size=32, verbose=0,
              callbacks=[clock] if cfg["clock"] == "train-end" else [])
    end = clock.stopped_at if cfg["clock"] == "train-end" else time.perf_counter()
    return end - start

model.fit(x, y, batch_size=32, verbose=0)  # the warm-up fit
if cfg["plan"] == "user":
    short, long, per = 100, 300, 200
    pairs = 3
else:
    short, long, per = cfg["window_steps"], 2 * cfg["window_steps"], cfg["window_steps"]
    pairs = cfg["windows"]
marginal = []
for i in range(pairs):
    order = [short, long] if i % 2 == 0 or cfg["plan"] == "user" else [long, short]
    t = {n: fit(n) for n in order}
    marginal.append((t[long] - t[short]) / per * 1000.0)
print(json.dumps({"ms": statistics.median(marginal), "marginal_ms": marginal}))
"""


def plain_env(backend: str, which: str) -> dict[str, str]:
    """The plain script's environment: the user's (their shell, the backend and the same malloc
    thresholds as the harness) or a worker's."""
    if which == "worker":
        return {**os.environ, **worker_env(backend, "cpu", None)}
    return {**os.environ, **MALLOC_ENV, "KERAS_BACKEND": backend}


def run_plain(args: argparse.Namespace, npz: Path, script: Path) -> dict[str, Any]:
    """One fresh plain-script process; its ms/step (median of its marginal costs)."""
    cfg = {
        "plugin": args.plugin,
        "data": args.plain_data,
        "dtype": args.plain_dtype,
        "samples": args.plain_samples,
        "npz": str(npz),
        "slices": args.plain_slices,
        "clock": args.plain_clock,
        "plan": args.plain_plan,
        "window_steps": args.plain_window_steps,
        "windows": args.plain_windows,
        "imports": args.plain_imports,
        "seed": args.plain_seed,
    }
    command = [sys.executable, str(script), json.dumps(cfg)]
    done = subprocess.run(
        command,
        env=plain_env(args.backend, args.plain_env),
        capture_output=True,
        text=True,
        start_new_session=args.plain_session == "new",
        cwd=Path.cwd(),
    )
    if done.returncode != 0:
        raise SystemExit(f"plain script failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_kbench(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One fresh ``kbench run`` of the cell (one worker process); its ms/step and N."""
    kbench = str(Path(sys.executable).parent / "kbench")
    command = [kbench, "run", "-p", args.plugin, "-b", args.backend]
    command += ["--device", "cpu", "--dataset", "synthetic", "--batch-size", str(BATCH)]
    command += ["--no-report", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kbench failed: {done.stderr.strip()[-2000:]}")
    cell = read_run_data(out)["cells"][0]
    step = cell["step_time_ms"]
    first = step["processes"][0]
    peak = (cell.get("peak") or {}).get("matmul") or [{}]
    return {
        "ms": step["median"],
        "window_steps": first.get("window_steps"),
        "matmul_gflops": peak[0].get("rate"),  # the machine's square-matmul rate, this process
    }


def cpu_model() -> str:
    """The CPU's model name (the host under a VM changes what a step costs)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "?")


def synthetic_npz(folder: Path) -> Path:
    """The harness's synthetic train split (the quick profile's 6,000 samples), as a worker
    reads it."""
    data = datasets.load_dataset("synthetic")
    path = folder / "synthetic.npz"
    np.savez(path, x_train=data.x_train[:TRAIN_LIMIT], y_train=data.y_train[:TRAIN_LIMIT])
    return path


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """``--processes`` kbench processes alternated with as many plain-script processes."""
    kbench: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="plain-script-") as tmp:
        folder = Path(tmp)
        script = folder / "plain_script.py"
        script.write_text(PLAIN_SCRIPT)
        npz = synthetic_npz(folder)
        for i in range(args.processes):
            sides = ["kbench", "plain"] if i % 2 == 0 else ["plain", "kbench"]
            for side in sides:
                if side == "plain" and not args.kbench_only:
                    plain.append(run_plain(args, npz, script))
                elif side == "kbench" and not args.plain_only:
                    kbench.append(run_kbench(args, folder / f"kbench-{i}.json"))
                else:
                    continue
                console.print(f"  process {i + 1} {side} done ({time.strftime('%H:%M:%S')})")
    k_ms = [r["ms"] for r in kbench]
    p_ms = [r["ms"] for r in plain]
    k_med = statistics.median(k_ms) if k_ms else None
    p_med = statistics.median(p_ms) if p_ms else None
    return {
        "plugin": args.plugin,
        "backend": args.backend,
        "plain_options": {k: v for k, v in vars(args).items() if k.startswith("plain_")},
        "kbench_ms": k_ms,
        "kbench_window_steps": [r["window_steps"] for r in kbench],
        "kbench_matmul_gflops": [r["matmul_gflops"] for r in kbench],
        "cpu": cpu_model(),
        "plain_ms": p_ms,
        "kbench_median_ms": k_med,
        "plain_median_ms": p_med,
        "ratio": k_med / p_med if k_med and p_med else None,
        **_ratio_interval(p_ms, k_ms),
        "date": time.strftime("%Y-%m-%d"),
    }


def _ratio_interval(plain_ms: list[float], kbench_ms: list[float]) -> dict[str, Any]:
    """The ratio of medians' 95% bootstrap interval over processes, and the two-sided
    Mann-Whitney p that the sides differ (``harness.stats``; None below 2 a side)."""
    interval = MANN_WHITNEY.ratio_ci(plain_ms, kbench_ms)
    slower, faster = (
        MANN_WHITNEY.p_slower(plain_ms, kbench_ms),
        MANN_WHITNEY.p_faster(plain_ms, kbench_ms),
    )
    p_two = None if slower is None or faster is None else min(1.0, 2 * min(slower, faster))
    return {"ratio_ci": list(interval) if interval else None, "p_two_sided": p_two}


def results_table(result: dict[str, Any]) -> Table:
    """Per side the per-process ms/step and the median; the ratio kbench / plain."""
    ratio = result["ratio"]
    title = f"{result['plugin']} / {result['backend']}, batch {BATCH}: kbench vs a plain script"
    interval = result.get("ratio_ci")
    shown = f", ratio {ratio:.2f}" if ratio else ""
    shown += f" (95% CI {interval[0]:.2f}-{interval[1]:.2f})" if interval else ""
    table = Table(title=title + shown)
    for column in ("side", "ms/step per process", "median ms"):
        table.add_column(column, justify="right")
    for side in ("kbench", "plain"):
        values, median = result[f"{side}_ms"], result[f"{side}_median_ms"]
        table.add_row(
            side,
            " / ".join(f"{v:.2f}" for v in values),
            f"{median:.2f}" if median else "n/a",
        )
    return table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", choices=PLUGINS, default="dense_mlp")
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"), default="torch")
    parser.add_argument("--processes", type=int, default=6, help="fresh processes a side")
    parser.add_argument("--plain-only", action="store_true", help="run no kbench processes")
    parser.add_argument("--kbench-only", action="store_true", help="run no plain processes")
    group = parser.add_argument_group("the plain script's variants (bisection steps)")
    group.add_argument("--plain-data", choices=("random", "synthetic-npz"), default="random")
    group.add_argument("--plain-dtype", choices=("float32", "float64"), default="float32")
    group.add_argument("--plain-samples", type=int, default=9600, help="random samples made")
    group.add_argument(
        "--plain-slices",
        choices=("view", "copy"),
        default="view",
        help="each fit's arrays: the data as made (view) or fresh cycled copies (harness)",
    )
    group.add_argument("--plain-env", choices=("plain", "worker"), default="plain")
    group.add_argument("--plain-session", choices=("same", "new"), default="same")
    group.add_argument("--plain-imports", choices=("keras", "harness"), default="keras")
    group.add_argument("--plain-clock", choices=("none", "train-end"), default="none")
    group.add_argument("--plain-seed", action="store_true", help="keras.utils.set_random_seed")
    group.add_argument("--plain-plan", choices=("user", "harness"), default="user")
    group.add_argument(
        "--plain-window-steps", type=int, default=140, help="N with the harness plan"
    )
    group.add_argument("--plain-windows", type=int, default=7, help="window pairs (harness plan)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--summarize", nargs="+", type=Path, metavar="FILE", help="one table of earlier --out files"
    )
    return parser


def summary_table(paths: list[Path]) -> Table:
    """One row per ``--out`` file: both sides' medians, the ratio and its interval."""
    table = Table(title="kbench cells against a plain script, ms/step")
    for column in ("cell", "processes a side", "kbench", "plain", "kbench / plain", "95% CI", "p"):
        table.add_column(column, justify="right")
    for path in paths:
        found = json.loads(path.read_text())
        figures = {"ratio_ci": found.get("ratio_ci"), "p_two_sided": found.get("p_two_sided")}
        if figures["ratio_ci"] is None or figures["p_two_sided"] is None:  # an older file
            figures = _ratio_interval(found["plain_ms"], found["kbench_ms"])
        interval, p_two = figures["ratio_ci"], figures["p_two_sided"]
        table.add_row(
            f"{found['plugin']} / {found['backend']}",
            f"{len(found['kbench_ms'])} / {len(found['plain_ms'])}",
            f"{found['kbench_median_ms']:.2f}",
            f"{found['plain_median_ms']:.2f}",
            f"{found['ratio']:.2f}",
            f"{interval[0]:.2f}-{interval[1]:.2f}" if interval else "",
            f"{p_two:.2f}" if p_two is not None else "",
        )
    return table


def main() -> int:
    args = build_parser().parse_args()
    if args.summarize:
        console.print(summary_table(args.summarize))
        return 0
    result = compare(args)
    console.print(results_table(result))
    if args.out:
        write_json_atomic(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
