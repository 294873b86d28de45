"""Child process: runs ONE cell and writes its record as JSON. The only place Keras is imported.

Usage (by the runner): ``python -m harness.worker.cell SPEC.json RESULT.json``. The parent sets
``KERAS_BACKEND`` and the device variables in the environment before this process starts.
"""

from __future__ import annotations

import resource
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness import datasets, plugin_data, synthetic
from harness.backends.worker import WorkerBackend, worker_backend
from harness.plugin import ModelPlugin
from harness.records.files import write_json_atomic
from harness.records.schema import CellResult, Status
from harness.records.steptime import StepTimeStats, StepTimeSummary
from harness.registry import discover
from harness.run.child import die_with_parent
from harness.run.profiles import get_profile
from harness.run.spec import WorkerSpec
from harness.run.turns import turns_from_env
from harness.synthetic import SpecData
from harness.worker.efficiency import measure
from harness.worker.model import inputs_targets
from harness.worker.native_cell import time_native
from harness.worker.session import Session

SPEC_TRAIN, SPEC_TEST = 8192, 2048  # synthetic split sizes under a profile without limits


class CellUnavailable(Exception):
    """The cell cannot run in this environment (e.g. no GPU visible to the backend)."""


def main(argv: list[str]) -> int:
    die_with_parent()
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec = WorkerSpec.load(spec_path)
    started = time.perf_counter()
    record = _record_or_reason(spec)
    record["duration_s"] = time.perf_counter() - started
    write_json_atomic(result_path, record)
    return 0


def _record_or_reason(spec: WorkerSpec) -> dict[str, Any]:
    """The cell's record, or a not-run record saying why (the traceback goes to the log)."""
    try:
        return run_cell(spec)
    except CellUnavailable as error:
        return _not_run(spec, Status.UNAVAILABLE, str(error))
    except ModuleNotFoundError as error:
        if error.name in worker_backend(spec.cell.backend).modules:
            reason = f"{spec.cell.backend} is not installed for {sys.executable}"
            return _not_run(spec, Status.UNAVAILABLE, reason)
        traceback.print_exc()
        return _not_run(spec, Status.FAILED, f"{type(error).__name__}: {error}")
    except Exception as error:
        traceback.print_exc()
        return _not_run(spec, Status.FAILED, f"{type(error).__name__}: {error}")


def _not_run(spec: WorkerSpec, status: Status, reason: str) -> dict[str, Any]:
    dataset = Path(spec.dataset_path).stem
    return CellResult.not_run(spec.cell, dataset, status, reason).to_dict()


def run_cell(spec: WorkerSpec) -> dict[str, Any]:
    """Import Keras, then time, train and evaluate the cell's plugin."""
    cell, settings, process = spec.cell, spec.settings, spec.process
    keras, import_s = _import_keras(cell.backend)
    setup_started = time.perf_counter()
    framework = worker_backend(cell.backend)
    framework.configure(cell.device, settings.threads)
    gpus = framework.accelerators()
    if cell.device == "gpu" and not gpus:
        raise CellUnavailable(f"no GPU visible to {cell.backend} in this environment")
    keras.config.set_dtype_policy(settings.dtype_policy)

    plugin = discover(settings.plugin_paths)[cell.plugin].plugin
    data = cell_data(plugin, spec)
    session = Session(keras, plugin, settings.for_cell(cell), cell.backend)
    session.turns = turns_from_env()  # in a process pair: wait for a turn per window pair
    train = inputs_targets(plugin, data.x_train, data.y_train)
    test = inputs_targets(plugin, data.x_test, data.y_test)
    phases = {"import": import_s, "setup": time.perf_counter() - setup_started}
    if cell.native:
        return _native_record(spec, session, data, train, phases, gpus)
    timing = session.time_steps(
        *train, data.num_classes, process.window_steps, process.windows, predict=process.train
    )
    phases.update(timing.pop("phases"))
    training, flops, peak = {}, None, None
    phases["train"] = phases["efficiency"] = 0.0
    if process.train:
        started = time.perf_counter()
        training = session.train_and_evaluate(*train, *test)
        phases["train"] = time.perf_counter() - started
    memory = _memory(framework, cell.device)
    if process.train:
        started = time.perf_counter()
        flops, peak = measure(keras, session, framework, cell.device, train[0], data.num_classes)
        phases["efficiency"] = time.perf_counter() - started
    step = StepTimeSummary.from_processes([replace(timing.pop("step"), phases_s=phases)])
    quality = training.pop("quality", None)  # before the rest of training joins timings_s
    return _timed_record(
        spec,
        session,
        data.name,
        step,
        gpus,
        params=training.pop("params", timing.pop("params")),
        **predict_fields(timing.pop("predict")),
        metrics=_with_chance(training.pop("metrics", {}), plugin, data.y_test),
        history=training.pop("history", {}),
        epochs_run=training.pop("epochs_run", None),
        early_stopping=training.pop("early_stopping", None),
        timings_s={"import": import_s, **timing, **training},
        memory_mb=memory,
        flops=flops,
        peak=peak,
        quality=quality,
    )


