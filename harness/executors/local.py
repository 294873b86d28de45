"""Every worker on this machine, one at a time: the default executor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.records.schema import Cell
from harness.run.executor import Observer, Processes, WorkerJob
from harness.run.interrupt import Interrupted
from harness.run.launch import run_process
from harness.run.processes import next_process, schedule


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
        """:func:`run_processes`, or as much of it as ran before SIGINT / SIGTERM: then the
        running worker is killed and the signal's name returned (None when all ran)."""
        try:
            run_processes(cells, jobs, processes, repeats, observe)
        except Interrupted as stop:
            return stop.name
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": "local"}


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
        result = run_process(cell, jobs[side], process)
        processes[side][cell.key].append(result)
        if observe:
            observe(side, cell, result)
