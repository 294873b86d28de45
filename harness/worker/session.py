"""One plugin's models under the imported backend: build, time, train, evaluate (worker side).

Timing follows ``harness.run.timing``: window pairs (a fit of N steps and one of 2N, back to
back), the clock stopped at ``on_train_end`` after a device barrier, one sample per window
pair, window pairs until the plan is met. Training follows the plugin's own settings.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from harness.backends.parent import MALLOC_ENV
from harness.backends.worker import worker_backend
from harness.errors import PluginError
from harness.plugin import ModelPlugin
from harness.records.schema import higher_is_better
from harness.records.steptime import Contention, StepTimeStats
from harness.run.settings import RunSettings
from harness.run.timing import WindowPlan
from harness.run.turns import NO_TURNS, NoTurns
from harness.worker.contention import Snapshot
from harness.worker.injected import Injection
from harness.worker.model import (
    build_model,
    compile_model,
    count_params,
    cycle_samples,
    take,
)


class NonFiniteLoss(Exception):
    """Training produced a NaN or infinite loss."""


@dataclass
class WindowPairs:
    """The fit times of the timed window pairs so far (short: N steps, long: 2N steps)."""

    short_s: list[float] = field(default_factory=list)
    long_s: list[float] = field(default_factory=list)
    short_teardown_s: list[float] = field(default_factory=list)
    long_teardown_s: list[float] = field(default_factory=list)

    @property
    def marginal_s(self) -> list[float]:
        return [long - short for short, long in zip(self.short_s, self.long_s, strict=True)]


class Session:
    """Builds, compiles and runs one plugin's models under the imported backend."""

    def __init__(self, keras: Any, plugin: ModelPlugin, settings: RunSettings, backend: str):
        self.keras, self.plugin, self.settings, self.backend = keras, plugin, settings, backend
        self.framework = worker_backend(backend)
        self.batch_size = settings.batch_size or plugin.training.batch_size
        self.epochs = settings.epochs or plugin.training.epochs
        self.jit_used: Any = None
        self.turns: NoTurns = NO_TURNS  # a process pair's turns (harness.run.turns)
        self.injection = Injection.from_env()  # kbench ab --self-test's work per batch
        self._busy = [self.injection.callback(keras)] if self.injection else []

    def build(self, num_classes: int = 10) -> Any:
        """A freshly seeded, compiled model."""
        self.keras.utils.set_random_seed(self.settings.seed)
        model = build_model(self.plugin, num_classes)
        compile_model(model, self.plugin, self.settings.keras_jit_compile())
        self.jit_used = model.jit_compile
        return model

    def timed_fit(self, model: Any, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> float:
        """Seconds from the ``fit`` call to the end of its last step (after a barrier).

        The clock stops in ``on_train_end``, so the fit's teardown is left out: on
        TensorFlow, shutting down the tf.data iterator waits for its autotune thread in
        quanta of about 0.3 s, a random fixed cost that would not cancel in T(2N) - T(N).
        """
        return self.timed_fit_and_teardown(model, x, y, **kwargs)[0]

    def timed_fit_and_teardown(
        self, model: Any, x: np.ndarray, y: np.ndarray, **kwargs: Any
    ) -> tuple[float, float]:
        """:meth:`timed_fit`'s seconds, and the teardown's: from ``on_train_end`` to the
        return of ``fit`` (what a user's script also waits for)."""
        clock = self._end_clock()
        self.framework.sync(model)
        start = time.perf_counter()
        callbacks = [clock, *self._busy]
        model.fit(x, y, batch_size=self.batch_size, verbose=0, callbacks=callbacks, **kwargs)
        returned = time.perf_counter()
        return clock.stopped_at - start, returned - clock.stopped_at

    def timed_predict_and_teardown(self, model: Any, x: np.ndarray) -> tuple[float, float]:
        """:meth:`timed_fit_and_teardown` for ``predict``: to ``on_predict_end`` (Keras flushes
        the batches' async callbacks first; then a barrier), and from there to its return."""
        clock = self._end_clock()
        self.framework.sync(model)
        start = time.perf_counter()
        model.predict(x, batch_size=self.batch_size, verbose=0, callbacks=[clock])
        returned = time.perf_counter()
        return clock.stopped_at - start, returned - clock.stopped_at

    def _end_clock(self) -> Any:
        """A callback that records ``time.perf_counter()`` at the end of training or
        prediction, after a barrier (no per-batch hook: Keras keeps its async dispatch)."""
        sync = self.framework.sync

        class EndClock(self.keras.callbacks.Callback):
            stopped_at = math.nan

            def on_train_end(self, logs: Any = None) -> None:
                sync(self.model)
                self.stopped_at = time.perf_counter()

            def on_predict_end(self, logs: Any = None) -> None:
                sync(self.model)
                self.stopped_at = time.perf_counter()

        return EndClock()

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

        ``window_steps`` and ``windows`` fix N and the count of timed window pairs (the later
        processes of a repeated cell reuse what its first process calibrated).
        """
        t0 = time.perf_counter()
        model = self.build(num_classes)
        build_s = time.perf_counter() - t0
        first_step_s = self.timed_fit(model, *cycle_samples(x, y, self.batch_size), shuffle=False)
        t1 = time.perf_counter()
        steps = window_steps or self.turns.window_steps(
            lambda: self.calibrate_window_steps(model, x, y)
        )
        self._size_injection(model, x, y, steps, calibrated=window_steps is None)
        t2 = time.perf_counter()
        stats = self._time_window_pairs(model, x, y, steps, windows)
        stats = replace(stats, injected=self.injection.record() if self.injection else None)
        self.turns.take("rest")
        t3 = time.perf_counter()
        predict_stats = self.time_predict(model, x, y) if predict else None
        phases = {
            "build": build_s,
            "first_step": t1 - t0 - build_s,
            "calibrate": t2 - t1,
            "timed": t3 - t2,
            "predict": time.perf_counter() - t3,
        }
        return {
            "build": build_s,
            "first_step": first_step_s,
            "step": stats,
            "predict": predict_stats,
            "phases": phases,
            "params": count_params(model),
        }

    def _size_injection(self, model: Any, x: Any, y: Any, steps: int, calibrated: bool) -> None:
        """A self-test worker's work per batch (:meth:`Injection.size_in_turn`)."""
        if self.injection is not None:

            def fit(k: int) -> float:
                return self.timed_fit(model, *cycle_samples(x, y, k * steps * self.batch_size))

            self.injection.size_in_turn(self.turns, calibrated, fit, steps)

    def _time_window_pairs(
        self, model: Any, x: Any, y: Any, steps: int, windows: int | None
    ) -> StepTimeStats:
        """Window pairs (N- and 2N-step fits, alternating which goes first) until the plan
        (or a fixed count) is met; each window pair in a turn of its own when the worker is
        one side of a process pair (the contention counters then cover its own turns only)."""
        short = cycle_samples(x, y, steps * self.batch_size)
        long = cycle_samples(x, y, 2 * steps * self.batch_size)

        def timed(data: tuple[Any, Any]) -> tuple[float, float]:
            return self.timed_fit_and_teardown(model, *data)

        def turn() -> None:
            self.turns.take("pair", steps=steps)  # the turn protocol's name for a window pair

        return self._window_pairs(timed, short, long, steps, windows, turn)

    def time_predict(self, model: Any, x: np.ndarray, y: np.ndarray) -> StepTimeStats:
        """Steady-state ms per ``predict`` batch, as the training step: window pairs of
        ``predict`` over N and 2N batches (N sized by the plan from a rough per-batch time),
        the marginal cost per batch, ``predict_repeats`` window pairs kept. The one-batch call
        (tracing) and the rough time's calls are the warm-up; a leading window pair outside
        the plan's steady band is still dropped. ``predict``, not ``predict_on_batch`` in a
        loop: the call a user's script makes."""
        model.predict(take(x, np.arange(self.batch_size)), batch_size=self.batch_size, verbose=0)

        def timed(batches: int) -> float:
            data = cycle_samples(x, y, batches * self.batch_size)[0]
            return self.timed_predict_and_teardown(model, data)[0]

        steps = self.settings.timing.window_steps(_rough_step_s(timed))
        short = cycle_samples(x, y, steps * self.batch_size)[0]
        long = cycle_samples(x, y, 2 * steps * self.batch_size)[0]

        def timed_batches(data: Any) -> tuple[float, float]:
            return self.timed_predict_and_teardown(model, data)

        windows = max(1, self.settings.predict_repeats or 1)
        plan = replace(self.settings.timing, warmup_windows=0)  # warmed by the rough calls
        return self._window_pairs(timed_batches, short, long, steps, windows, plan=plan)

    def _window_pairs(
        self,
        timed: Callable[[Any], tuple[float, float]],
        short: Any,
        long: Any,
        steps: int,
        windows: int | None,
        turn: Callable[[], None] = lambda: None,
        plan: WindowPlan | None = None,
    ) -> StepTimeStats:
        """Window pairs, ``timed(short)`` and ``timed(long)`` (each: the window's seconds and
        its teardown's) back to back, alternating which goes first, until the plan (or a
        fixed count) is met; their statistics with the contention counters (each window
        pair after ``turn()``, which waits for a process pair's turn). ``plan``: the run's
        unless given."""
        fits = WindowPairs()
        spans: list[Contention] = []
        plan = plan or self.settings.timing
        while not self._enough(fits, windows, plan):
            turn()
            before = Snapshot.take()
            order = [
                (short, fits.short_s, fits.short_teardown_s),
                (long, fits.long_s, fits.long_teardown_s),
            ]
            for data, out, teardown in order[:: 1 if len(fits.short_s) % 2 == 0 else -1]:
                seconds, teardown_s = timed(data)
                out.append(seconds)
                teardown.append(teardown_s)
            spans.append(Contention.between(before, Snapshot.take()))
        contention = Contention.total(spans)
        warmup = plan.steady_start(fits.marginal_s)
        if windows is not None:  # a fixed count: keep that many (the latest) window pairs
            warmup = max(warmup, len(fits.short_s) - windows)
        stats = StepTimeStats.from_fits(
            fits.short_s,
            fits.long_s,
            steps,
            warmup,
            fits.short_teardown_s,
            fits.long_teardown_s,
        )
        if stats.median <= 0:
            raise RuntimeError(
                f"no positive marginal step time after {len(fits.short_s)} timed window pairs: "
                "the machine is too noisy to time this cell"
            )
        return replace(stats, contention=contention)

    def _enough(self, fits: WindowPairs, windows: int | None, plan: WindowPlan) -> bool:
        """Whether to stop timing: the plan's maximum, or its count (or the fixed one)
        reached with a positive marginal cost."""
        marginal = fits.marginal_s
        if plan.exhausted(marginal, windows):
            return True
        if windows is not None:
            counted = len(plan.kept(marginal)) >= windows
        else:
            counted = plan.enough(marginal)
        return counted and plan.positive(fits.short_s, fits.long_s)

    def calibrate_window_steps(self, model: Any, x: np.ndarray, y: np.ndarray) -> int:
        """N, the steps per short window, from two fits of ``model`` (already past its first
        step) and the plan's target window length."""
        return self.settings.timing.window_steps(self._estimate_step_s(model, x, y))

    def _estimate_step_s(self, model: Any, x: np.ndarray, y: np.ndarray) -> float:
        """A rough step time of ``model``'s fit (:func:`_rough_step_s`)."""

        def timed(steps: int) -> float:
            return self.timed_fit(model, *cycle_samples(x, y, steps * self.batch_size))

        return _rough_step_s(timed)

    def train_and_evaluate(self, x, y, x_test, y_test) -> dict[str, Any]:
        """Train a fresh model with the plugin's training settings (its epochs and batch size
        unless the run sets them, its validation split and callbacks), then evaluate it on the
        test split."""
        model = self.build()
        factory = self.plugin.training.callbacks
        plugin_callbacks = factory() if factory else []
        start = time.perf_counter()
        history = self._fit_with_plugin_defaults(model, x, y, plugin_callbacks)
        train_s = time.perf_counter() - start
        _check_finite(history)
        start = time.perf_counter()
        scores = model.evaluate(
            x_test, y_test, batch_size=self.batch_size, verbose=0, return_dict=True
        )
        evaluate_s = time.perf_counter() - start
        metrics = {f"test_{k}": float(v) for k, v in scores.items()}
        quality = quality_figure(self.plugin, metrics)
        if quality is None or quality["name"].endswith("accuracy"):
            metrics["test_accuracy"] = metrics[f"test_{self.plugin.quality_key}"]
        return {
            "params": count_params(model),
            "metrics": metrics,
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
            "epochs_run": len(history.get("loss", [])),
            "early_stopping": self._early_stopping(plugin_callbacks),
            "train": train_s,
            "evaluate": evaluate_s,
            **({"quality": quality} if quality else {}),
        }

    def _fit_with_plugin_defaults(self, model: Any, x: Any, y: Any, callbacks: list[Any]) -> dict:
        """One ``fit`` over the training split as the plugin describes it, with its callbacks
        and ``TerminateOnNaN``; the history."""
        return model.fit(
            x,
            y,
            batch_size=self.batch_size,
            epochs=self.epochs,
            validation_split=self.plugin.training.validation_split,
            callbacks=[*callbacks, self.keras.callbacks.TerminateOnNaN()],
            verbose=0,
        ).history

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
            "threads": self.framework.thread_settings(),
            "kernels": self.framework.kernel_settings(),
            "tf32": self.framework.tf32_enabled(device),
            "malloc": {name: os.environ.get(name) for name in MALLOC_ENV},
            "accelerators": gpus,
            "seed": self.settings.seed,
        }


