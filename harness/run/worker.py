"""Child process: runs ONE cell and writes its record as JSON. The only place Keras is imported.

Usage (by the runner): ``python -m harness.run.worker SPEC.json RESULT.json``. The parent sets
``KERAS_BACKEND`` and the device variables in the environment before this process starts.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness import datasets
from harness.backends import parent as devices
from harness.backends import worker as backends
from harness.plugin import ModelPlugin
from harness.records.files import write_json_atomic
from harness.records.schema import Cell, CellResult, Params, Status
from harness.registry import discover
from harness.run.contention import Contention, Snapshot
from harness.run.plan import RunSettings
from harness.run.timing import StepTimeStats, StepTimeSummary

BACKEND_MODULES = {"jax": ("jax", "jaxlib"), "tensorflow": ("tensorflow",), "torch": ("torch",)}


class CellUnavailable(Exception):
    """The cell cannot run in this environment (e.g. no GPU visible to the backend)."""


class NonFiniteLoss(Exception):
    """Training produced a NaN or infinite loss."""


@dataclass(frozen=True)
class Spec:
    """What the parent asks the worker to do."""

    cell: Cell
    dataset_path: str
    plugin_paths: list[str]
    settings: RunSettings
    train: bool = True  # False: time only (the extra processes of --repeats)
    window_steps: int | None = None  # fixed by the cell's first process, else calibrated
    windows: int | None = None  # a fixed count of timed pairs, else the plan decides

    @classmethod
    def load(cls, path: Path) -> Spec:
        data = json.loads(path.read_text())
        return cls(
            cell=Cell(**data["cell"]),
            dataset_path=data["dataset_path"],
            plugin_paths=data["plugin_paths"],
            settings=RunSettings.from_dict(data["settings"]),
            train=data.get("train", True),
            window_steps=data.get("window_steps"),
            windows=data.get("windows"),
        )


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec = Spec.load(spec_path)
    started = time.perf_counter()
    try:
        record = run_cell(spec)
    except CellUnavailable as error:
        record = _not_run(spec, Status.UNAVAILABLE, str(error))
    except ModuleNotFoundError as error:
        if error.name not in BACKEND_MODULES.get(spec.cell.backend, ()):
            traceback.print_exc()
            record = _not_run(spec, Status.FAILED, f"{type(error).__name__}: {error}")
        else:
            reason = f"{spec.cell.backend} is not installed for {sys.executable}"
            record = _not_run(spec, Status.UNAVAILABLE, reason)
    except Exception as error:
        traceback.print_exc()
        record = _not_run(spec, Status.FAILED, f"{type(error).__name__}: {error}")
    record["duration_s"] = time.perf_counter() - started
    write_json_atomic(result_path, record)
    return 0


def _not_run(spec: Spec, status: Status, reason: str) -> dict[str, Any]:
    return CellResult.not_run(spec.cell, _dataset_name(spec), status, reason).to_dict()


def _dataset_name(spec: Spec) -> str:
    return Path(spec.dataset_path).stem


def run_cell(spec: Spec) -> dict[str, Any]:
    """Import Keras, then time, train and evaluate the cell's plugin."""
    cell, settings = spec.cell, spec.settings
    t0 = time.perf_counter()
    import keras

    import_s = time.perf_counter() - t0
    if keras.backend.backend() != cell.backend:
        raise RuntimeError(f"Expected backend {cell.backend!r}, got {keras.backend.backend()!r}")
    backends.configure(cell.backend, cell.device, settings.threads)
    gpus = backends.accelerators(cell.backend)
    if cell.device == "gpu" and not gpus:
        raise CellUnavailable(f"no GPU visible to {cell.backend} in this environment")
    keras.config.set_dtype_policy(settings.dtype_policy)

    plugin = discover(spec.plugin_paths)[cell.plugin].plugin
    data = datasets.load_npz(Path(spec.dataset_path))
    session = Session(keras, plugin, settings, cell.backend)
    train = inputs_targets(plugin, data.x_train, data.y_train)
    test = inputs_targets(plugin, data.x_test, data.y_test)

    timing = session.time_steps(
        *train, data.num_classes, spec.window_steps, spec.windows, predict=spec.train
    )
    training = session.train_and_evaluate(*train, *test) if spec.train else {}
    step = StepTimeSummary.from_processes([timing.pop("step")])
    return CellResult(
        plugin=cell.plugin,
        backend=cell.backend,
        device=cell.device,
        dataset=data.name,
        status=Status.OK,
        params=training.pop("params", timing.pop("params")),
        step_time_ms=step,
        samples_per_s=session.batch_size / (step.median / 1000.0),
        predict_ms_per_batch=timing.pop("predict_ms_per_batch"),
        metrics=training.pop("metrics", {}),
        history=training.pop("history", {}),
        epochs_run=training.pop("epochs_run", None),
        early_stopping=training.pop("early_stopping", None),
        timings_s={"import": import_s, **timing, **training},
        fairness=session.fairness(cell.device, gpus),
        memory_mb={
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "device_peak": backends.device_peak_memory_mb(cell.backend, cell.device),
        },
        versions=backends.versions(cell.backend),
    ).to_dict()


