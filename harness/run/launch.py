"""One worker process of a cell, from the parent: its environment, its spec, its record.

Each process is a fresh ``python -m harness.worker.cell`` with the backend chosen through its
environment. Whatever happens to it (crash, timeout, hang, memory), the cell gets a record with
a status and the run goes on. Never imports Keras.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.backends import parent as backends
from harness.plugin import unmet_requirement
from harness.records.schema import Cell, CellResult, Status
from harness.run.child import ChildOutcome, run_child
from harness.run.executor import WorkerJob
from harness.run.spec import Process, WorkerSpec

WORKER_MODULE = "harness.worker.cell"


def run_process(cell: Cell, job: WorkerJob, process: Process | None = None) -> CellResult:
    """One process of a cell in a fresh worker, or the reason it could not run."""
    not_run = not_run_reason(cell, job)
    if not_run is not None:
        return CellResult.not_run(cell, job.dataset_name, *not_run)
    with tempfile.TemporaryDirectory(prefix="kbench-cell-") as tmp:
        return _run_worker(cell, job, process or Process(), Path(tmp))


def not_run_reason(cell: Cell, job: WorkerJob) -> tuple[Status, str] | None:
    """Why the cell starts no worker: a declared skip, or what this Python lacks (a backend,
    a module the plugin requires, a GPU)."""
    if cell.key in job.skips:
        return Status.SKIPPED, job.skips[cell.key]
    own_python = job.python == (sys.executable,)
    if own_python and not backends.backend_installed(cell.backend):
        extra = f"pip install 'keras-backend-bench[{cell.backend}]'"
        return Status.UNAVAILABLE, f"{cell.backend} is not installed ({extra})"
    missing = unmet_requirement(job.requires.get(cell.plugin, {})) if own_python else None
    if missing is not None:
        return Status.UNAVAILABLE, missing
    if cell.device == "gpu" and not backends.gpu_names():
        return Status.UNAVAILABLE, "no GPU detected"
    return None


def _run_worker(cell: Cell, job: WorkerJob, process: Process, tmp: Path) -> CellResult:
    launch = WorkerLaunch.of(cell, job, process)
    started = time.perf_counter()
    outcome = run_child(
        WORKER_MODULE,
        launch.spec,
        launch.env,
        job.settings.timeout_s,
        tmp,
        job.python,
        launch.max_memory_mb,
    )
    return record_from_outcome(cell, job, outcome, time.perf_counter() - started)


@dataclass(frozen=True)
class WorkerLaunch:
    """What one worker process of a cell is started with: its environment and spec."""

    env: dict[str, str]
    spec: dict[str, Any]
    max_memory_mb: float | None

    @classmethod
    def of(cls, cell: Cell, job: WorkerJob, process: Process) -> WorkerLaunch:
        settings = job.settings
        env = backends.worker_env(
            cell.backend, cell.device, settings.threads, fixed_malloc=settings.malloc == "fixed"
        )
        spec = WorkerSpec(cell, str(job.dataset_path), settings, process).to_dict()
        memory = settings.max_memory_gb * 1024 if settings.max_memory_gb else None
        return cls(env, spec, memory)


def record_from_outcome(
    cell: Cell, job: WorkerJob, outcome: ChildOutcome, wall_s: float
) -> CellResult:
    """The cell's record from how its worker ended (a not-run record saying why it left no
    result), with the process's wall time in its phases."""
    settings = job.settings
    tail = outcome.log_tail or None
    if outcome.memory_exceeded_mb is not None:
        reason = f"{outcome.why_no_result()}, above --max-memory-gb {settings.max_memory_gb:g}"
        record = CellResult.not_run(cell, job.dataset_name, Status.FAILED, reason)
    elif not outcome.finished:
        reason = f"no result within the {settings.timeout_s:g} s cell timeout"
        record = CellResult.not_run(cell, job.dataset_name, Status.TIMEOUT, reason)
    elif outcome.result is None:
        record = CellResult.not_run(cell, job.dataset_name, Status.FAILED, outcome.why_no_result())
    else:
        record = _with_wall(CellResult.from_dict(outcome.result), wall_s)
    return record if record.ok else replace(record, log_tail=tail)


def _with_wall(record: CellResult, wall_s: float) -> CellResult:
    """The record with its process's whole wall time, and the part before the worker ran
    (interpreter start, imports), added to its phases."""
    step = record.step_time_ms
    if step is None or step.n_processes != 1 or step.first.phases_s is None:
        return record
    start = max(0.0, wall_s - (record.duration_s or 0.0))
    phases = {"start": start, **step.first.phases_s, "wall": wall_s}
    process = replace(step.first, phases_s=phases)
    return replace(record, step_time_ms=replace(step, processes=[process]))
