"""Change points in a series: found by a penalised piecewise-constant fit, then tested.

Finding: PELT (``ruptures``, L2 cost) on the log of each group's median step time, with the
penalty ``PENALTY x sigma^2 x log(n)``, sigma the noise level estimated robustly from the
differences of neighbouring groups (a step moves one difference, not their median).

Testing: each candidate is tested on the per-process samples of the segments either side
(the segment before it, back to the previous change point; the one after, up to the next):
the processes of one run share its host, so the run is the unit that varies independently:
each run's level is the mean of its processes' log step times, and the sides' levels are
compared with Welch's t-test (the latest run alone: against the prediction interval of the
segment before it), the ratio of their geometric means with its 95% interval
(``harness.stats.cluster_test``). Holm's correction runs over every candidate of the history.
A step is reported when its corrected p is below ``alpha`` and its ratio lies beyond
``1 +- threshold``; a candidate that is not is listed as such. The candidate's place was
chosen on the same data, so its p is optimistic; docs/history.md gives the false-step rate
measured by replaying real A/A runs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness import stats
from harness.history.changes import machine_changes, what_changed
from harness.history.series import Group, History, Series

PENALTY = 3.0  # x sigma^2 x log(n); chosen on simulated series (docs/history.md)
NOISE_FLOOR = 1e-3  # log units: a series of identical values still has this much noise
MIN_RUNS_A_SIDE = 2  # a step in a time-ordered series stands once two runs follow it
SLOWER, FASTER = "slower", "faster"
WITHIN, UNSUPPORTED = "within threshold", "not significant"


@dataclass(frozen=True)
class StepRule:
    """When a candidate is reported as a step."""

    alpha: float = 0.01
    threshold: float = 0.05


@dataclass(frozen=True)
class Step:
    """A candidate change point of a series, with its test."""

    series: Series
    at: int  # the index of the first group after it
    before: tuple[Group, ...]
    after: tuple[Group, ...]
    ratio: float  # geometric mean after / before, over the runs' levels
    ci: tuple[float, float] | None
    p: float | None  # two-sided, the run as the unit (harness.stats.cluster_test)
    p_adjusted: float | None = None
    verdict: str = UNSUPPORTED
    changes: tuple[str, ...] = ()
    latest: bool = False  # the latest run alone after it: not yet confirmed by a second

    @property
    def verdict_text(self) -> str:
        return f"{self.verdict} (latest run only)" if self.latest and self.found else self.verdict

    @property
    def found(self) -> bool:
        return self.verdict in (SLOWER, FASTER)

    @property
    def n_before(self) -> int:
        return sum(len(g.samples) for g in self.before)

    @property
    def n_after(self) -> int:
        return sum(len(g.samples) for g in self.after)


def change_points(values: Sequence[float], min_size: int = MIN_RUNS_A_SIDE) -> list[int]:
    """Where a piecewise-constant fit of ``log(values)`` changes level: the index of the
    first value of each new segment (none for fewer than ``2 x min_size`` values)."""
    if len(values) < 2 * min_size:
        return []
    import ruptures  # imported here: only the history needs it

    signal = np.log(np.asarray(values, dtype=float)).reshape(-1, 1)
    sigma = max(noise_level(signal[:, 0]), NOISE_FLOOR)
    penalty = PENALTY * sigma**2 * math.log(len(values))
    algorithm = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(signal)
    return [int(b) for b in algorithm.predict(pen=penalty)[:-1]]


def noise_level(values: np.ndarray) -> float:
    """The spread of ``values`` around their levels: the MAD of neighbouring differences,
    scaled to a normal sigma (differences carry twice the variance)."""
    if len(values) < 3:
        return float(np.std(values)) if len(values) > 1 else 0.0
    differences = np.diff(values)
    mad = float(np.median(np.abs(differences - np.median(differences))))
    return mad * 1.4826 / math.sqrt(2)


def candidate_steps(series: Series) -> list[Step]:
    """Each change point of the series with its untested figures (before Holm).

    In a series of runs, a change point needs two runs after it, except after the latest
    run: a last segment of one run, or else the latest run against the rest of its segment,
    is a candidate marked ``latest`` (a step only one run follows yet). A single run between
    two change points elsewhere is a spike, not a step: it joins the neighbouring segment
    whose level is nearer its own."""
    groups = series.groups
    levels = [g.median for g in groups]
    points = change_points(levels, 1)
    if not _one_run_a_group(series):
        return _tested_points(series, points)
    points = _without_spikes(points, np.log(levels))
    steps = _tested_points(series, points)
    edges, last = [0, *points, len(groups)], len(groups) - 1
    if steps and steps[-1].at == last:
        steps[-1] = replace(steps[-1], latest=True)
    elif last - edges[-2] >= MIN_RUNS_A_SIDE:
        steps.append(_tested(series, last, groups[edges[-2] : last], groups[last:], latest=True))
    return steps


def _tested_points(series: Series, points: list[int]) -> list[Step]:
    groups, edges = series.groups, [0, *points, len(series.groups)]
    return [
        _tested(series, at, groups[edges[index - 1] : at], groups[at : edges[index + 1]])
        for index, at in enumerate(points, start=1)
    ]


def _without_spikes(points: list[int], levels: np.ndarray) -> list[int]:
    """The change points less those that make a segment of one run anywhere but at the
    end: that run joins the neighbouring segment whose median level is nearer its own."""
    points, count = list(points), len(levels)
    while True:
        edges = [0, *points, count]
        spike = next(
            (
                i
                for i in range(len(edges) - 1)
                if edges[i + 1] - edges[i] == 1 and edges[i + 1] < count
            ),
            None,
        )
        if spike is None or len(edges) < 3:
            return points
        start, end = edges[spike], edges[spike + 1]
        if start == 0:
            points.remove(end)
            continue
        left = float(np.median(levels[edges[spike - 1] : start]))
        right = float(np.median(levels[end : edges[spike + 2]]))
        points.remove(start if abs(levels[start] - left) <= abs(levels[start] - right) else end)


def _tested(
    series: Series,
    at: int,
    before: tuple[Group, ...],
    after: tuple[Group, ...],
    latest: bool = False,
) -> Step:
    """The candidate at ``at`` with the run-level test of its two sides' processes."""
    a = [p.samples for g in before for p in g.points]
    b = [p.samples for g in after for p in g.points]
    test = stats.cluster_test(a, b)
    changes = what_changed(before[-1].points[-1], after[0].points[0])
    changes = tuple(changes + machine_changes(before, after))
    return Step(
        series,
        at,
        before,
        after,
        test.ratio,
        test.ci,
        test.p,
        changes=changes,
        latest=latest,
    )


