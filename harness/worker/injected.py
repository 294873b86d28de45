"""A known slowdown for ``kbench ab --self-test``: busy CPU work after every training batch
of the timed fits (worker side).

Side B's workers get ``KBENCH_SELF_TEST_SLOWDOWN=0.10`` in their environment, side A's
``KBENCH_SELF_TEST_SLOWDOWN=0``: both install the same callback and take the same code path;
A's does no work. The work spins the CPU (a busy loop on the clock, not a sleep) for
``slowdown`` x that process's own step time, measured with the callback in place and idle
before the timed window pairs (the median of three window pairs after one left out). It
runs in ``on_train_batch_end``: a callback with that hook makes Keras convert each step's
logs to Python numbers, which waits for the step, so the work cannot overlap the step's
computation (on JAX, work before a batch did: on cnn it added nothing measurable). Both
sides therefore run Keras's synchronous callback path. What the workers see is measured,
not assumed (``python -m validation.gate.injected_size``, and a self-test gate's own
``python -m validation.gate.sittings``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.records.steptime import marginal_step_cost

ENV = "KBENCH_SELF_TEST_SLOWDOWN"
SIZING_WARMUP = 1  # window pairs run and left out before sizing
SIZING_PAIRS = 3  # window pairs whose median step sizes the work


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


def busy(seconds: float) -> int:
    """Spin this thread for ``seconds`` (holding the GIL); the loop turns it took."""
    turns, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        turns += 1
    return turns


@dataclass
class Injection:
    """The work each training batch does: zero until :meth:`size` sets it."""

    slowdown: float
    seconds: float = 0.0  # of busy work per batch
    base_ms: float | None = None

    @classmethod
    def from_env(cls) -> Injection | None:
        slowdown = requested()
        return None if slowdown is None else cls(slowdown)

    def size(self, base_step_s: float) -> None:
        """Work of ``slowdown`` x ``base_step_s`` per batch (measured with the hook idle)."""
        self.base_ms = base_step_s * 1000.0
        self.seconds = self.slowdown * base_step_s

    def size_in_turn(
        self, turns: Any, calibrated: bool, fit: Callable[[int], float], steps: int
    ) -> None:
        """:meth:`size_from_window_pairs`, inside a turn of the worker's own: the
        calibration turn it holds, or one it takes (``calibrated`` False: N came given), so
        that in a process pair the other side is not timing meanwhile."""
        if not calibrated:
            turns.take("calibrate")
        self.size_from_window_pairs(fit, steps)

    def size_from_window_pairs(self, fit: Callable[[int], float], steps: int) -> None:
        """Size the work from the median of ``SIZING_PAIRS`` window pairs, ``fit(2)`` -
        ``fit(1)`` (fits of 2N and N steps, the hook idle) over N steps, after
        ``SIZING_WARMUP`` pairs left out: the first pair after calibration ran x1.01-1.26
        slower than the timed ones (validation notebook, 2026-12-07)."""
        self.seconds = 0.0
        for _ in range(SIZING_WARMUP):
            fit(1), fit(2)
        shorts: list[float] = []
        longs: list[float] = []
        for k in range(SIZING_PAIRS):  # which fit goes first alternates, as in timing
            if k % 2 == 0:
                shorts.append(fit(1))
                longs.append(fit(2))
            else:
                longs.append(fit(2))
                shorts.append(fit(1))
        self.size(max(marginal_step_cost(shorts, longs, steps), 0.0))

    def callback(self, keras: Any) -> Any:
        """The Keras callback that does the work after each training batch."""
        injection = self

        class BusyAfterBatch(keras.callbacks.Callback):
            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if injection.seconds:
                    busy(injection.seconds)

        return BusyAfterBatch()

    def record(self) -> dict[str, float | None]:
        """What was injected, for the process's record."""
        return {"slowdown": self.slowdown, "base_ms": self.base_ms, "busy_ms": self.seconds * 1e3}
