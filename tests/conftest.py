"""Shared fixtures: user plugin files the tests write, and the real runs that tests only read.

A test that needs a real run only to inspect its records, tables or output reads one of the
session-scoped runs here instead of starting its own workers; xdist's workers share them.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from filelock import FileLock

from harness.backends.parent import BACKENDS, backend_installed
from harness.cli import catalogue
from harness.executors.local import LocalExecutor
from harness.records import StepTimeStats, StepTimeSummary
from harness.records.files import read_run, write_json_atomic
from harness.records.schema import Cell, CellResult, RunResult, Status
from harness.run import driver
from harness.run.plan import plan_run
from harness.run.settings import RunSettings
from harness.worker.describe import describe_in_worker

USER_PLUGINS = """
import time

from harness.plugin import ModelPlugin, TrainingDefaults


def build_crashing(input_shape, num_classes):
    raise RuntimeError("this plugin crashes on purpose")


def build_sleepy(input_shape, num_classes):
    time.sleep(600)


def build_tiny(input_shape, num_classes):
    import keras

    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Dense(num_classes)])


def exploding_loss(y_true, y_pred):
    import keras

    return keras.ops.mean(y_pred) * float("nan")


CRASHING = ModelPlugin("crashing", "test", "raises in build", "flat", build_crashing)
SLEEPY = ModelPlugin("sleepy", "test", "never finishes building", "flat", build_sleepy)
NAN_LOSS = ModelPlugin(
    "nan_loss", "test", "a loss that is NaN", "flat", build_tiny,
    TrainingDefaults(loss=exploding_loss, metrics=()),
)
"""


T = TypeVar("T")


def _made_once(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    make: Callable[[], T],
    save: Callable[[T, Path], object],
    load: Callable[[Path], T],
) -> T:
    """``make()`` once per test session: under xdist the first worker to ask saves it in the
    session's temp folder and the others, waiting on a lock, load it (pytest-xdist's recipe
    for a session fixture made once)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make()
    path = tmp_path_factory.getbasetemp().parent / name
    with FileLock(f"{path}.lock"):
        if not path.is_file():
            save(make(), path)
        return load(path)


@pytest.fixture(scope="session")
def user_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --plugin-path file with a crashing, a hanging and a NaN-loss plugin."""
    path = tmp_path_factory.mktemp("user_plugins") / "broken.py"
    path.write_text(textwrap.dedent(USER_PLUGINS))
    return path


@pytest.fixture(scope="session")
def smoke_run(user_plugins: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """dense_mlp on every backend, plus a crashing and a NaN-loss cell, in one real run."""
    settings = RunSettings(
        plugins=("dense_mlp",),
        dataset="synthetic",
        profile="smoke",
        device="cpu",
        plugin_paths=(str(user_plugins),),
    )
    plan = plan_run(settings)
    cells = [Cell("crashing", "jax", "cpu"), *plan.cells, Cell("nan_loss", "torch", "cpu")]
    plan = replace(plan, cells=cells)

    def run() -> RunResult:
        return driver.execute(plan, driver.load_data(plan), LocalExecutor())

    return _made_once(tmp_path_factory, "smoke_run.json", run, driver.save, read_run)


@pytest.fixture(scope="session")
def crash_rerun(
    smoke_run: RunResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The smoke run's crashing cell run again, in a ``kbench`` process, by the command its
    record gives to rerun it: the process and the results file it wrote."""
    crashed = next(c for c in smoke_run.cells if c.plugin == "crashing")
    out = tmp_path_factory.mktemp("rerun") / "again.json"
    words = shlex.split(crashed.repro)[1:]
    command = [sys.executable, "-m", "harness", *words, "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True), out


Describe = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def describe_once(tmp_path_factory: pytest.TempPathFactory) -> Describe:
    """``describe_in_worker`` with one child process per backend and plugin paths for the
    whole session: the built-ins' counts are read by several tests."""
    found: dict[tuple[tuple[str, ...], str | None], dict[str, Any]] = {}

    def describe(plugin_paths: Sequence[str] = (), backend: str | None = None) -> dict:
        backend = backend or next((b for b in BACKENDS if backend_installed(b)), None)
        key = (tuple(plugin_paths), backend)
        if key in found:
            return found[key]
        if plugin_paths:  # this xdist worker's own plugin files
            found[key] = describe_in_worker(list(plugin_paths), backend)
        else:  # the built-ins: the same for every worker
            found[key] = _made_once(
                tmp_path_factory,
                f"described-{backend}.json",
                lambda: describe_in_worker([], backend),
                lambda described, path: write_json_atomic(path, described),
                lambda path: json.loads(path.read_text()),
            )
        return found[key]

    return describe


@pytest.fixture
def list_describes_once(monkeypatch: pytest.MonkeyPatch, describe_once: Describe) -> None:
    """``kbench list`` counts parameters with the session's shared child process."""
    monkeypatch.setattr(catalogue, "describe_in_worker", describe_once)


OneCellRun = Callable[..., RunResult]
TimedCell = Callable[..., CellResult]
ONE_CELL = Cell("m", "jax", "cpu")


def _timed_cell(
    medians: list[float],
    busy: list[float] | None = None,
    cell: Cell = ONE_CELL,
    wall_s: float | None = None,
) -> CellResult:
    """A cell whose processes timed ``medians`` ms/step and, as a self-test's side B, were
    given ``busy`` ms of work per step, sized from their own step; each process's wall time
    ``wall_s`` when given."""
    processes = []
    for k, median in enumerate(medians):
        stats = StepTimeStats.from_fits([0.0], [median / 1000.0], window_steps=1, warmup_windows=0)
        if busy:
            given = {"slowdown": 0.1, "base_ms": 10 * busy[k], "busy_ms": busy[k]}
            stats = replace(stats, injected=given)
        if wall_s is not None:
            stats = replace(stats, phases_s={"wall": wall_s})
        processes.append(stats)
    summary = StepTimeSummary.from_processes(processes)
    return CellResult(
        cell.plugin, cell.backend, cell.device, "synthetic", Status.OK, step_time_ms=summary
    )


@pytest.fixture
def timed_cell() -> TimedCell:
    """Builds a cell's record from the step times its processes are to have."""
    return _timed_cell


@pytest.fixture
def one_cell_run() -> OneCellRun:
    """Builds a run of one cell (m/jax/cpu) whose processes timed ``medians`` ms/step and, as
    a self-test's side B, were given ``busy`` ms of work per step, sized from their own step."""

    def build(medians: list[float], busy: list[float] | None = None) -> RunResult:
        return RunResult("", {}, {}, [_timed_cell(medians, busy)])

    return build


GateDecided = Callable[[int, dict, str], None]
VERDICTS = {"same", "faster", "slower", "inconclusive", "regression"}


def _aa_gate_decided(returncode: int, record: dict, output: str = "") -> None:
    """A real A/A gate ran to its verdicts: exit 1 exactly when a cell is a regression."""
    verdicts = {cell["verdict"] for cell in record["cells"]}
    assert verdicts <= VERDICTS, verdicts
    assert returncode == (1 if "regression" in verdicts else 0), output


@pytest.fixture
def aa_gate_decided() -> GateDecided:
    """Checks a real A/A gate's exit and verdicts without asking for one verdict: a false
    alarm comes with probability up to alpha (docs/gate.md measures it), so tests of what a
    gate does accept it; its verdicts are tested on scripted step times (test_gate_looks)."""
    return _aa_gate_decided
