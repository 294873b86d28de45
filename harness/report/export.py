"""Export a run in other tools' formats: pytest-benchmark's JSON (read by its ``compare``
command and by github-action-benchmark's ``pytest`` tool)."""

from __future__ import annotations

import platform
import socket
from typing import Any

from harness import __version__
from harness.records.schema import CellResult, RunResult

FORMATS = ("pytest-benchmark",)


def to_pytest_benchmark(run: RunResult) -> dict[str, Any]:
    """One pytest-benchmark "benchmark" per timed cell, in seconds per training step.

    The rounds are the per-process medians when the cell ran in several processes
    (``--repeats``), else the one process's samples (one per window pair).
    """
    from pytest_benchmark import __version__ as pytest_benchmark_version

    env = run.environment
    return {
        "machine_info": {
            "node": socket.gethostname(),
            "processor": platform.processor(),
            "machine": platform.machine(),
            "python_implementation": platform.python_implementation(),
            "python_version": env.get("python", platform.python_version()),
            "python_compiler": platform.python_compiler(),
            "release": platform.release(),
            "system": platform.system(),
            "cpu": {"brand_raw": env.get("cpu"), "count": env.get("cores")},
        },
        "commit_info": {
            "id": env.get("git_commit"),
            "time": None,
            "author_time": None,
            "dirty": False,
            "project": "keras-backend-bench",
            "branch": None,
        },
        "benchmarks": [_benchmark(run, c) for c in run.cells if c.ok and c.step_time_ms],
        "datetime": run.created,
        "version": pytest_benchmark_version,
    }


def _benchmark(run: RunResult, cell: CellResult) -> dict[str, Any]:
    from pytest_benchmark.stats import Stats

    step = cell.step_time_ms
    assert step is not None
    samples_ms = step.process_medians if step.n_processes > 1 else step.first.samples
    stats = Stats()
    for value in samples_ms:
        stats.update(value / 1000.0)
    param = f"{cell.backend}-{cell.device}"
    params: dict[str, Any] = {"backend": cell.backend, "device": cell.device}
    if cell.batch_size is not None:  # a batch-size sweep's cell
        param += f"-b{cell.batch_size}"
        params["batch_size"] = cell.batch_size
    return {
        "group": cell.plugin,
        "name": f"{cell.plugin}[{param}]",
        "fullname": f"kbench::{cell.plugin}[{param}]",
        "params": params,
        "param": param,
        "extra_info": {
            "unit": "seconds per training step",
            "kbench_median_ms": step.median,
            "predict_ms_per_batch": cell.predict_ms_per_batch,
            "ci95_ms": [step.ci_low, step.ci_high],
            "rounds_are": "process medians" if step.n_processes > 1 else "window samples",
            "dataset": cell.dataset,
            "profile": run.config.get("profile"),
            "batch_size": cell.fairness.get("batch_size"),
            "jit_compile": cell.fairness.get("jit_compile_used"),
            "test_accuracy": cell.metrics.get("test_accuracy"),
            "harness": __version__,
        },
        "options": {
            "disable_gc": False,
            "timer": "perf_counter",
            "min_rounds": len(samples_ms),
            "max_time": 0,
            "min_time": 0,
            "warmup": True,
        },
        "stats": {**stats.as_dict(), "data": list(stats.data), "iterations": 1},
    }
