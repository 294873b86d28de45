"""Parent process: cells -> one worker process each -> records. Never imports Keras.

Cells run one at a time (timed cells must not compete for the CPU), each in a fresh
``python -m harness.run.worker`` with the backend chosen through its environment. Whatever
happens to a worker (crash, timeout, hang), the cell gets a status and the run goes on.
:func:`run_processes` is the one scheduling loop: ``kbench run`` uses it with one side,
``kbench ab`` with two, alternating their order per repeat. An :class:`Executor` runs them:
:class:`LocalExecutor` here, or ``harness.run.cluster`` on the nodes of a Ray cluster.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from harness.backends import parent as backends
from harness.records.schema import Cell, CellResult, Status
from harness.records.steptime import StepTimeSummary
from harness.run.child import ChildOutcome, run_child
from harness.run.interrupt import Interrupted
from harness.run.settings import RunSettings
from harness.run.spec import Process, WorkerSpec

WORKER_MODULE = "harness.run.worker"


@dataclass(frozen=True)
class WorkerJob:
    """Everything a side's workers need besides their cell."""

    dataset_path: Path
    dataset_name: str
    settings: RunSettings
    skips: Mapping[str, str] = field(default_factory=dict)  # cell key -> plugin's reason
    python: tuple[str, ...] = (sys.executable,)  # the command that runs the workers' Python


Observer = Callable[[str, Cell, CellResult | None], None]  # (side, cell, None | result)
Processes = dict[str, dict[str, list[CellResult]]]  # side -> cell key -> its processes


def schedule(
    cells: Sequence[Cell], sides: Sequence[str], repeats: range
) -> Iterator[tuple[int, Cell, str]]:
    """Repeat-major, then cell, then side; the sides' order alternates per repeat (A B, B A)."""
    for repeat in repeats:
        for cell in cells:
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                yield repeat, cell, side


def run_processes(
    cells: Sequence[Cell],
    jobs: Mapping[str, WorkerJob],
    processes: Processes,
    repeats: range,
    observe: Observer | None = None,
) -> None:
    """One worker process per side, cell and repeat, appended to ``processes``.

    The first process of a cell on a side trains and, on the first side, calibrates the
    timing windows; every later process reuses that window size and count and only times.
    A cell whose first process did not finish is not retried; repeats that ``processes``
    already holds (a resumed run) are not run again.
    """
    sides = list(jobs)
    for repeat, cell, side in schedule(cells, sides, repeats):
        process = next_process(cell, side, repeat, sides, processes)
        if process is None:
            continue
        if observe:
            observe(side, cell, None)
        result = run_cell(cell, jobs[side], process)
        processes[side][cell.key].append(result)
        if observe:
            observe(side, cell, result)


def next_process(
    cell: Cell, side: str, repeat: int, sides: Sequence[str], processes: Processes
) -> Process | None:
    """The process that runs repeat ``repeat`` of ``cell`` on ``side``, or None when it
    must not run: it already did (a resumed run), or the cell's first process failed."""
    done = processes[side].setdefault(cell.key, [])
    if (done and not done[0].ok) or processes_done(done) > repeat:
        return None
    calibrated = (processes[sides[0]].get(cell.key) or done or [None])[0]
    return Process.next(calibrated, repeat, train=not done)


class Executor(Protocol):
    """Where worker processes run: this machine (:class:`LocalExecutor`) or a cluster."""

    def run_until_stopped(
        self,
        cells: Sequence[Cell],
        jobs: Mapping[str, WorkerJob],
        processes: Processes,
        repeats: range,
        observe: Observer | None = None,
    ) -> str | None: ...

    def describe(self) -> dict[str, Any]: ...

    @property
    def gpu_present(self) -> bool | None:
        """Whether the machines that run the cells have a GPU (None: this machine's say)."""


