"""One benchmark run end to end: selection -> dataset -> cells -> results file."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import datasets, registry
from harness.backends import parent as devices
from harness.errors import HarnessError
from harness.records import environment
from harness.records.files import write_json_atomic
from harness.records.schema import Cell, CellResult, RunResult
from harness.run import plan
from harness.run.profiles import get_profile
from harness.run.runner import Observer, WorkerJob, run_cells

RUNS_DIR = Path("results") / "runs"


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for, before validation (the CLI's ``run`` options)."""

    plugins: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    device: str = "auto"
    dataset: str = "auto"
    data_dir: str | None = None
    profile: str = "quick"
    epochs: int | None = None
    batch_size: int | None = None
    jit_compile: str = "auto"
    dtype_policy: str = "float32"
    threads: int | None = None
    malloc: str = "fixed"
    seed: int = 0
    timeout_s: float | None = None
    plugin_paths: list[str] = field(default_factory=list)
    out: Path | None = None
    repeats: int = 1


@dataclass(frozen=True)
class PreparedRun:
    """A validated request: the cells to run and the settings they share."""

    request: RunRequest
    cells: list[Cell]
    settings: plan.RunSettings
    skips: dict[str, str] = field(default_factory=dict)
    plugin_sources: dict[str, str | None] = field(default_factory=dict)


def prepare(request: RunRequest) -> PreparedRun:
    """Validate every choice before any worker starts (a usage error costs nothing)."""
    profile = get_profile(request.profile)
    found = registry.discover(request.plugin_paths)
    plugins = registry.select(found, request.plugins)
    backends = plan.select_backends(request.backends)
    device_list = devices.resolve_devices(request.device)
    settings = plan.RunSettings(
        profile=profile.name,
        epochs=request.epochs or profile.epochs,
        batch_size=request.batch_size,
        jit_compile=request.jit_compile,
        dtype_policy=request.dtype_policy,
        threads=request.threads,
        malloc=request.malloc,
        seed=request.seed,
        timeout_s=request.timeout_s or profile.timeout_s,
        predict_repeats=profile.predict_repeats,
        timing=profile.timing,
    )
    if request.repeats < 1:
        raise HarnessError(f"repeats must be >= 1. Received: repeats={request.repeats}")
    cells = plan.expand(plugins, backends, device_list)
    sources = {p.name: registry.source_hash(p) for p in plugins}
    return PreparedRun(request, cells, settings, plan.skip_reasons(plugins, cells), sources)


def load_data(prepared: PreparedRun) -> datasets.Dataset:
    """The dataset the run will use, cut to the profile's size."""
    request = prepared.request
    profile = get_profile(request.profile)
    data = datasets.load_dataset(request.dataset, data_dir=request.data_dir, seed=request.seed)
    return data.subset(profile.train_limit, profile.test_limit)


def execute(
    prepared: PreparedRun,
    data: datasets.Dataset,
    observe: Observer | None = None,
    python: Sequence[str] | None = None,
) -> RunResult:
    """Run every cell (``repeats`` worker processes each) and assemble the run's record."""
    with tempfile.TemporaryDirectory(prefix="kbench-run-") as tmp:
        data_path = Path(tmp) / f"{data.name}.npz"
        datasets.save_npz(data, data_path)
        job = worker_job(prepared, data, data_path, python)
        results = run_cells(prepared.cells, job, observe)
    return assemble(prepared, data, results, environment.collect())


def worker_job(
    prepared: PreparedRun,
    data: datasets.Dataset,
    data_path: Path,
    python: Sequence[str] | None = None,
) -> WorkerJob:
    """What every worker of this run gets, for the interpreter ``python`` (default: this)."""
    request = prepared.request
    return WorkerJob(
        data_path,
        data.name,
        prepared.settings,
        tuple(request.plugin_paths),
        prepared.skips,
        python=tuple(python or (sys.executable,)),
        repeats=request.repeats,
    )


def assemble(
    prepared: PreparedRun,
    data: datasets.Dataset,
    results: list[CellResult],
    env: dict[str, Any],
) -> RunResult:
    """The run's record: environment, the settings behind every number, and the cells."""
    request = prepared.request
    config = {
        **prepared.settings.to_dict(),
        "plugins": list(dict.fromkeys(c.plugin for c in prepared.cells)),
        "backends": list(dict.fromkeys(c.backend for c in prepared.cells)),
        "devices": list(dict.fromkeys(c.device for c in prepared.cells)),
        "dataset": {
            "requested": request.dataset,
            "used": data.name,
            "source": data.source,
            "n_train": len(data.x_train),
            "n_test": len(data.x_test),
        },
        "plugin_paths": request.plugin_paths,
        "plugin_sources": prepared.plugin_sources,
        "repeats": request.repeats,
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
