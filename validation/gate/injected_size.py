"""Is the slowdown ``kbench ab --self-test`` injects the slowdown its workers see?

    python -m validation.gate.injected_size [-p dense_mlp,cnn] [-b jax,tensorflow,torch]
        [--factor 1.10] [--processes 3] [--pairs 8]

Measured apart from the gate: in fresh processes with a self-test worker's environment
(``KBENCH_SELF_TEST_SLOWDOWN``), each cell's model is sized as a gate's side-B worker sizes
it (the work = factor - 1 of the process's own step time, measured with the hook idle),
then timed in alternating blocks with the work on and off, each block a window pair of N
and 2N steps ((T(2N) - T(N)) / N, the harness's estimator), the order alternating. The
seen factor is, per block pair, on / off; the figure is the Hodges-Lehmann estimate over
all block pairs of all processes with its exact 95% interval (``harness.stats``), beside
the work given (busy ms / base ms). Results go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

from harness.backends import worker_env
from harness.records import write_json_atomic
from harness.run import PROFILES, RunSettings
from harness.stats import walsh_averages, walsh_interval
from harness.worker import Injection, Session, cycle_samples

OUT = Path("validation/results/injected_size.json")
BATCH, PROFILE = 32, "gate"
ENV = "KBENCH_SELF_TEST_SLOWDOWN"


def child(plugin_name: str, backend: str, pairs: int) -> dict:
    """In a fresh process: sized as a side-B worker, then ``pairs`` on/off block pairs."""
    import keras

    from harness import datasets, registry

    plugin = registry.discover()[plugin_name].plugin
    settings = RunSettings(profile=PROFILE, batch_size=BATCH, timing=PROFILES[PROFILE].timing)
    session = Session(keras, plugin, settings, backend)
    injection: Injection = session.injection
    data = datasets.load_dataset("synthetic")
    x, y = data.x_train.reshape((-1, *plugin.input_shape)), data.y_train
    model = session.build(data.num_classes)
    session.timed_fit(model, *cycle_samples(x, y, BATCH))  # the first step
    steps = session.calibrate_window_steps(model, x, y)
    short, long = (cycle_samples(x, y, k * steps * BATCH) for k in (1, 2))

    def fit(k: int) -> float:
        return session.timed_fit(model, *(long if k == 2 else short))

    def block() -> float:
        return (fit(2) - fit(1)) / steps

    injection.size_from_window_pairs(fit, steps)  # as a side-B worker sizes its work
    work = injection.seconds
    on_ms: list[float] = []
    off_ms: list[float] = []
    for i in range(pairs):
        for seconds, out in [(work, on_ms), (0.0, off_ms)][:: 1 if i % 2 == 0 else -1]:
            injection.seconds = seconds
            out.append(block() * 1000.0)
    injection.seconds = work
    return {"on_ms": on_ms, "off_ms": off_ms, "window_steps": steps, **injection.record()}


def run_process(plugin: str, backend: str, factor: float, pairs: int) -> dict:
    env = {**os.environ, **worker_env(backend, "cpu", None), ENV: f"{factor - 1.0:g}"}
    command = [sys.executable, "-m", "validation.gate.injected_size", "--child"]
    command += [plugin, backend, "--pairs", str(pairs)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{plugin}/{backend}: process failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(processes: list[dict]) -> dict:
    """The seen factor over every block pair, with its interval, and the work given."""
    logs = [
        math.log(on / off)
        for p in processes
        for on, off in zip(p["on_ms"], p["off_ms"], strict=True)
        if on > 0 and off > 0
    ]
    interval = walsh_interval(logs)
    given = [p["busy_ms"] / p["base_ms"] for p in processes if p.get("base_ms")]
    return {
        "seen": math.exp(statistics.median(walsh_averages(logs))),
        "seen_ci": [math.exp(v) for v in interval] if interval else None,
        "given": 1.0 + statistics.median(given),
        "block_pairs": len(logs),
        "off_ms": statistics.median(v for p in processes for v in p["off_ms"]),
        "processes": processes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("PLUGIN", "BACKEND"))
    parser.add_argument("-p", "--plugins", default="dense_mlp,cnn")
    parser.add_argument("-b", "--backends", default="jax,tensorflow,torch")
    parser.add_argument("--factor", type=float, default=1.10)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=8, help="on/off block pairs per process")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.pairs)))
        return
    cells = {}
    for plugin in args.plugins.split(","):
        for backend in args.backends.split(","):
            runs = [
                run_process(plugin, backend, args.factor, args.pairs) for _ in range(args.processes)
            ]
            cells[f"{plugin}/{backend}"] = found = summarize(runs)
            low, high = found["seen_ci"] or (math.nan, math.nan)
            print(
                f"{plugin}/{backend}: given x{found['given']:.3f}, seen x{found['seen']:.3f} "
                f"({low:.3f}-{high:.3f}, {found['block_pairs']} block pairs; "
                f"{found['off_ms']:.2f} ms/step without)",
                flush=True,
            )
    command = "python -m validation.gate.injected_size " + " ".join(sys.argv[1:])
    write_json_atomic(args.out, {"command": command, "factor": args.factor, "cells": cells})


if __name__ == "__main__":
    main()
