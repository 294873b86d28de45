"""The worker's spec: the one format the parent writes and the worker reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.records.schema import Cell, CellResult
from harness.run.settings import RunSettings


@dataclass(frozen=True)
class Process:
    """One worker process of a cell: which repeat, whether it trains, its fixed timing."""

    repeat: int = 0
    train: bool = True  # False: time only (the extra processes of --repeats)
    window_steps: int | None = None  # fixed by the cell's first process, else calibrated
    windows: int | None = None  # a fixed count of timed window pairs, else the plan decides

    @classmethod
    def next(cls, calibrated: CellResult | None, repeat: int, train: bool) -> Process:
        """Repeat ``repeat`` of a cell: with the window size and count that ``calibrated``
        (the cell's first timed process) used, or calibrating itself when there is none."""
        if calibrated is None or calibrated.step_time_ms is None:
            return cls(repeat, train)
        stats = calibrated.step_time_ms.first
        return cls(repeat, train, stats.window_steps, stats.n_windows)


@dataclass(frozen=True)
class WorkerSpec:
    """What the parent asks one worker to do."""

    cell: Cell
    dataset_path: str
    settings: RunSettings
    process: Process = field(default_factory=Process)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": asdict(self.cell),
            "dataset_path": self.dataset_path,
            "settings": self.settings.to_dict(),
            "process": asdict(self.process),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerSpec:
        return cls(
            cell=Cell(**data["cell"]),
            dataset_path=data["dataset_path"],
            settings=RunSettings.from_dict(data["settings"]),
            process=Process(**data.get("process", {})),
        )

    @classmethod
    def load(cls, path: Path) -> WorkerSpec:
        import json

        return cls.from_dict(json.loads(Path(path).read_text()))
