"""The progress bar of a run or a gate, and the line printed as each worker finishes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli.console import console
from harness.records.schema import Cell, CellResult
from harness.report.console import describe_cell
from harness.run.executor import Observer


@contextmanager
def worker_progress(total: int) -> Iterator[Observer]:
    """An observer for ``run_processes`` that drives a progress bar of ``total`` workers
    (it grows when a gate takes a later look) and logs each finished worker."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, refresh_per_second=2) as bar:
        task = bar.add_task("starting", total=total)

        def observe(side: str, cell: Cell, result: CellResult | None) -> None:
            prefix = f"{side} " if side else ""
            if result is None:
                bar.update(task, description=f"{prefix or 'running '}{escape(cell.key)}")
                return
            state = bar.tasks[0]
            if state.total is not None and state.completed + 1 > state.total:
                bar.update(task, total=state.total + 1)
            bar.console.print(f"{prefix}{describe_cell(result)}")
            bar.advance(task)

        yield observe
