"""The bisection: which candidate first makes the gate flag a regression.

The gate runs first between the two ends; when it flags nothing, the range holds no
regression and the search stops there. Otherwise the range halves: the gate runs between
the last version known good and the middle one; a regression moves the bad end there,
none moves the good end. A candidate whose environment cannot be built is skipped (as
``git bisect skip``) and the nearest untried one in the range is taken. When the two ends
are neighbours, the gate between them confirms the named version unless it already ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.bisect.candidates import Candidate


@dataclass(frozen=True)
class GateStep:
    """One gate of the bisection: A (older) against B (newer), and its outcome."""

    a: str
    b: str
    regressed: bool | None  # None: the gate could not decide (it failed; reason says why)
    file: str | None = None
    reason: str = ""


@dataclass
class Bisection:
    """The search's record: every gate in the order it ran, the skipped candidates, and
    the conclusion."""

    package: str
    candidates: list[str]
    steps: list[GateStep] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    first_bad: str | None = None
    last_good: str | None = None
    conclusion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Gate = Callable[[Candidate, Candidate], GateStep]  # runs the gate, A against B
Builds = Callable[[Candidate], str]  # "" when the candidate's environment is ready, else why


def bisect(package: str, candidates: list[Candidate], builds: Builds, gate: Gate) -> Bisection:
    """Search ``candidates`` (oldest first, good end first, bad end last)."""
    record = Bisection(package, [c.label for c in candidates])
    for end in (candidates[0], candidates[-1]):
        if why := builds(end):
            record.skipped[end.label] = why
            record.conclusion = f"the environment of {end.label} could not be built: {why}"
            return record
    low, high = 0, len(candidates) - 1
    if not _flags(record, gate(candidates[low], candidates[high])):
        record.last_good = candidates[high].label
        record.conclusion = (
            f"no regression between {candidates[low].label} and {candidates[high].label}: "
            "the gate flags nothing"
        )
        return record
    while high - low > 1:
        middle = _buildable_middle(record, candidates, low, high, builds)
        if middle is None:
            break
        if _flags(record, gate(candidates[low], candidates[middle])):
            high = middle
        else:
            low = middle
    record.first_bad, record.last_good = candidates[high].label, candidates[low].label
    if high - low > 1:
        record.conclusion = (
            f"the regression lies after {candidates[low].label} and at or before "
            f"{candidates[high].label}; every version between could not be built"
        )
        return record
    ran = any(s.a == candidates[low].label and s.b == candidates[high].label for s in record.steps)
    if not ran and not _flags(record, gate(candidates[low], candidates[high])):
        record.conclusion = (
            f"{candidates[high].label} is where the search ended, but the gate between it and "
            f"{candidates[low].label} flags nothing: the slowdown builds up over several versions"
        )
        return record
    record.conclusion = (
        f"first version whose gate flags the regression: {candidates[high].label} "
        f"(after {candidates[low].label})"
    )
    return record


def _flags(record: Bisection, step: GateStep) -> bool:
    record.steps.append(step)
    if step.regressed is None:
        raise GateFailed(step, record)
    return step.regressed


class GateFailed(Exception):
    """A gate that could not decide: the bisection stops and says which."""

    def __init__(self, step: GateStep, record: Bisection) -> None:
        super().__init__(f"the gate {step.a} -> {step.b} could not decide: {step.reason}")
        self.step, self.record = step, record


def _buildable_middle(
    record: Bisection, candidates: list[Candidate], low: int, high: int, builds: Builds
) -> int | None:
    """The untried candidate nearest the middle of (low, high) whose environment builds."""
    centre = (low + high) / 2
    for index in sorted(range(low + 1, high), key=lambda i: (abs(i - centre), i)):
        label = candidates[index].label
        if label in record.skipped:
            continue
        why = builds(candidates[index])
        if not why:
            return index
        record.skipped[label] = why
    return None
