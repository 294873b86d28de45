"""A cell's worker processes, seen from the parent: which to run next, and one record from them.

:func:`schedule` is the order every executor follows (repeat-major, then cell, then side, the
sides' order alternating per repeat); :func:`next_process` says whether and how a process runs;
:func:`finish_cell` merges a cell's processes into its record. Never imports Keras.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from harness.records.schema import Cell, CellResult, Status
from harness.records.steptime import StepTimeSummary
from harness.run.executor import Processes, WorkerJob
from harness.run.spec import Process


def schedule(
    cells: Sequence[Cell], sides: Sequence[str], repeats: range
) -> Iterator[tuple[int, Cell, str]]:
    """Repeat-major, then cell, then side; the sides' order alternates per repeat (A B, B A)."""
    for repeat in repeats:
        for cell in cells:
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                yield repeat, cell, side


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
