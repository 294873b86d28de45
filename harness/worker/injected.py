"""A known slowdown for ``kbench ab --self-test``: busy CPU work at the start of every
training batch of the timed fits (worker side).

Side B's workers get ``KBENCH_SELF_TEST_SLOWDOWN=0.10`` in their environment, side A's
``KBENCH_SELF_TEST_SLOWDOWN=0``: both install the same callback and take the same code path;
A's does no work. The work is a fixed count of Python loop iterations (computation, not a
sleep), sized in each process as ``slowdown`` x that process's own step time, measured with
the callback in place and idle before the timed window pairs. It runs in
``on_train_batch_begin``, the hook Keras calls on the training thread before each step
without converting the logs, so Keras keeps its asynchronous dispatch; on JAX part of the
work may overlap the previous step's computation. What the workers actually see is measured,
not assumed (``python -m validation.gate.self_test``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV = "KBENCH_SELF_TEST_SLOWDOWN"
SAMPLE = 200_000  # loop iterations per rate measurement


def requested() -> float | None:
    """The slowdown this worker's environment asks for (None: not a self-test worker)."""
    text = os.environ.get(ENV)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 10.0:
        raise ValueError(f"{ENV} must be a fraction in [0, 10). Received: {text!r}")
    return value


def busy(iterations: int) -> int:
    """``iterations`` turns of a small integer loop on this thread (holds the GIL)."""
    total = 0
    for i in range(iterations):
        total ^= i
    return total


def iterations_per_s() -> float:
    """The loop's speed on this thread: the fastest of three samples."""
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        busy(SAMPLE)
        best = max(best, SAMPLE / max(time.perf_counter() - start, 1e-9))
    return best


@dataclass
class Injection:
    """The work each training batch does: zero until :meth:`size` sets it."""

    slowdown: float
    rate: float  # loop iterations per second on this thread
    iterations: int = 0
    base_ms: float | None = None

    @classmethod
    def from_env(cls) -> Injection | None:
        slowdown = requested()
        return None if slowdown is None else cls(slowdown, iterations_per_s())

    def size(self, base_step_s: float) -> None:
        """Work of ``slowdown`` x ``base_step_s`` per batch (measured with the hook idle)."""
        self.base_ms = base_step_s * 1000.0
        self.iterations = round(self.slowdown * base_step_s * self.rate)

    def size_in_turn(
        self, turns: Any, calibrated: bool, fit: Callable[[int], float], steps: int
    ) -> None:
        """Size the work from one window pair, ``fit(2)`` - ``fit(1)`` (fits of 2N and N
        steps, the hook idle) over N steps, inside a turn of the worker's own: the
        calibration turn it holds, or one it takes (``calibrated`` False: N came given), so
        that in a process pair the other side is not timing meanwhile."""
        if not calibrated:
            turns.take("calibrate")
        self.iterations = 0
        self.size(max((fit(2) - fit(1)) / steps, 0.0))

    def callback(self, keras: Any) -> Any:
        """The Keras callback that does the work before each training batch."""
        injection = self

        class BusyBeforeBatch(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                if injection.iterations:
                    busy(injection.iterations)

        return BusyBeforeBatch()

    def record(self) -> dict[str, float | None]:
        """What was injected, for the process's record."""
        busy_ms = self.iterations / self.rate * 1000.0 if self.rate else 0.0
        return {"slowdown": self.slowdown, "base_ms": self.base_ms, "busy_ms": busy_ms}
