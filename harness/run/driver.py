"""One benchmark run end to end: settings -> plan -> dataset -> workers -> results file."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import datasets
from harness.records import environment
from harness.records.files import write_json_atomic
from harness.records.schema import CellResult, RunResult
from harness.run.plan import RunPlan
from harness.run.profiles import get_profile
from harness.run.runner import Observer, WorkerJob, run_cells

RUNS_DIR = Path("results") / "runs"


def load_data(plan: RunPlan) -> datasets.Dataset:
    """The dataset the run will use, cut to the profile's size."""
    settings = plan.settings
    data = datasets.load_dataset(settings.dataset, data_dir=settings.data_dir, seed=settings.seed)
    profile = get_profile(settings.profile)
    return data.subset(profile.train_limit, profile.test_limit)


def execute(
    plan: RunPlan,
    data: datasets.Dataset,
    observe: Observer | None = None,
    python: Sequence[str] | None = None,
) -> RunResult:
    """Run every cell (``repeats`` worker processes each) and assemble the run's record."""
    with dataset_file(data) as data_path:
        results = run_cells(plan.cells, worker_job(plan, data, data_path, python), observe)
    return assemble(plan, data, results, environment.collect())


@contextmanager
def dataset_file(data: datasets.Dataset) -> Iterator[Path]:
    """The dataset written once to a temporary ``.npz`` that every worker reads."""
    with tempfile.TemporaryDirectory(prefix="kbench-run-") as tmp:
        path = Path(tmp) / f"{data.name}.npz"
        datasets.save_npz(data, path)
        yield path


def worker_job(
    plan: RunPlan,
    data: datasets.Dataset,
    data_path: Path,
    python: Sequence[str] | None = None,
) -> WorkerJob:
    """What every worker of this run gets, for the interpreter ``python`` (default: this)."""
    return WorkerJob(
        data_path,
        data.name,
        plan.settings,
        plan.skips,
        python=tuple(python or (sys.executable,)),
    )


def assemble(
    plan: RunPlan,
    data: datasets.Dataset,
    results: list[CellResult],
    env: dict[str, Any],
) -> RunResult:
    """The run's record: environment, the settings behind every number, and the cells."""
    settings = plan.settings
    config = {
        **settings.recorded(),
        "plugins": list(dict.fromkeys(c.plugin for c in plan.cells)),
        "backends": list(dict.fromkeys(c.backend for c in plan.cells)),
        "devices": list(dict.fromkeys(c.device for c in plan.cells)),
        "dataset": {
            "requested": settings.dataset,
            "used": data.name,
            "source": data.source,
            "n_train": len(data.x_train),
            "n_test": len(data.x_test),
        },
        "plugin_paths": list(settings.plugin_paths),
        "plugin_sources": plan.plugin_sources,
        "repeats": settings.repeats,
    }
    return RunResult(_now(), env, config, results)


def save(run: RunResult, out: Path | None) -> Path:
    """Write the run atomically to ``out`` or ``results/runs/<time>-<profile>.json``."""
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = RUNS_DIR / f"{stamp}-{run.config['profile']}.json"
    return write_json_atomic(out, run.to_dict())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