def find_steps(history: History, rule: StepRule = StepRule()) -> list[Step]:
    """Every candidate of every series, tested and Holm-corrected together."""
    candidates = [step for series in history.series for step in candidate_steps(series)]
    adjusted = stats.holm([step.p for step in candidates])
    return [
        _decided(step, p_adjusted, rule)
        for step, p_adjusted in zip(candidates, adjusted, strict=True)
    ]


def _decided(step: Step, p_adjusted: float | None, rule: StepRule) -> Step:
    verdict = UNSUPPORTED
    if p_adjusted is not None and p_adjusted < rule.alpha:
        if step.ratio > 1 + rule.threshold:
            verdict = SLOWER
        elif step.ratio < 1 / (1 + rule.threshold):
            verdict = FASTER
        else:
            verdict = WITHIN
    return replace(step, p_adjusted=p_adjusted, verdict=verdict)


def shown(steps: list[Step]) -> list[Step]:
    """The steps a table or chart shows: every change point, and a latest-run check only
    when it found something."""
    return [step for step in steps if step.found or not step.latest]


def group_interval(group: Group) -> tuple[float, float] | None:
    """The 95% interval of a group's median step time (None with one sample)."""
    return stats.median_ci(group.samples) if len(group.samples) > 1 else None


def segment_level(groups: Sequence[Group]) -> float:
    """The median of a segment's per-process samples."""
    return statistics.median(s for g in groups for s in g.samples)


def _one_run_a_group(series: Series) -> bool:
    return all(len(g.points) == 1 for g in series.groups)