def _native_record(
    spec: WorkerSpec,
    session: Session,
    data: datasets.Dataset | SpecData,
    train: tuple[Any, Any],
    phases: dict[str, float],
    gpus: list[str],
) -> dict[str, Any]:
    """A native reference's cell: its check, its step time, no training or evaluation."""
    cell = spec.cell
    started = time.perf_counter()
    timing = time_native(session, cell.native, *train, data.num_classes, spec.process.windows)
    phases["timed"] = time.perf_counter() - started
    step = StepTimeSummary.from_processes([replace(timing.pop("step"), phases_s=phases)])
    return _timed_record(
        spec,
        session,
        data.name,
        step,
        gpus,
        params=timing.pop("params"),
        timings_s={"build": timing.pop("build"), "first_step": timing.pop("first_step")},
        memory_mb=_memory(worker_backend(cell.backend), cell.device),
        native=timing.pop("native"),
    )


def _timed_record(
    spec: WorkerSpec,
    session: Session,
    dataset: str,
    step: StepTimeSummary,
    gpus: list[str],
    **fields: Any,
) -> dict[str, Any]:
    """An ok cell's record: who and where, its step time and throughput, the fairness
    settings and versions in effect, and ``fields``."""
    cell = spec.cell
    return CellResult(
        plugin=cell.plugin,
        backend=cell.backend,
        device=cell.device,
        dataset=dataset,
        status=Status.OK,
        step_time_ms=step,
        samples_per_s=session.batch_size / (step.median / 1000.0),
        fairness=session.fairness(cell.device, gpus),
        versions=worker_backend(cell.backend).versions(),
        batch_size=cell.batch_size,
        **fields,
    ).to_dict()


def cell_data(plugin: ModelPlugin, spec: WorkerSpec) -> datasets.Dataset | SpecData:
    """The run's dataset, or for a plugin with declared inputs and a task, its own ``load``'s
    data or synthetic data made here from them and the seed, as large as the profile's splits."""
    if plugin.task is None:
        return datasets.load_npz(Path(spec.dataset_path))
    profile = get_profile(spec.settings.profile)
    if plugin.load is not None:
        return plugin_data.load(plugin, profile.train_limit, profile.test_limit, spec.settings.seed)
    n_train = profile.train_limit or SPEC_TRAIN
    n_test = profile.test_limit or SPEC_TEST
    return synthetic.generate(plugin.inputs, plugin.task, n_train, n_test, spec.settings.seed)


def _with_chance(metrics: dict[str, float], plugin: ModelPlugin, labels: Any) -> dict[str, float]:
    """The test metrics and ``chance_accuracy``: the accuracy of always answering the most
    common test label (what an untrained model can score; none for a regression)."""
    if not metrics or not len(labels):
        return metrics
    if plugin.task is not None:
        chance = synthetic.chance_accuracy(plugin.task, labels)
        return metrics if chance is None else {**metrics, "chance_accuracy": chance}
    return {**metrics, "chance_accuracy": float(np.bincount(labels).max() / len(labels))}


def _import_keras(backend: str) -> tuple[Any, float]:
    """Keras, imported under the backend the parent chose, and the seconds that took."""
    start = time.perf_counter()
    import keras

    import_s = time.perf_counter() - start
    if keras.backend.backend() != backend:
        raise RuntimeError(f"Expected backend {backend!r}, got {keras.backend.backend()!r}")
    return keras, import_s


def _memory(framework: WorkerBackend, device: str) -> dict[str, float | None]:
    """Peak resident memory of this process, and peak device memory on a GPU cell."""
    return {
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device_peak": framework.device_peak_memory_mb(device),
    }


def predict_fields(predict: StepTimeStats | None) -> dict[str, Any]:
    """A cell record's predict figures from the predict window pairs (None: not timed):
    ``predict_step_ms``, the summary, and ``predict_ms_per_batch``, its median."""
    summary = StepTimeSummary.from_processes([predict]) if predict is not None else None
    return {
        "predict_step_ms": summary,
        "predict_ms_per_batch": summary.median if summary is not None else None,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
