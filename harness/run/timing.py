"""The timing method and per-process step-time statistics (pure: no Keras, no clocks).

Method. All three backends dispatch work asynchronously, so a timer around each batch
measures dispatch, not work, and a per-batch callback would itself force a sync every
step (Keras turns off async callback dispatch when ``on_train_batch_end`` is
overridden). Each ``fit`` call also has a fixed cost (callbacks, data adapter, iterator
and, on TensorFlow, a tf.data pipeline) that an epoch-level timer would spread over the
steps. So the worker calls ``model.fit`` as users do, with no batch callback, on a
*short* set of N steps and a *long* set of 2N steps, alternating their order. The clock
stops at ``on_train_end`` after a device barrier (``backends.sync``), so the fit's teardown
(on TensorFlow a tf.data iterator whose shutdown waits in quanta of ~0.3 s) is not timed.
One pair gives one sample of the marginal cost of a step, ``(T(2N) - T(N)) / N``, in
which the fixed cost cancels. The first pairs (warm-up) are dropped; pairs continue until
both ``min_windows`` and ``min_seconds`` (of timed steady-state work) are reached. Raw
fit times are kept with the statistics.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.run.contention import Contention


@dataclass(frozen=True)
class WindowPlan:
    """How many steps per timed window (N) and when to stop timing."""

    target_window_s: float = 0.25
    min_windows: int = 5
    min_seconds: float = 2.0
    warmup_windows: int = 1
    max_windows: int = 50
    min_window_steps: int = 2
    max_window_steps: int = 500

    def window_steps(self, estimated_step_s: float) -> int:
        """Steps N so that N steps last about ``target_window_s``."""
        if estimated_step_s <= 0 or math.isnan(estimated_step_s):
            return self.max_window_steps
        steps = round(self.target_window_s / estimated_step_s)
        return max(self.min_window_steps, min(self.max_window_steps, steps))

    def enough(self, marginal_seconds: Sequence[float]) -> bool:
        """True once the kept samples reach both the minimum count and timed duration."""
        kept = marginal_seconds[self.warmup_windows :]
        return len(kept) >= self.min_windows and sum(kept) >= self.min_seconds

    def exhausted(self, marginal_seconds: Sequence[float], fixed: int | None = None) -> bool:
        """True once the most pairs this plan (or a fixed count above it) allows have run."""
        most = max(self.max_windows, fixed or 0)
        return len(marginal_seconds) >= self.warmup_windows + most

    def positive(self, short_fit_s: Sequence[float], long_fit_s: Sequence[float]) -> bool:
        """True when the kept pairs give a positive marginal step cost.

        Under heavy load a few pairs can give T(2N) <= T(N); the worker then times more
        pairs (up to the plan's maximum) rather than report a meaningless value.
        """
        kept = slice(self.warmup_windows, None)
        if not short_fit_s[kept]:
            return False
        return marginal_step_cost(short_fit_s[kept], long_fit_s[kept], 1) > 0


@dataclass(frozen=True)
class StepTimeStats:
    """Steady-state step time in milliseconds, from alternating N / 2N-step fits.

    ``samples`` are the kept pairs' marginal costs, ``(T(2N) - T(N)) / N``; ``median`` is
    their median (as ``marginal_step_cost``), and they give the spread: stdev, IQR, CV, min,
    max. The two fits of a pair run back to back, so a stall or a change of machine speed
    that lasts about a pair moves one sample, which the median leaves out.
    """

    median: float
    mean: float
    stdev: float
    min: float
    max: float
    iqr: float
    cv: float
    n_windows: int
    window_steps: int
    warmup_windows: int
    fit_overhead_ms: float
    samples: list[float]
    short_fit_s: list[float]
    long_fit_s: list[float]
    contention: Contention | None = None  # what competed for the CPU while it timed

    @classmethod
    def from_fits(
        cls,
        short_fit_s: Sequence[float],
        long_fit_s: Sequence[float],
        window_steps: int,
        warmup_windows: int,
    ) -> StepTimeStats:
        """Per-pair marginal ms/step after the warm-up pairs, with the raw fit times."""
        pairs = list(zip(short_fit_s, long_fit_s, strict=True))[warmup_windows:]
        if not pairs:
            raise ValueError("No timed pairs left after the warm-up pairs.")
        kept = [(long - short) * 1000.0 / window_steps for short, long in pairs]
        overheads = [(2 * short - long) * 1000.0 for short, long in pairs]
        q1, _, q3 = statistics.quantiles(kept, n=4) if len(kept) > 1 else (kept[0],) * 3
        mean = statistics.fmean(kept)
        stdev = statistics.stdev(kept) if len(kept) > 1 else 0.0
        return cls(
            median=statistics.median(kept),  # marginal_step_cost, in ms
            mean=mean,
            stdev=stdev,
            min=min(kept),
            max=max(kept),
            iqr=q3 - q1,
            cv=stdev / abs(mean) if mean else 0.0,
            n_windows=len(kept),
            window_steps=window_steps,
            warmup_windows=warmup_windows,
            fit_overhead_ms=statistics.median(overheads),
            samples=kept,
            short_fit_s=list(short_fit_s),
            long_fit_s=list(long_fit_s),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepTimeStats:
        values = dict(data)
        if values.get("contention") is not None:
            values["contention"] = Contention.from_dict(values["contention"])
        return cls(**values)


def marginal_step_cost(seconds_n: Sequence[float], seconds_2n: Sequence[float], n: int) -> float:
    """Cost of one more step, in seconds: the median over pairs of (T(2N) - T(N)) / N.

    ``seconds_n[i]`` and ``seconds_2n[i]`` are one pair, timed back to back.
    """
    pairs = zip(seconds_n, seconds_2n, strict=True)
    return statistics.median([(long - short) / n for short, long in pairs])


@dataclass(frozen=True)
class StepTimeSummary:
    """A cell's step time across its worker processes (one process = one sample).

    ``median`` is the median of the per-process medians; ``ci_low``/``ci_high`` its 95%
    bootstrap interval (None with one process); ``cv`` the coefficient of variation
    across processes, or across one process's windows when only one ran
    (``spread_of`` says which). ``processes`` keeps every process's raw samples.
    """

    median: float
    ci_low: float | None
    ci_high: float | None
    cv: float
    spread_of: str
    n_processes: int
    process_medians: list[float]
    processes: list[StepTimeStats]

    @classmethod
    def from_processes(cls, processes: Sequence[StepTimeStats]) -> StepTimeSummary:
        from harness.gate import stats  # scipy, only where summaries are made

        if not processes:
            raise ValueError("A step-time summary needs at least one process.")
        medians = [p.median for p in processes]
        interval = stats.median_ci(medians)
        several = len(medians) > 1
        return cls(
            median=statistics.median(medians),
            ci_low=interval[0] if interval else None,
            ci_high=interval[1] if interval else None,
            cv=stats.coefficient_of_variation(medians) if several else processes[0].cv,
            spread_of="processes" if several else "windows",
            n_processes=len(medians),
            process_medians=medians,
            processes=list(processes),
        )

    @property
    def first(self) -> StepTimeStats:
        """The first process's statistics (it also calibrated the window size)."""
        return self.processes[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepTimeSummary:
        if "processes" not in data:  # schema 1: one process's StepTimeStats
            return cls.from_processes([StepTimeStats.from_dict(data)])
        values = dict(data)
        values["processes"] = [StepTimeStats.from_dict(p) for p in data["processes"]]
        return cls(**values)
