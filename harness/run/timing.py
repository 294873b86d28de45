"""The timing method and its plan: how many steps per window and when to stop (pure).

Method. All three backends dispatch work asynchronously, so a timer around each batch
measures dispatch, not work, and a per-batch callback would itself force a sync every
step (Keras turns off async callback dispatch when ``on_train_batch_end`` is
overridden). Each ``fit`` call also has a fixed cost (callbacks, data adapter, iterator
and, on TensorFlow, a tf.data pipeline) that an epoch-level timer would spread over the
steps. So the worker calls ``model.fit`` as users do, with no batch callback, on a
*short* set of N steps and a *long* set of 2N steps, alternating their order. The clock
stops at ``on_train_end`` after a device barrier (``backends.sync``), so the fit's teardown
(on TensorFlow a tf.data iterator whose shutdown waits in quanta of ~0.3 s) is not timed.
The two fits, run back to back, are one *window pair*, and one window pair gives one sample
of the marginal cost of a step, ``(T(2N) - T(N)) / N``, in which the fixed cost cancels. The
first window pairs (warm-up) are dropped until the steady state is reached
(:meth:`WindowPlan.steady_start`: at least ``warmup_windows``, at most half of them); window
pairs continue until both ``min_windows`` and ``min_seconds`` of steady-state work are kept.
Raw fit times, and how many window pairs were dropped, are kept with the statistics
(``harness.records.steptime``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.records.steptime import marginal_step_cost


@dataclass(frozen=True)
class WindowPlan:
    """How many steps per timed window (N) and when to stop timing."""

    target_window_s: float = 0.25
    min_windows: int = 5
    min_seconds: float = 2.0
    warmup_windows: int = 1  # window pairs always dropped; more while the warm-up lasts
    steady_band: float = 5.0  # steady: within this many robust SDs of the later samples' median
    steady_run: int = 2  # ... for this many window pairs in a row
    max_windows: int = 50
    min_window_steps: int = 2
    max_window_steps: int = 500

    def window_steps(self, estimated_step_s: float) -> int:
        """Steps N so that N steps last about ``target_window_s``."""
        if estimated_step_s <= 0 or math.isnan(estimated_step_s):
            return self.max_window_steps
        steps = round(self.target_window_s / estimated_step_s)
        return max(self.min_window_steps, min(self.max_window_steps, steps))

    def steady_start(self, marginal_seconds: Sequence[float]) -> int:
        """How many leading window pairs belong to the warm-up: from ``warmup_windows`` on, a
        window pair is dropped while its sample or one of the next ``steady_run - 1`` lies
        more than ``steady_band`` robust SDs (1.4826 x MAD) from the median of the samples
        from it on; at most half are dropped. A flat series loses ``warmup_windows`` only."""
        values, start = list(marginal_seconds), self.warmup_windows
        limit = max(start, len(values) // 2)
        while start < limit:
            rest = values[start:]
            center = statistics.median(rest)
            spread = 1.4826 * statistics.median(abs(v - center) for v in rest)
            window = values[start : start + self.steady_run]
            if spread == 0 or all(abs(v - center) <= self.steady_band * spread for v in window):
                break
            start += 1
        return start

    def kept(self, marginal_seconds: Sequence[float]) -> Sequence[float]:
        """The steady-state samples (the warm-up window pairs dropped)."""
        return marginal_seconds[self.steady_start(marginal_seconds) :]

    def enough(self, marginal_seconds: Sequence[float]) -> bool:
        """True once the kept samples reach both the minimum count and timed duration."""
        kept = self.kept(marginal_seconds)
        return len(kept) >= self.min_windows and sum(kept) >= self.min_seconds

    def exhausted(self, marginal_seconds: Sequence[float], fixed: int | None = None) -> bool:
        """True once the most window pairs this plan (or a fixed count above it) allows have run."""
        most = max(self.max_windows, fixed or 0)
        return len(marginal_seconds) >= self.warmup_windows + most

    def positive(self, short_fit_s: Sequence[float], long_fit_s: Sequence[float]) -> bool:
        """True when the kept window pairs give a positive marginal step cost.

        Under heavy load a few window pairs can give T(2N) <= T(N); the worker then times
        more (up to the plan's maximum) rather than report a meaningless value.
        """
        marginal = [long - short for short, long in zip(short_fit_s, long_fit_s, strict=True)]
        kept = slice(self.steady_start(marginal), None)
        if not short_fit_s[kept]:
            return False
        return marginal_step_cost(short_fit_s[kept], long_fit_s[kept], 1) > 0
