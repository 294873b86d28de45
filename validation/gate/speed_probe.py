"""Does a fixed reference workload track the level of a worker process? (an experiment)

    python -m validation.gate.speed_probe --plugin dense_mlp --backend jax --processes 16

Runs ``--processes`` fresh processes one after another. Each times the plugin's steps
exactly as a ``gate`` worker does (``Session.time_steps``: N / 2N-step fit pairs, the
per-process median), and around them two reference workloads that do not change from
process to process: a single-threaded pure-Python loop and a NumPy matrix product on
every core. If the machine's speed sets a process's level, the references move with the
step time, and dividing by them would narrow the spread across processes. It prints
Spearman's rho between the step medians and each reference and the CV across processes
before and after that division, and writes the raw figures to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.records import write_json_atomic
from harness.stats import coefficient_of_variation, rank_correlation
from validation.gate.cell import ROOT, child_env, gate_cell

PYTHON_LOOP = 200_000
MATMUL_SIZE = 384


def python_loop_s(repeats: int = 15) -> float:
    """Median seconds of a fixed pure-Python loop (one core, no libraries)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(PYTHON_LOOP):
            total += i * i % 7
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_s(repeats: int = 30) -> float:
    """Median seconds of one float32 matrix product through NumPy's BLAS (all cores)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE), dtype=np.float32) for _ in "ab")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child(plugin_name: str, backend: str) -> dict:
    """One process: references, the gate profile's step timing, references again."""
    cell = gate_cell(plugin_name, backend)
    before = (python_loop_s(), matmul_s())
    timing = cell.time_steps()
    after = (python_loop_s(), matmul_s())
    return {
        "step_ms": timing["step"].median,
        "python_loop_s": statistics.fmean([before[0], after[0]]),
        "matmul_s": statistics.fmean([before[1], after[1]]),
        "drift": {"python_loop": after[0] / before[0], "matmul": after[1] / before[1]},
    }


def summarize(rows: list[dict]) -> dict:
    """CV of the step medians, and per reference its CV, Spearman's rho with the steps and
    the CV of the steps divided by it (rho None for a constant reference)."""
    steps = [r["step_ms"] for r in rows]
    report: dict = {"processes": rows, "cv_step": coefficient_of_variation(steps)}
    for name in ("python_loop_s", "matmul_s"):
        reference = [r[name] for r in rows]
        rho, pvalue = rank_correlation(steps, reference) or (None, None)
        report[name] = {
            "cv": coefficient_of_variation(reference),
            "rho": rho,
            "p": pvalue,
            "cv_step_divided": coefficient_of_variation(
                [s / r for s, r in zip(steps, reference, strict=True)]
            ),
        }
    return report


def run_process(plugin: str, backend: str, index: int) -> dict:
    """Fresh process ``index`` with the fixed malloc thresholds, on the CPU; its figures."""
    env = child_env(backend)
    command = [sys.executable, "-m", "validation.gate.speed_probe", "--child"]
    command += ["--plugin", plugin, "--backend", backend]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"process {index} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--child`` is the per-process side, started by ``main``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="dense_mlp")
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("results/runs/experiments/probe.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.child:
        print(json.dumps(child(args.plugin, args.backend)))
        return
    if args.processes < 4:
        sys.exit(
            f"--processes must be at least 4 for a rank correlation. Received: {args.processes}"
        )
    rows = []
    for index in range(args.processes):
        rows.append(run_process(args.plugin, args.backend, index))
        print(json.dumps(rows[-1]), flush=True)
    report = {"plugin": args.plugin, "backend": args.backend, **summarize(rows)}
    print(json.dumps({k: v for k, v in report.items() if k != "processes"}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, report)


if __name__ == "__main__":
    main()
