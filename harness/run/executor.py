"""The contract between a run and whatever runs its workers: the :class:`Executor` protocol and
the types in its signature. The executors themselves live in ``harness.executors``: local, live
A/B process pairs, a Ray cluster."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.records.schema import Cell, CellResult
from harness.run.settings import RunSettings


@dataclass(frozen=True)
class WorkerJob:
    """Everything a side's workers need besides their cell."""

    dataset_path: Path
    dataset_name: str
    settings: RunSettings
    skips: Mapping[str, str] = field(default_factory=dict)  # cell key -> plugin's reason
    python: tuple[str, ...] = (sys.executable,)  # the command that runs the workers' Python
    requires: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # plugin -> modules


Observer = Callable[[str, Cell, CellResult | None], None]  # (side, cell, None | result)
Processes = dict[str, dict[str, list[CellResult]]]  # side -> cell key -> its processes


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
