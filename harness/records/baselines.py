"""Stored baselines: a results file saved under ``results/baselines/`` with its fingerprints.

A baseline is for trends and warnings (``kbench compare``); the gate that may fail a CI
job is ``kbench ab``, which measures both sides in one job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records.files import read_run, write_json_atomic
from harness.records.fingerprint import fingerprint
from harness.records.schema import RunResult

BASELINES_DIR = Path("results") / "baselines"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BaselineInfo:
    """One saved baseline, as ``kbench baseline list`` shows it."""

    name: str
    path: Path
    saved: str
    source: str
    cells: int
    profile: str | None
    dataset: str | None
    machine: str | None
    keras: str | None
    repeats: int


def default_name(run: RunResult) -> str:
    """``<profile>-<dataset>-<cpu>``, e.g. ``quick-mnist_5k-amd-epyc-7b13``."""
    dataset = (run.config.get("dataset") or {}).get("used", "data")
    cpu = re.sub(r"[^a-z0-9]+", "-", str(run.environment.get("cpu", "cpu")).lower()).strip("-")
    return f"{run.config.get('profile', 'run')}-{dataset}-{cpu[:40]}"


def save(
    results: Path,
    name: str | None = None,
    directory: Path = BASELINES_DIR,
    force: bool = False,
) -> Path:
    """Store the results file ``results`` as baseline ``name`` (atomically); an existing
    baseline of that name is replaced only with ``force``."""
    run = read_run(results)
    name = name or default_name(run)
    if not _NAME.match(name):
        raise HarnessError(
            f"Baseline names use letters, digits, '.', '_' and '-'. Received: name={name!r}"
        )
    if not any(c.ok for c in run.cells):
        raise HarnessError(f"No cell of {results} ran ok; nothing to keep as a baseline.")
    record = {
        **run.to_dict(),
        "baseline": {
            "name": name,
            "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": str(results),
            "fingerprints": {c.cell.key: fingerprint(run, c) for c in run.cells if c.ok},
        },
    }
    target = Path(directory) / f"{name}.json"
    if target.exists() and not force:
        raise HarnessError(
            f"Baseline {name!r} exists ({target}); pass --force to replace it, or --name another"
        )
    return write_json_atomic(target, record)


def resolve(name_or_path: str, directory: Path = BASELINES_DIR) -> Path:
    """A baseline's file: an existing path, or the name of a saved baseline."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    saved = Path(directory) / f"{name_or_path}.json"
    if saved.is_file():
        return saved
    known = ", ".join(b.name for b in list_baselines(directory)) or "none saved"
    raise HarnessError(
        f"No baseline file or saved baseline of that name (saved: {known}). "
        f"Received: baseline={name_or_path!r}"
    )


def list_baselines(directory: Path = BASELINES_DIR) -> list[BaselineInfo]:
    """Every saved baseline in ``directory``, newest first (unreadable files left out)."""
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        info = _info(path)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda b: b.saved, reverse=True)


def _info(path: Path) -> BaselineInfo | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        meta, env, config = data["baseline"], data["environment"], data["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return BaselineInfo(
        name=meta.get("name", path.stem),
        path=path,
        saved=meta.get("saved", ""),
        source=meta.get("source", ""),
        cells=sum(1 for c in data.get("cells", []) if c.get("status") == "ok"),
        profile=config.get("profile"),
        dataset=(config.get("dataset") or {}).get("used"),
        machine=env.get("cpu"),
        keras=(env.get("packages") or {}).get("keras"),
        repeats=config.get("repeats", 1),
    )