class LocalExecutor:
    """Every worker on this machine, one at a time (the default)."""

    gpu_present = None

    def run_until_stopped(
        self,
        cells: Sequence[Cell],
        jobs: Mapping[str, WorkerJob],
        processes: Processes,
        repeats: range,
        observe: Observer | None = None,
    ) -> str | None:
        return run_until_stopped(cells, jobs, processes, repeats, observe)

    def describe(self) -> dict[str, Any]:
        return {"kind": "local"}


def run_until_stopped(
    cells: Sequence[Cell],
    jobs: Mapping[str, WorkerJob],
    processes: Processes,
    repeats: range,
    observe: Observer | None = None,
) -> str | None:
    """:func:`run_processes`, or as much of it as ran before SIGINT / SIGTERM: then the
    running worker is killed and the signal's name returned (None when all ran)."""
    try:
        run_processes(cells, jobs, processes, repeats, observe)
    except Interrupted as stop:
        return stop.name
    return None


def processes_done(results: Sequence[CellResult]) -> int:
    """How many worker processes ``results`` stand for (a resumed cell's record holds all of
    its processes' timings)."""
    return sum(r.step_time_ms.n_processes if r.ok and r.step_time_ms else 1 for r in results)


def finish_cell(results: Sequence[CellResult], cell: Cell, job: WorkerJob) -> CellResult:
    """A cell's record at the end of a run, finished or stopped: its processes merged, or
    ``interrupted`` when the run stopped before all of them ran (timings kept)."""
    if not results:
        reason = "the run was stopped before this cell started"
        return CellResult.not_run(cell, job.dataset_name, Status.INTERRUPTED, reason)
    merged = merge_processes(results)
    count, wanted = processes_done(results), job.settings.repeats
    if merged.ok and count < wanted:
        reason = f"the run was stopped after {count} of {wanted} processes"
        return replace(merged, status=Status.INTERRUPTED, error=reason)
    return merged


def merge_processes(results: Sequence[CellResult]) -> CellResult:
    """One record from a cell's processes: the first's training, every process's timing.

    A process that did not finish makes the cell not ok (its status and reason, naming
    the repeat), but the timing samples of the processes that did are kept.
    """
    first = results[0]
    if len(results) == 1:
        return first
    timed = [p for r in results if r.ok and r.step_time_ms for p in r.step_time_ms.processes]
    step = StepTimeSummary.from_processes(timed) if timed else None
    bad = next(((i, r) for i, r in enumerate(results) if not r.ok), None)
    merged = replace(
        first,
        step_time_ms=step,
        samples_per_s=_samples_per_s(first, step),
        duration_s=sum(r.duration_s or 0.0 for r in results),
    )
    if bad is None or bad[0] == 0:
        return merged
    index, result = bad
    reason = f"process {index + 1} of {len(results)}: {result.error}"
    return replace(merged, status=result.status, error=reason, log_tail=result.log_tail)


def _samples_per_s(first: CellResult, step: StepTimeSummary | None) -> float | None:
    batch = first.fairness.get("batch_size")
    if step is None or batch is None:
        return None
    return batch / (step.median / 1000.0)


def run_cell(cell: Cell, job: WorkerJob, process: Process | None = None) -> CellResult:
    """One process of a cell in a fresh worker, or the reason it could not run."""
    not_run = not_run_reason(cell, job)
    if not_run is not None:
        return CellResult.not_run(cell, job.dataset_name, *not_run)
    with tempfile.TemporaryDirectory(prefix="kbench-cell-") as tmp:
        return _run_worker(cell, job, process or Process(), Path(tmp))


def not_run_reason(cell: Cell, job: WorkerJob) -> tuple[Status, str] | None:
    if cell.key in job.skips:
        return Status.SKIPPED, job.skips[cell.key]
    if job.python == (sys.executable,) and not backends.backend_installed(cell.backend):
        extra = f"pip install 'keras-backend-bench[{cell.backend}]'"
        return Status.UNAVAILABLE, f"{cell.backend} is not installed ({extra})"
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
