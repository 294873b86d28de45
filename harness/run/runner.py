"""Parent process: cells -> one worker process each -> records. Never imports Keras.

Cells run one at a time (timed cells must not compete for the CPU), each in a fresh
``python -m harness.run.worker`` with the backend chosen through its environment. The parent
waits by blocking on a pidfd with a timeout, not by polling. Whatever happens to a
worker (crash, timeout, hang), the cell gets a status and the run goes on.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.backends import parent as devices
from harness.records.files import write_json_atomic
from harness.records.schema import Cell, CellResult, Status
from harness.run.plan import RunSettings
from harness.run.timing import StepTimeSummary

LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs besides its cell."""

    dataset_path: Path
    dataset_name: str
    settings: RunSettings
    plugin_paths: tuple[str, ...] = ()
    skips: Mapping[str, str] = field(default_factory=dict)  # cell key -> plugin's reason
    python: tuple[str, ...] = (sys.executable,)  # the command that runs the workers' Python
    repeats: int = 1


@dataclass(frozen=True)
class Process:
    """One worker process of a cell: which repeat, whether it trains, its fixed timing."""

    repeat: int = 0
    train: bool = True
    window_steps: int | None = None
    windows: int | None = None

    @classmethod
    def next(cls, calibrated: CellResult | None, repeat: int, train: bool) -> Process:
        """Repeat ``repeat`` of a cell: with the window size and count that ``calibrated``
        (the cell's first timed process) used, or calibrating itself when there is none."""
        if calibrated is None or calibrated.step_time_ms is None:
            return cls(repeat, train)
        stats = calibrated.step_time_ms.first
        return cls(repeat, train, stats.window_steps, stats.n_windows)


Observer = Callable[[Cell, CellResult | None], None]


def run_cells(
    cells: Sequence[Cell], job: WorkerJob, observe: Observer | None = None
) -> list[CellResult]:
    """Run every cell ``job.repeats`` times, one process each, round-robin over the cells.

    ``observe(cell, None)`` before and ``(cell, result)`` after each process. The first
    process of a cell trains and calibrates the timing windows; the others only time,
    with the same window size and count. A cell's processes merge into one record.
    """
    processes: dict[str, list[CellResult]] = {cell.key: [] for cell in cells}
    for repeat in range(job.repeats):
        for cell in cells:
            done = processes[cell.key]
            if done and not done[0].ok:
                continue  # a cell that cannot run once is not retried
            process = Process.next(done[0] if done else None, repeat, train=not done)
            if observe:
                observe(cell, None)
            result = run_cell(cell, job, process)
            done.append(result)
            if observe:
                observe(cell, result)
    return [merge_processes(processes[cell.key]) for cell in cells]


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
    process = process or Process()
    if cell.key in job.skips:
        return CellResult.not_run(cell, job.dataset_name, Status.SKIPPED, job.skips[cell.key])
    if job.python == (sys.executable,) and not devices.backend_installed(cell.backend):
        reason = (
            f"{cell.backend} is not installed (pip install 'keras-backend-bench[{cell.backend}]')"
        )
        return CellResult.not_run(cell, job.dataset_name, Status.UNAVAILABLE, reason)
    if cell.device == "gpu" and not devices.gpu_names():
        return CellResult.not_run(cell, job.dataset_name, Status.UNAVAILABLE, "no GPU detected")
    with tempfile.TemporaryDirectory(prefix="kbench-cell-") as tmp:
        return _run_worker(cell, job, process, Path(tmp))


@dataclass(frozen=True)
class ChildOutcome:
    """How a child process ended: its JSON result (None when it left none) and log tail."""

    finished: bool
    returncode: int | None
    result: dict | None
    log_tail: str


def run_child(
    module: str,
    spec: dict,
    env: Mapping[str, str],
    timeout_s: float,
    tmp: Path,
    python: Sequence[str] = (sys.executable,),
) -> ChildOutcome:
    """``PYTHON -m MODULE SPEC.json RESULT.json`` in its own session, waited on blocking.

    ``python`` is a command prefix (e.g. ``("taskset", "-c", "0", "/venv/bin/python")``).
    """
    spec_path, result, log = tmp / "spec.json", tmp / "result.json", tmp / "worker.log"
    result.unlink(missing_ok=True)
    write_json_atomic(spec_path, spec)
    command = [*python, "-m", module, str(spec_path), str(result)]
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        finished = wait_blocking(proc, timeout_s)
        if not finished:
            _kill_group(proc)
    data = json.loads(result.read_text()) if finished and result.exists() else None
    return ChildOutcome(finished, proc.returncode, data, _tail(log))


def _run_worker(cell: Cell, job: WorkerJob, process: Process, tmp: Path) -> CellResult:
    env = devices.worker_env(
        cell.backend, cell.device, job.settings.threads, fixed_malloc=job.settings.malloc == "fixed"
    )
    spec = _spec(cell, job, process)
    outcome = run_child("harness.run.worker", spec, env, job.settings.timeout_s, tmp, job.python)
    tail = outcome.log_tail
    if not outcome.finished:
        reason = f"no result within the {job.settings.timeout_s:g} s cell timeout"
        return _with_tail(CellResult.not_run(cell, job.dataset_name, Status.TIMEOUT, reason), tail)
    if outcome.result is None:
        reason = f"worker exited with code {outcome.returncode} without a result"
        return _with_tail(CellResult.not_run(cell, job.dataset_name, Status.FAILED, reason), tail)
    record = CellResult.from_dict(outcome.result)
    return record if record.ok else _with_tail(record, tail)


def _spec(cell: Cell, job: WorkerJob, process: Process) -> dict:
    return {
        "cell": {"plugin": cell.plugin, "backend": cell.backend, "device": cell.device},
        "dataset_path": str(job.dataset_path),
        "plugin_paths": list(job.plugin_paths),
        "settings": job.settings.to_dict(),
        "train": process.train,
        "window_steps": process.window_steps,
        "windows": process.windows,
    }


def wait_blocking(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Block until ``proc`` exits or ``timeout_s`` passes; True when it exited."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (non-Linux, old kernel): Popen's own wait
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if ready:
        proc.wait()
    return bool(ready)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _with_tail(record: CellResult, tail: str) -> CellResult:
    return replace(record, log_tail=tail or None)
