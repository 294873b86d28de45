"""What differs around a step: between the two runs either side, package versions, the
commit, the interpreter, the operating system, the CPUs the run was allowed (affinity), the
host and the run's options; between the two segments, the machine's own speed as the cells
measured it (matmul and memory rates) and the CPU time the hypervisor gave to others."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.history.series import Group, Point

MACHINE_CHANGE = 0.05  # a machine figure is named when its medians differ by more than 5%

# environment fields named when they differ (packages and cell versions are walked apart)
ENVIRONMENT_FIELDS = ("harness", "python", "git_commit", "os", "affinity", "hostname", "gpus")
# run settings outside the series key that still may matter (MEASURED_SETTINGS are in it)
CONFIG_FIELDS = ("repeats", "executor", "timeout_s", "max_memory_gb")


def what_changed(before: Point, after: Point) -> list[str]:
    """``name: old -> new`` for every recorded version, commit, host or option that differs
    between two points (the last run before a step and the first after it)."""
    old, new = before.environment, after.environment
    lines = _differences(_versions(before), _versions(after))
    lines += _differences(
        {name: old.get(name) for name in ENVIRONMENT_FIELDS},
        {name: new.get(name) for name in ENVIRONMENT_FIELDS},
    )
    return lines + _differences(_options(before), _options(after))


def _versions(point: Point) -> dict[str, Any]:
    """The run's package versions, the cell's own where it recorded them."""
    recorded = {**(point.environment.get("packages") or {}), **point.cell.versions}
    return {f"package {name}": version for name, version in recorded.items()}


def _options(point: Point) -> dict[str, Any]:
    """The run's options outside the series key, and the hash of the plugin's source."""
    config = point.entry.run.config
    options = {f"option {name}": config.get(name) for name in CONFIG_FIELDS}
    sources = config.get("plugin_sources") or {}
    options[f"plugin {point.cell.plugin} source"] = sources.get(point.cell.plugin)
    summary = point.cell.step_time_ms
    share = summary.injected_share if summary else None
    options["self-test work per step"] = None if share is None else f"{share:+.0%}"
    return options


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    names = dict.fromkeys([*old, *new])
    return [
        f"{name}: {_text(old.get(name))} -> {_text(new.get(name))}"
        for name in names
        if old.get(name) != new.get(name)
    ]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value):
        return value[:10]  # a commit
    return str(value)


def machine_changes(before: Sequence[Group], after: Sequence[Group]) -> list[str]:
    """The machine's measured speed and steal, medians over the runs of each segment, where
    they differ by more than ``MACHINE_CHANGE`` (steal: by more than 1% of the cores)."""
    lines = []
    for name, unit, value in _MACHINE_FIGURES:
        old, new = _median(before, value), _median(after, value)
        if old and new and abs(new / old - 1) > MACHINE_CHANGE:
            lines.append(f"measured {name}: {old:.3g} -> {new:.3g} {unit} (x{new / old:.2f})")
    old, new = _median(before, _steal_share), _median(after, _steal_share)
    if old is not None and new is not None and abs(new - old) > 0.01:
        lines.append(f"steal: {old:.1%} -> {new:.1%} of the cores")
    return lines


def _median(groups: Sequence[Group], value: Callable[[Point], float | None]) -> float | None:
    values = [v for g in groups for p in g.points if (v := value(p)) is not None]
    return statistics.median(values) if values else None


def _rate(label: str) -> Callable[[Point], float | None]:
    def value(point: Point) -> float | None:
        peak = point.cell.peak
        if peak is None:
            return None
        if label == "memory":
            return peak.memory.rate if peak.memory else None
        return next((r.rate for r in peak.matmul if r.label == label), None)

    return value


def _steal_share(point: Point) -> float | None:
    """The steal over the cell's timed windows, as a share of all cores (median over its
    processes)."""
    summary = point.cell.step_time_ms
    shares = [
        p.contention.steal_share
        for p in (summary.processes if summary else [])
        if p.contention is not None and p.contention.steal_share is not None
    ]
    return statistics.median(shares) if shares else None


_MACHINE_FIGURES = (
    ("matmul peak", "GFLOP/s", _rate("square")),
    ("model-shaped matmul", "GFLOP/s", _rate("model")),
    ("memory bandwidth", "GB/s", _rate("memory")),
)
