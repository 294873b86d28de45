"""Many results files read together: series of one cell's step times, kept apart by machine
and settings, ordered in time or by a version key.

A series holds one cell (``plugin/backend/device[/b<size>][/native-<variant>]``) on one
machine (CPU model, core count, GPUs) with one dataset and one set of measured settings
(``MEASURED_SETTINGS``: profile, epochs, batch size, jit_compile, dtype, threads, malloc,
seed, ...). Versions, commits, affinity and load are not part of it: they are what a
history is read for, named where a series steps. A file that is damaged, foreign or not a
run is skipped with one line.
"""

from __future__ import annotations

import re
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from harness.errors import HarnessError
from harness.records import files
from harness.records.schema import MEASURED_SETTINGS, CellResult, RunResult

ORDER_BY_TIME = "created"
ORDER_BY_COMMIT = "git_commit"


@dataclass(frozen=True)
class RunEntry:
    """One results file of the history."""

    path: Path
    run: RunResult

    @property
    def created(self) -> str:
        return self.run.created

    @property
    def environment(self) -> dict[str, Any]:
        return self.run.environment


@dataclass(frozen=True)
class Point:
    """One run's measurement of one series: its per-process median step times (ms)."""

    entry: RunEntry
    cell: CellResult
    order: str  # the value the history is ordered by (a time, a version, a commit)

    @property
    def samples(self) -> list[float]:
        return list(self.cell.step_time_ms.process_medians) if self.cell.step_time_ms else []

    @property
    def environment(self) -> dict[str, Any]:
        return self.cell.machine or self.entry.environment


@dataclass(frozen=True)
class Group:
    """The points that share one order value (one run when ordered by time; every run of
    one version when ordered by a version)."""

    order: str
    points: tuple[Point, ...]

    @property
    def label(self) -> str:
        """The run's time and file (ordered by time), else the version or the commit."""
        first = self.points[0]
        if self.order.startswith(first.entry.created):
            return f"{first.entry.created[:19].replace('T', ' ')} {first.entry.path.name}"
        return self.order[:10] if len(self.order) == 40 else self.order

    @property
    def tick(self) -> str:
        """A short label for a chart's axis: month-day hour:minute, or the version."""
        first = self.points[0]
        if self.order.startswith(first.entry.created):
            return first.entry.created[5:16].replace("T", " ")
        return self.label

    @property
    def samples(self) -> list[float]:
        return [s for p in self.points for s in p.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass(frozen=True)
class Series:
    """One cell's step times over the history, on one machine with one set of settings."""

    cell: str
    machine: str
    settings: tuple[tuple[str, Any], ...]
    groups: tuple[Group, ...]

    @property
    def name(self) -> str:
        return f"{self.cell} on {self.machine}"

    @property
    def settings_text(self) -> str:
        """The settings in one line (the window plan, a nested setting, left out)."""
        return ", ".join(
            f"{k}={v}" for k, v in self.settings if v is not None and not isinstance(v, tuple)
        )


@dataclass(frozen=True)
class History:
    """Every series read from the files, and one line per file left out."""

    order_by: str
    series: list[Series]
    skipped: list[str] = field(default_factory=list)
    runs: int = 0


def read_history(paths: Sequence[Path | str], order_by: str = ORDER_BY_TIME) -> History:
    """The series in the results files under ``paths`` (files or folders, searched for
    ``*.json``), each ordered by ``order_by``: ``created``, ``git_commit`` (the order of
    this checkout's ``git log``) or a package name (its recorded version, e.g. ``keras``)."""
    entries, skipped = _read_entries(paths)
    if not entries:
        raise HarnessError(
            "No kbench results file found under "
            f"{', '.join(map(str, paths))}" + (f" ({len(skipped)} skipped)" if skipped else "")
        )
    rank = _ranker(order_by, entries)
    by_series: dict[tuple, list[Point]] = {}
    for entry in entries:
        for cell in entry.run.cells:
            if not cell.ok or cell.step_time_ms is None:
                continue
            point = Point(entry, cell, _order_value(order_by, entry, cell))
            by_series.setdefault(_series_key(entry.run, cell), []).append(point)
    series = [_series(key, points, rank) for key, points in by_series.items()]
    series.sort(key=lambda s: (s.machine, s.cell, s.settings_text))
    return History(order_by, series, skipped, len(entries))


def json_files(paths: Iterable[Path | str]) -> list[Path]:
    """The ``*.json`` files named or found under folders (hidden files left out)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*.json")
                if not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            found.append(path)
        else:
            raise HarnessError(f"History path not found. Received: path='{path}'")
    return list(dict.fromkeys(found))


def _read_entries(paths: Sequence[Path | str]) -> tuple[list[RunEntry], list[str]]:
    entries, skipped = [], []
    for path in json_files(paths):
        try:
            entries.append(RunEntry(path, files.read_run(path)))
        except HarnessError as error:
            skipped.append(f"skipped {path}: {_one_line(str(error))}")
    return entries, skipped


def machine_name(environment: dict[str, Any], device: str) -> str:
    """The CPU model and core count (and the GPUs, for a GPU cell)."""
    name = f"{environment.get('cpu')} x{environment.get('cores')}"
    if device == "gpu":
        name += f" / {', '.join(environment.get('gpus') or [])}"
    return name


def _series_key(run: RunResult, cell: CellResult) -> tuple:
    environment = cell.machine or run.environment
    settings = tuple((name, _hashable(run.config.get(name))) for name in MEASURED_SETTINGS)
    dataset = (("dataset", cell.dataset),)
    return cell.cell.key, machine_name(environment, cell.device), dataset + settings


def _series(key: tuple, points: list[Point], rank) -> Series:
    cell, machine, settings = key
    by_order: dict[str, list[Point]] = {}
    for point in sorted(points, key=lambda p: (rank(p.order), p.entry.created)):
        by_order.setdefault(point.order, []).append(point)
    groups = tuple(Group(order, tuple(members)) for order, members in by_order.items())
    return Series(cell, machine, settings, groups)


def _order_value(order_by: str, entry: RunEntry, cell: CellResult) -> str:
    if order_by == ORDER_BY_TIME:
        return f"{entry.created} {entry.path.name}"
    if order_by == ORDER_BY_COMMIT:
        return str(entry.environment.get("git_commit") or "unknown")
    packages = entry.environment.get("packages") or {}
    return str(cell.versions.get(order_by) or packages.get(order_by) or "unknown")


def _ranker(order_by: str, entries: list[RunEntry]):
    """A sort key for the order values: times as text, versions as versions, commits by
    their place in this checkout's history (oldest first; unknown ones after, by time)."""
    if order_by == ORDER_BY_TIME:
        return lambda value: (0, value)
    if order_by == ORDER_BY_COMMIT:
        places = _commit_places()
        return lambda value: (0, places[value]) if value in places else (1, 0)

    def version_key(value: str):
        try:
            return (0, Version(value))
        except InvalidVersion:
            return (1, value)

    known = {str((e.environment.get("packages") or {}).get(order_by)) for e in entries} | {
        str(c.versions.get(order_by)) for e in entries for c in e.run.cells
    }
    if known <= {"None"}:
        raise HarnessError(
            f"No results file records a version of {order_by!r}; order by created, "
            "git_commit or a package the files record (e.g. keras)"
        )
    return version_key


def _commit_places() -> dict[str, int]:
    try:
        done = subprocess.run(
            ["git", "log", "--format=%H", "--reverse"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        raise HarnessError(
            "--order-by git_commit needs a git checkout holding the recorded commits"
        ) from None
    return {commit: place for place, commit in enumerate(done.stdout.split())}


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