def cycle_samples(x: Any, y: Any, n: int) -> tuple[Any, Any]:
    """The first ``n`` samples of inputs and targets (arrays or dicts of arrays), repeated
    when the data holds fewer."""
    idx = np.arange(n) % _length(x)
    return take(x, idx), take(y, idx)


def _length(tree: Any) -> int:
    return _length(next(iter(tree.values()))) if isinstance(tree, dict) else len(tree)


def take(tree: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array or of every array in a dict."""
    if isinstance(tree, dict):
        return {k: take(v, idx) for k, v in tree.items()}
    return tree[idx]


class Session:
    """Builds, compiles and runs one plugin's models under the imported backend."""

    def __init__(self, keras: Any, plugin: ModelPlugin, settings: RunSettings, backend: str):
        self.keras, self.plugin, self.settings, self.backend = keras, plugin, settings, backend
        self.batch_size = settings.batch_size or plugin.training.batch_size
        self.epochs = settings.epochs or plugin.training.epochs
        self.jit_used: Any = None

    def build(self, num_classes: int = 10) -> Any:
        self.keras.utils.set_random_seed(self.settings.seed)
        model = self.plugin.build(self.plugin.input_shape, num_classes)
        compile_model(model, self.plugin, self.settings.keras_jit_compile())
        self.jit_used = model.jit_compile
        return model

    def timed_fit(self, model: Any, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> float:
        """Seconds from the ``fit`` call to the end of its last step (after a barrier).

        The clock stops in ``on_train_end``, so the fit's teardown is left out: on
        TensorFlow, shutting down the tf.data iterator waits for its autotune thread in
        quanta of about 0.3 s, a random fixed cost that would not cancel in T(2N) - T(N).
        Only ``on_train_end`` is overridden, so Keras keeps its asynchronous dispatch.
        """
        clock = self._train_end_clock()
        backends.sync(self.backend, model)
        start = time.perf_counter()
        model.fit(x, y, batch_size=self.batch_size, verbose=0, callbacks=[clock], **kwargs)
        return clock.stopped_at - start

    def _train_end_clock(self) -> Any:
        """A callback that records ``time.perf_counter()`` at the end of training."""
        backend = self.backend

        class TrainEndClock(self.keras.callbacks.Callback):
            stopped_at = math.nan

            def on_train_end(self, logs: Any = None) -> None:
                backends.sync(backend, self.model)
                self.stopped_at = time.perf_counter()

        return TrainEndClock()

    def time_steps(
        self,
        x: np.ndarray,
        y: np.ndarray,
        num_classes: int,
        window_steps: int | None = None,
        windows: int | None = None,
        predict: bool = True,
    ) -> dict[str, Any]:
        """Build/compile time, first step, steady-state step time and predict time.

        ``window_steps`` and ``windows`` fix N and the count of timed pairs (the later
        processes of a repeated cell reuse what its first process calibrated).
        """
        plan, b = self.settings.timing, self.batch_size
        t0 = time.perf_counter()
        model = self.build(num_classes)
        build_s = time.perf_counter() - t0
        first_step_s = self.timed_fit(model, *cycle_samples(x, y, b), shuffle=False)
        steps = window_steps or plan.window_steps(self._estimate_step_s(model, x, y))
        short, long = cycle_samples(x, y, steps * b), cycle_samples(x, y, 2 * steps * b)
        short_s: list[float] = []
        long_s: list[float] = []
        marginal_s: list[float] = []

        def done() -> bool:
            if plan.exhausted(marginal_s, windows):
                return True
            if windows is not None:
                counted = len(marginal_s) >= plan.warmup_windows + windows
            else:
                counted = plan.enough(marginal_s)
            return counted and plan.positive(short_s, long_s)

        before = Snapshot.take()
        while not done():
            pair = [(short, short_s), (long, long_s)]
            for data, out in pair[:: 1 if len(marginal_s) % 2 == 0 else -1]:
                out.append(self.timed_fit(model, *data))
            marginal_s.append(long_s[-1] - short_s[-1])
        contention = Contention.between(before, Snapshot.take())
        stats = replace(
            StepTimeStats.from_fits(short_s, long_s, steps, plan.warmup_windows),
            contention=contention,
        )
        if stats.median <= 0:
            raise RuntimeError(
                f"no positive marginal step time after {len(marginal_s)} timed pairs: "
                "the machine is too noisy to time this cell"
            )
        return {
            "build": build_s,
            "first_step": first_step_s,
            "step": stats,
            "params": _params(model),
            "predict_ms_per_batch": (
                self._predict_ms_per_batch(model, long[0]) * 1000.0 if predict else None
            ),
        }

    def _estimate_step_s(self, model: Any, x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
        """A rough step time, net of the fixed cost of a fit: (T(3k) - T(k)) / 2k.

        Bounded below by a quarter of the gross time per step, so that one noisy pair
        cannot make the windows absurdly long.
        """
        short = self.timed_fit(model, *cycle_samples(x, y, k * self.batch_size))
        long = self.timed_fit(model, *cycle_samples(x, y, 3 * k * self.batch_size))
        return max((long - short) / (2 * k), long / (3 * k) / 4)

    def _predict_ms_per_batch(self, model: Any, x: np.ndarray) -> float:
        model.predict(take(x, np.arange(self.batch_size)), batch_size=self.batch_size, verbose=0)
        runs = []
        for _ in range(max(1, self.settings.predict_repeats)):
            start = time.perf_counter()
            model.predict(x, batch_size=self.batch_size, verbose=0)
            runs.append(time.perf_counter() - start)
        return float(np.median(runs)) / (_length(x) // self.batch_size)

    def train_and_evaluate(self, x, y, x_test, y_test) -> dict[str, Any]:
        """Train a fresh model as the course does, then evaluate it on the test split."""
        model = self.build()
        defaults = self.plugin.training
        plugin_callbacks = defaults.callbacks() if defaults.callbacks else []
        callbacks = [*plugin_callbacks, self.keras.callbacks.TerminateOnNaN()]
        start = time.perf_counter()
        history = model.fit(
            x,
            y,
            batch_size=self.batch_size,
            epochs=self.epochs,
            validation_split=defaults.validation_split,
            callbacks=callbacks,
            verbose=0,
        ).history
        train_s = time.perf_counter() - start
        _check_finite(history)
        start = time.perf_counter()
        scores = model.evaluate(
            x_test, y_test, batch_size=self.batch_size, verbose=0, return_dict=True
        )
        evaluate_s = time.perf_counter() - start
        metrics = {f"test_{k}": float(v) for k, v in scores.items()}
        metrics["test_accuracy"] = metrics[f"test_{self.plugin.accuracy_metric}"]
        return {
            "params": _params(model),
            "metrics": metrics,
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
            "epochs_run": len(history.get("loss", [])),
            "early_stopping": self._early_stopping(plugin_callbacks),
            "train": train_s,
            "evaluate": evaluate_s,
        }

    def _early_stopping(self, callbacks: list[Any]) -> dict[str, Any] | None:
        """Where an EarlyStopping callback stopped (1-based epochs; None when none)."""
        stoppers = [c for c in callbacks if isinstance(c, self.keras.callbacks.EarlyStopping)]
        if not stoppers:
            return None
        stop = stoppers[0]
        return {
            "monitor": stop.monitor,
            "patience": stop.patience,
            "restore_best_weights": stop.restore_best_weights,
            "stopped_epoch": stop.stopped_epoch + 1 if stop.stopped_epoch else None,
            "best_epoch": stop.best_epoch + 1 if stop.best is not None else None,
        }

    def fairness(self, device: str, gpus: list[str]) -> dict[str, Any]:
        """The settings that make numbers comparable, as actually in effect."""
        return {
            "jit_compile_requested": self.settings.jit_compile,
            "jit_compile_used": self.jit_used,
            "dtype_policy": self.keras.config.dtype_policy().name,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "threads": backends.thread_settings(self.backend),
            "tf32": backends.tf32_enabled(self.backend, device),
            "malloc": {name: os.environ.get(name) for name in devices.MALLOC_ENV},
            "accelerators": gpus,
            "seed": self.settings.seed,
        }


def compile_model(model: Any, plugin: ModelPlugin, jit_compile: Any = "auto") -> None:
    """Compile with the plugin's optimizer, loss and metrics."""
    defaults = plugin.training
    metrics = defaults.metrics
    model.compile(
        optimizer=_make(defaults.optimizer),
        loss=_make_loss(defaults.loss),
        metrics=metrics if isinstance(metrics, dict) else [*metrics],
        jit_compile=jit_compile,
    )


def inputs_targets(plugin: ModelPlugin, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """The dataset's arrays as the plugin's model takes them."""
    shaped = x.reshape((len(x), *plugin.input_shape))
    return plugin.prepare(shaped, y) if plugin.prepare else (shaped, y)


def _make(value: Any) -> Any:
    return value() if callable(value) else value


def _make_loss(value: Any) -> Any:
    """A loss identifier or factory; a plain loss function is passed through."""
    import inspect

    if callable(value) and not inspect.signature(value).parameters:
        return value()
    return value


def _params(model: Any) -> Params:
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    non_trainable = sum(math.prod(v.shape) for v in model.non_trainable_weights)
    return Params(total=model.count_params(), trainable=trainable, non_trainable=non_trainable)


def _check_finite(history: dict[str, list[float]]) -> None:
    for name, values in history.items():
        for epoch, value in enumerate(values, start=1):
            if not math.isfinite(value):
                raise NonFiniteLoss(f"{name} became {value} in epoch {epoch}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
