"""``kbench merge``: shards of one matrix (``kbench run --shard K/N`` on several machines)
joined into one results file. Each cell keeps the machine it ran on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records.schema import MEASURED_SETTINGS, CellResult, RunResult

# What must agree between shards for their cells to belong to one matrix.
SAME_SETTINGS = (*MEASURED_SETTINGS, "repeats")


def merge_runs(runs: Sequence[tuple[Path, RunResult]]) -> RunResult:
    """One run from several: refused (one line) when their settings disagree or a cell is in
    two of them."""
    if len(runs) < 2:
        raise HarnessError("kbench merge needs two or more results files")
    (first_path, first), seen = runs[0], {}
    cells: list[CellResult] = []
    for path, run in runs:
        _check_settings(first_path, first, path, run)
        for cell in run.cells:
            if cell.cell.key in seen:
                raise HarnessError(f"{cell.cell.key} is in both {seen[cell.cell.key]} and {path}")
            seen[cell.cell.key] = path
            cells.append(replace(cell, machine=cell.machine or machine_of(run.environment)))
    config = {
        **first.config,
        **{name: _union(run.config.get(name) for _, run in runs) for name in _LISTS},
        "shard": None,
        "merged_from": [str(path) for path, _ in runs],
    }
    stopped = next((run.interrupted for _, run in runs if run.interrupted), None)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return RunResult(
        created, first.environment, config, _ordered(cells, config), interrupted=stopped
    )


_LISTS = ("plugins", "backends", "devices")


def machine_of(environment: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's environment that says where a cell ran."""
    return {k: environment.get(k) for k in ("hostname", "cpu", "cores", "gpus")}


def _check_settings(first_path: Path, first: RunResult, path: Path, run: RunResult) -> None:
    mine, theirs = _settings(first.config), _settings(run.config)
    for name in mine:
        if mine[name] != theirs[name]:
            raise HarnessError(
                f"{path} was run with other settings than {first_path}: {name} is "
                f"{theirs[name]!r} there, {mine[name]!r} in {first_path}"
            )


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    dataset = config.get("dataset") or {}
    found = {name: config.get(name) for name in SAME_SETTINGS}
    return found | {f"dataset {k}": dataset.get(k) for k in ("used", "n_train", "n_test")}


def _union(lists: Any) -> list[str]:
    return list(dict.fromkeys(name for names in lists for name in names or ()))


def _ordered(cells: list[CellResult], config: dict[str, Any]) -> list[CellResult]:
    """Plugin-major (then a sweep's batch size), as a single run orders its cells."""
    plugins, backends, devices = (config[name] for name in _LISTS)
    sizes = config.get("batch_size") if isinstance(config.get("batch_size"), list) else []

    def rank(cell: CellResult) -> tuple[int, int, int, int]:
        return (
            plugins.index(cell.plugin) if cell.plugin in plugins else len(plugins),
            sizes.index(cell.batch_size) if cell.batch_size in sizes else len(sizes),
            devices.index(cell.device) if cell.device in devices else len(devices),
            backends.index(cell.backend) if cell.backend in backends else len(backends),
        )

    return sorted(cells, key=rank)