def _rough_step_s(timed: Callable[[int], float], k: int = 10) -> float:
    """A rough time per step from ``timed(steps)``, net of the fixed cost of a call:
    (T(3k) - T(k)) / 2k, bounded below by a quarter of the gross time per step, so that one
    noisy call cannot make the windows absurdly long."""
    short, long = timed(k), timed(3 * k)
    return max((long - short) / (2 * k), long / (3 * k) / 4)


def quality_figure(plugin: ModelPlugin, metrics: dict[str, float]) -> dict[str, Any] | None:
    """The quality figure of a plugin with a task, by name (None for a registered dataset's
    plugin: its figure is ``test_accuracy``, as it always was)."""
    if plugin.task is None:
        return None
    key = plugin.quality_key
    if f"test_{key}" not in metrics:
        known = sorted(k.removeprefix("test_") for k in metrics)
        raise PluginError(
            f"Plugin {plugin.name!r}: task.quality names no evaluate result. Expected one of "
            f"{known}. Received: quality={key!r}"
        )
    value = metrics[f"test_{key}"]
    return {"name": key, "value": value, "higher_is_better": higher_is_better(key)}


def _check_finite(history: dict[str, list[float]]) -> None:
    for name, values in history.items():
        for epoch, value in enumerate(values, start=1):
            if not math.isfinite(value):
                raise NonFiniteLoss(f"{name} became {value} in epoch {epoch}")
