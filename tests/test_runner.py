"""The parent side: real worker processes per cell, failure isolation, blocking waits."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from harness import datasets
from harness.backends import parent as devices
from harness.backends.parent import BACKENDS
from harness.errors import UsageError
from harness.records.files import read_run
from harness.records.schema import Cell, Status
from harness.run import child, launch
from harness.run import driver as bench
from harness.run.executor import WorkerJob
from harness.run.plan import plan_run
from harness.run.settings import RunSettings


def test_every_backend_cell_runs_in_its_own_backend(smoke_run):
    cells = {c.cell.key: c for c in smoke_run.cells}
    for backend in BACKENDS:
        cell = cells[f"dense_mlp/{backend}/cpu"]  # one size: keyed, and written, as always
        assert cell.batch_size is None
        assert "batch_size" not in cell.to_dict()
        assert cell.status is Status.OK, cell.error
        assert cell.versions["keras_backend"] == backend
        assert backend in cell.versions  # the framework's own version, as imported


def test_ok_cell_records_what_the_schema_promises(smoke_run):
    cell = next(c for c in smoke_run.cells if c.ok)
    assert cell.params.total == 472_042
    assert cell.step_time_ms.n_processes == 1
    step = cell.step_time_ms.first
    assert step.median == cell.step_time_ms.median > 0
    assert step.n_windows == len(step.samples) >= 3
    assert len(step.short_fit_s) == len(step.long_fit_s) == step.n_windows + step.warmup_windows
    assert cell.samples_per_s == pytest.approx(32 / (step.median / 1000))
    predict = cell.predict_step_ms  # timed as the step: window pairs of predict calls
    assert predict is not None
    assert cell.predict_ms_per_batch == predict.median > 0
    assert predict.first.n_windows == len(predict.first.samples) == 2  # smoke's predict_repeats
    assert predict.first.window_steps >= 2
    assert predict.first.teardown_ms_per_step is not None  # from on_predict_end to return
    busy = step.contention  # counted around the timing loop, which trains the model
    assert busy is not None
    assert busy.wall_s >= sum(step.short_fit_s) + sum(step.long_fit_s)
    assert busy.process_cpu_s > 0
    assert 0.0 <= cell.metrics["test_accuracy"] <= 1.0
    assert 0.1 <= cell.metrics["chance_accuracy"] < 0.5  # the commonest of 10 classes
    assert set(cell.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert {"import", "build", "first_step", "train", "evaluate"} <= set(cell.timings_s)
    assert cell.fairness["jit_compile_requested"] == "auto"
    assert cell.fairness["dtype_policy"] == "float32"
    assert cell.fairness["malloc"] == {
        name: os.environ.get(name, value) for name, value in devices.MALLOC_ENV.items()
    }  # the worker's own environment: the harness's fixed thresholds unless the user set them
    assert cell.memory_mb["peak_rss"] > 0


def test_each_cell_records_what_steers_its_kernels(smoke_run):
    kernels = {c.backend: c.fairness["kernels"] for c in smoke_run.cells if c.ok}
    for settings in kernels.values():
        assert settings["onednn_env"] == {
            k: v for k, v in os.environ.items() if k.startswith(("ONEDNN_", "DNNL_"))
        }
    assert kernels["torch"]["onednn"] in (True, False)
    assert kernels["torch"]["deterministic_algorithms"] is False
    assert kernels["tensorflow"]["TF_ENABLE_ONEDNN_OPTS"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    assert kernels["tensorflow"]["op_determinism"] is False
    assert isinstance(kernels["jax"]["xla_flags"], str)


def test_jit_compile_auto_resolves_per_backend(smoke_run):
    used = {c.backend: c.fairness["jit_compile_used"] for c in smoke_run.cells if c.ok}
    assert used == {"jax": True, "tensorflow": False, "torch": False}


def test_crashing_plugin_fails_alone(smoke_run):
    crashed = next(c for c in smoke_run.cells if c.plugin == "crashing")
    assert crashed.status is Status.FAILED
    assert "crashes on purpose" in crashed.error
    assert "Traceback" in crashed.log_tail
    assert sum(c.ok for c in smoke_run.cells) == 3


def test_nan_loss_marks_the_cell_failed(smoke_run):
    cell = next(c for c in smoke_run.cells if c.plugin == "nan_loss")
    assert cell.status is Status.FAILED
    assert "nan" in cell.error.lower()


def test_results_file_round_trips(smoke_run, tmp_path):
    path = bench.save(smoke_run, tmp_path / "run.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2
    assert {"environment", "config", "cells"} <= set(data)
    assert data["environment"]["packages"]["keras"]
    assert read_run(path).to_dict() == smoke_run.to_dict()


def test_hanging_cell_times_out_and_is_killed(user_plugins, tmp_path):
    settings = RunSettings(
        dataset="synthetic", profile="smoke", timeout_s=4.0, plugin_paths=(str(user_plugins),)
    )
    data = bench.load_data(plan_run(settings))
    data_path = tmp_path / "synthetic.npz"
    datasets.save_npz(data, data_path)
    job = WorkerJob(data_path, data.name, settings)
    result = launch.run_process(Cell("sleepy", "torch", "cpu"), job)
    assert result.status is Status.TIMEOUT
    assert "4 s" in result.error


def test_uninstalled_backend_is_unavailable_without_a_process(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "backend_installed", lambda backend: False)
    job = WorkerJob(tmp_path / "none.npz", "synthetic", RunSettings(profile="smoke"))
    result = launch.run_process(Cell("dense_mlp", "torch", "cpu"), job)
    assert result.status is Status.UNAVAILABLE
    assert "not installed" in result.error


@pytest.mark.skipif(bool(devices.gpu_names()), reason="this machine has a GPU")
def test_gpu_cell_without_gpu_is_unavailable(tmp_path):
    job = WorkerJob(tmp_path / "none.npz", "synthetic", RunSettings(profile="smoke"))
    result = launch.run_process(Cell("dense_mlp", "jax", "gpu"), job)
    assert result.status is Status.UNAVAILABLE


def test_wait_blocking_returns_on_exit_and_on_timeout():
    quick = subprocess.Popen(["sleep", "0.1"])
    assert child.wait_blocking(quick, 30.0) is True
    assert quick.returncode == 0
    slow = subprocess.Popen(["sleep", "30"])
    assert child.wait_blocking(slow, 0.2) is False
    slow.kill()
    slow.wait()


def test_wait_blocking_does_not_spin():
    before = resource.getrusage(resource.RUSAGE_SELF)
    proc = subprocess.Popen(["sleep", "1"])
    child.wait_blocking(proc, 30.0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.1  # a polling loop would burn CPU for the whole second


def test_parent_side_never_imports_a_framework():
    code = (
        "import sys; import harness.cli, harness.run.driver, harness.registry;"
        "import harness.executors.local, harness.executors.live;"
        "harness.registry.discover();"
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_worker_env_sets_backend_and_hides_gpus_on_cpu():
    env = devices.worker_env("jax", "cpu", threads=2)
    assert env["KERAS_BACKEND"] == "jax"
    assert env["JAX_PLATFORMS"] == "cpu"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["OMP_NUM_THREADS"] == "2"
    assert devices.worker_env("torch", "gpu", None)["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def test_worker_env_fixes_malloc_thresholds_unless_the_user_set_them(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert devices.worker_env("torch", "cpu", None)["MALLOC_MMAP_THRESHOLD_"] == str(32 * 2**20)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    env = devices.worker_env("torch", "cpu", None)
    assert "MALLOC_MMAP_THRESHOLD_" not in env  # the user's value reaches the worker as is
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(256 * 2**20)
    system = devices.worker_env("torch", "cpu", None, fixed_malloc=False)  # --malloc system
    assert not any(name.startswith("MALLOC_") for name in system)


def test_settings_recorded_before_the_malloc_setting_read_as_glibcs_own():
    recorded = RunSettings(profile="gate").recorded()
    assert recorded["malloc"] == "fixed"
    del recorded["malloc"]
    assert RunSettings.from_dict(recorded).malloc == "system"
    with pytest.raises(UsageError, match="malloc"):
        RunSettings(malloc="jemalloc")
