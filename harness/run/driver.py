"""One benchmark run end to end: settings -> plan -> dataset -> workers -> results file."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import datasets
from harness.records import environment
from harness.records.efficiency import device_peaks
from harness.records.files import write_json_atomic
from harness.records.schema import Cell, CellResult, RunResult, Status
from harness.run.executor import Executor, Observer, Processes, WorkerJob
from harness.run.interrupt import deferred
from harness.run.plan import RunPlan
from harness.run.processes import finish_cell
from harness.run.profiles import get_profile
from harness.run.settings import RunSettings

RUNS_DIR = Path("results") / "runs"
UNFINISHED = "unfinished"  # a checkpoint's ``interrupted``: the run was still going


def load_data(plan: RunPlan) -> datasets.Dataset:
    """The dataset the run will use, cut to the profile's size."""
    settings = plan.settings
    data = datasets.load_dataset(settings.dataset, data_dir=settings.data_dir, seed=settings.seed)
    profile = get_profile(settings.profile)
    return data.subset(profile.train_limit, profile.test_limit)


def execute(
    plan: RunPlan,
    data: datasets.Dataset,
    executor: Executor,
    observe: Observer | None = None,
    python: Sequence[str] | None = None,
    previous: RunResult | None = None,
    checkpoint: Path | None = None,
) -> RunResult:
    """Run every cell (``repeats`` worker processes each) and assemble the run's record.

    Stopped by SIGINT or SIGTERM, it returns what finished (the rest ``interrupted``, the
    run's ``interrupted`` naming the signal). With ``previous`` (a resumed run), the cells
    that finished there are kept and only the missing processes run. With ``checkpoint``,
    the run so far is written there after every worker (``interrupted``: ``unfinished``),
    so that even a parent killed by SIGKILL leaves every finished cell on disk. The
    ``executor`` runs the workers (``harness.executors``).
    """
    processes: Processes = {"": resumable(previous) if previous else {}}
    env = environment.collect()
    with dataset_file(data) as data_path:
        job = worker_job(plan, data, data_path, python)

        def record(stopped: str | None) -> RunResult:
            cells = [finish_cell(processes[""].get(c.key, []), c, job) for c in plan.cells]
            cells = [with_repro(cell, plan.settings) for cell in cells]
            return assemble(plan, data, cells, env, stopped, executor.describe())

        if checkpoint is not None:
            observe = _checkpointing(observe, checkpoint, lambda: record(UNFINISHED))
        repeats = range(plan.settings.repeats)
        stopped = executor.run_until_stopped(plan.cells, {"": job}, processes, repeats, observe)
    return record(stopped)


def _checkpointing(
    observe: Observer | None, path: Path, snapshot: Callable[[], RunResult]
) -> Observer:
    """``observe``, and after every finished worker the run so far written to ``path``
    (a failing write is skipped: the final write says what went wrong)."""

    def both(side: str, cell: Cell, result: CellResult | None) -> None:
        if observe:
            observe(side, cell, result)
        if result is not None:
            with deferred(), suppress(OSError):
                write_json_atomic(path, snapshot().to_dict())

    return both


def resumable(previous: RunResult) -> dict[str, list[CellResult]]:
    """The processes of a recorded run worth keeping: cells that finished (ok or skipped)
    and the finished processes of interrupted cells; failed cells run again."""
    kept = {}
    for cell in previous.cells:
        if cell.status in (Status.OK, Status.SKIPPED):
            kept[cell.cell.key] = [cell]
        elif cell.status is Status.INTERRUPTED and cell.step_time_ms is not None:
            kept[cell.cell.key] = [replace(cell, status=Status.OK, error=None)]
    return kept


def with_repro(cell: CellResult, settings: RunSettings) -> CellResult:
    """A cell that is not ok, with the command line that reruns just that cell."""
    if cell.ok or cell.status is Status.SKIPPED:
        return cell
    dataset = cell.dataset if cell.dataset in datasets.DATASET_NAMES else settings.dataset
    command = settings.for_cell(cell.cell).command_for(
        cell.plugin, cell.backend, cell.device, dataset
    )
    return replace(cell, repro=command)


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
        requires=plan.requires,
    )


def assemble(
    plan: RunPlan,
    data: datasets.Dataset,
    results: list[CellResult],
    env: dict[str, Any],
    interrupted: str | None = None,
    executor: dict[str, Any] | None = None,
) -> RunResult:
    """The run's record: environment, the settings behind every number, the cells, and
    where they ran (``executor``: local, or the Ray cluster's nodes)."""
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
        "executor": executor or {"kind": "local"},
    }
    peaks = device_peaks(results)  # the machine's peak, as the run's workers measured it
    env = {**env, "measured_peak": peaks} if peaks else env
    return RunResult(_now(), env, config, results, interrupted=interrupted)


def default_out(profile: str, prefix: str = "") -> Path:
    """``results/runs/<prefix><time>-<profile>.json``."""
    return RUNS_DIR / f"{prefix}{datetime.now().strftime('%Y%m%d-%H%M%S')}-{profile}.json"


def save(run: RunResult, out: Path | None) -> Path:
    """Write the run atomically to ``out`` or ``results/runs/<time>-<profile>.json``."""
    return write_json_atomic(out or default_out(run.config["profile"]), run.to_dict())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
