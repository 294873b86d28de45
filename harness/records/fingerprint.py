"""What must match for two timings of a cell to be comparable: the cell's fingerprint.

Stored with every baseline and checked by ``kbench compare``; ``--ignore FIELD`` allows one
field to differ (e.g. ``keras`` after an upgrade).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.records.schema import MALLOC_UNRECORDED, CellResult, RunResult

FINGERPRINT_FIELDS = (
    "machine",
    "device",
    "backend",
    "backend_version",
    "keras",
    "dataset",
    "batch_size",
    "profile",
    "jit_compile",
    "dtype_policy",
    "malloc",
)


def fingerprint(run: RunResult, cell: CellResult) -> dict[str, Any]:
    """What must match for two timings of a cell to be comparable."""
    env, config, fairness = cell.machine or run.environment, run.config, cell.fairness
    machine = f"{env.get('cpu')} x{env.get('cores')}"
    if cell.device == "gpu":
        machine += f" / {', '.join(env.get('gpus') or [])}"
    return {
        "machine": machine,
        "device": cell.device,
        "backend": cell.backend,
        "backend_version": cell.versions.get(cell.backend),
        "keras": cell.versions.get("keras") or env.get("packages", {}).get("keras"),
        "dataset": cell.dataset,
        "batch_size": fairness.get("batch_size"),
        "profile": config.get("profile"),
        "jit_compile": fairness.get("jit_compile_requested", config.get("jit_compile")),
        "dtype_policy": fairness.get("dtype_policy", config.get("dtype_policy")),
        "malloc": config.get("malloc", MALLOC_UNRECORDED),
    }


def fingerprint_differences(
    old: dict[str, Any], new: dict[str, Any], ignore: Iterable[str] = ()
) -> list[str]:
    """``field: old -> new`` for every fingerprint field that differs (ok cells only)."""
    skipped = set(ignore)
    return [
        f"{name}: {old.get(name)} -> {new.get(name)}"
        for name in FINGERPRINT_FIELDS
        if name not in skipped and old.get(name) != new.get(name)
    ]
