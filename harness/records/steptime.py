"""Step-time records: one process's samples and statistics, a cell's summary across its
processes, and what competed for the CPU while a process timed.

Built from raw samples (kept, so every statistic can be recomputed from a results file) by
pure functions; the worker measures (``harness.run``), these records hold the numbers.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from harness import stats


class Counters(Protocol):
    """One reading of the host's and the process's counters (``harness.worker.contention``)."""

    wall_s: float
    process_cpu_s: float
    voluntary_switches: int
    involuntary_switches: int
    host: Any  # busy_s, idle_s, steal_s; None where /proc/stat cannot be read


@dataclass(frozen=True)
class Contention:
    """Counters over one timed interval.

    ``process_cpu_s`` is this process's CPU time (all its threads); ``others_busy_s`` the
    host's busy CPU time not spent by this process (other processes, the kernel's work for
    them); ``steal_s`` time the hypervisor gave to other guests while this one wanted the
    CPU. The ``*_share`` values divide by the interval's wall time times the core count,
    so 1.0 is every core for the whole interval. Involuntary context switches count how
    often the scheduler preempted one of this process's threads.
    """

    wall_s: float
    cores: int
    process_cpu_s: float
    voluntary_switches: int
    involuntary_switches: int
    others_busy_s: float | None
    steal_s: float | None
    idle_s: float | None

    @classmethod
    def between(cls, start: Counters, end: Counters, cores: int | None = None) -> Contention:
        """The differences of two snapshots (``cores`` defaults to this machine's)."""
        process_cpu = end.process_cpu_s - start.process_cpu_s
        others = steal = idle = None
        if start.host is not None and end.host is not None:
            busy = end.host.busy_s - start.host.busy_s
            others = max(0.0, busy - process_cpu)
            steal = end.host.steal_s - start.host.steal_s
            idle = end.host.idle_s - start.host.idle_s
        return cls(
            wall_s=end.wall_s - start.wall_s,
            cores=cores or os.cpu_count() or 1,
            process_cpu_s=process_cpu,
            voluntary_switches=end.voluntary_switches - start.voluntary_switches,
            involuntary_switches=end.involuntary_switches - start.involuntary_switches,
            others_busy_s=others,
            steal_s=steal,
            idle_s=idle,
        )

    @classmethod
    def total(cls, spans: Sequence[Contention]) -> Contention | None:
        """The counters summed over several intervals (None: no interval)."""
        if not spans:
            return None

        def add(name: str) -> Any:
            values = [getattr(span, name) for span in spans]
            return None if any(v is None for v in values) else sum(values)

        return cls(
            wall_s=add("wall_s"),
            cores=spans[0].cores,
            process_cpu_s=add("process_cpu_s"),
            voluntary_switches=add("voluntary_switches"),
            involuntary_switches=add("involuntary_switches"),
            others_busy_s=add("others_busy_s"),
            steal_s=add("steal_s"),
            idle_s=add("idle_s"),
        )

    def share(self, seconds: float | None) -> float | None:
        """``seconds`` of CPU time as a share of all cores over the interval."""
        capacity = self.wall_s * self.cores
        return None if seconds is None or capacity <= 0 else seconds / capacity

    @property
    def others_share(self) -> float | None:
        return self.share(self.others_busy_s)

    @property
    def steal_share(self) -> float | None:
        return self.share(self.steal_s)

    @property
    def involuntary_per_s(self) -> float:
        return self.involuntary_switches / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contention:
        return cls(**data)


@dataclass(frozen=True)
class StepTimeStats:
    """Steady-state step time in milliseconds, from window pairs (fits of N and 2N steps).

    ``samples`` are the kept window pairs' marginal costs, ``(T(2N) - T(N)) / N``; ``median``
    is their median (as ``marginal_step_cost``), and they give the spread: stdev, IQR, CV,
    min, max. The two fits of a window pair run back to back, so a stall or a change of
    machine speed that lasts about a window pair moves one sample, which the median leaves
    out.
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
    phases_s: dict[str, float] | None = None  # where this process's seconds went (PHASES)
    short_teardown_s: list[float] | None = None  # per fit: on_train_end -> fit returned
    long_teardown_s: list[float] | None = None
    teardown_ms_per_step: float | None = None  # what the teardown adds per step, on average
    with_teardown_ms: float | None = None  # median + teardown_ms_per_step
    injected: dict[str, float | None] | None = None  # kbench ab --self-test's work per batch

    @classmethod
    def from_fits(
        cls,
        short_fit_s: Sequence[float],
        long_fit_s: Sequence[float],
        window_steps: int,
        warmup_windows: int,
        short_teardown_s: Sequence[float] | None = None,
        long_teardown_s: Sequence[float] | None = None,
    ) -> StepTimeStats:
        """Per-window-pair marginal ms/step after the warm-up, with the raw fit times; with
        each fit's teardown (``on_train_end`` to the return of ``fit``), also what the
        teardown adds per step run: the mean over the kept window pairs of (teardown(2N) -
        teardown(N)) / N. A mean, not a median: on TensorFlow the teardown is usually ~1 ms
        and now and then 0.1-0.6 s, more often after longer fits, and a user pays the
        average."""
        window_pairs = list(zip(short_fit_s, long_fit_s, strict=True))[warmup_windows:]
        if not window_pairs:
            raise ValueError("No timed window pairs left after the warm-up.")
        kept = [(long - short) * 1000.0 / window_steps for short, long in window_pairs]
        overheads = [(2 * short - long) * 1000.0 for short, long in window_pairs]
        q1, _, q3 = statistics.quantiles(kept, n=4) if len(kept) > 1 else (kept[0],) * 3
        mean = statistics.fmean(kept)
        stdev = statistics.stdev(kept) if len(kept) > 1 else 0.0
        teardown: dict[str, Any] = {}
        if short_teardown_s is not None and long_teardown_s is not None:
            downs = list(zip(short_teardown_s, long_teardown_s, strict=True))[warmup_windows:]
            growth = statistics.fmean(
                (long - short) * 1000.0 / window_steps for short, long in downs
            )
            teardown = {
                "short_teardown_s": list(short_teardown_s),
                "long_teardown_s": list(long_teardown_s),
                "teardown_ms_per_step": growth,
                "with_teardown_ms": statistics.median(kept) + growth,
            }
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
            **teardown,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepTimeStats:
        values = dict(data)
        if values.get("contention") is not None:
            values["contention"] = Contention.from_dict(values["contention"])
        return cls(**values)


PHASES = {
    "start": "interpreter start and the harness's own imports (wall minus the worker's run)",
    "import": "import keras and the backend",
    "setup": "backend configuration, plugin discovery, dataset load",
    "build": "build and compile the model",
    "first_step": "the first fit of one step (tracing, compilation)",
    "calibrate": "the short fits that size the timed windows",
    "timed": "the timed window pairs (fits of N and 2N steps), the warm-up included",
    "predict": "the predict window pairs, their sizing and the first (tracing) predict call",
    "train": "training and evaluation (first process only)",
    "efficiency": "FLOP count and the machine's measured peak (first process only)",
    "wall": "the whole process, as the parent saw it",
}


def marginal_step_cost(seconds_n: Sequence[float], seconds_2n: Sequence[float], n: int) -> float:
    """Cost of one more step, in seconds: the median over window pairs of (T(2N) - T(N)) / N.

    ``seconds_n[i]`` and ``seconds_2n[i]`` are one window pair, timed back to back.
    """
    window_pairs = zip(seconds_n, seconds_2n, strict=True)
    return statistics.median([(long - short) / n for short, long in window_pairs])


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
    teardown_ms_per_step: float | None = None  # mean over processes (None: not recorded)
    with_teardown_ms: float | None = None  # median + teardown_ms_per_step

    @classmethod
    def from_processes(cls, processes: Sequence[StepTimeStats]) -> StepTimeSummary:
        if not processes:
            raise ValueError("A step-time summary needs at least one process.")
        medians = [p.median for p in processes]
        interval = stats.median_ci(medians)
        several = len(medians) > 1
        teardown = _mean_of(p.teardown_ms_per_step for p in processes)
        return cls(
            median=statistics.median(medians),
            ci_low=interval[0] if interval else None,
            ci_high=interval[1] if interval else None,
            cv=stats.coefficient_of_variation(medians) if several else processes[0].cv,
            spread_of="processes" if several else "windows",
            n_processes=len(medians),
            process_medians=medians,
            processes=list(processes),
            teardown_ms_per_step=teardown,
            with_teardown_ms=None if teardown is None else statistics.median(medians) + teardown,
        )

    @property
    def first(self) -> StepTimeStats:
        """The first process's statistics (it also calibrated the window size)."""
        return self.processes[0]

    @property
    def injected_share(self) -> float | None:
        """The busy work ``kbench ab --self-test`` gave each step, as a share of the process's
        own step time, median over the processes that recorded it (None: none did)."""
        shares = [
            p.injected["busy_ms"] / p.injected["base_ms"]
            for p in self.processes
            if p.injected and p.injected.get("base_ms") and p.injected.get("busy_ms") is not None
        ]
        return statistics.median(shares) if shares else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepTimeSummary:
        if "processes" not in data:  # schema 1: one process's StepTimeStats
            return cls.from_processes([StepTimeStats.from_dict(data)])
        values = dict(data)
        values["processes"] = [StepTimeStats.from_dict(p) for p in data["processes"]]
        return cls(**values)


def _mean_of(values: Iterable[float | None]) -> float | None:
    """The mean of the values, or None when any is missing (a process recorded before)."""
    given = list(values)
    known = [v for v in given if v is not None]
    return statistics.fmean(known) if known and len(known) == len(given) else None
