"""Compare two runs cell by cell and decide, by a stated rule, whether anything regressed.

The rule (docs/gate.md, "The decision rule"): the samples are the per-process median step
times of each side. A cell *regressed* when both hold:

* a one-sided Mann-Whitney U test (B slower than A) is significant at ``alpha`` after
  Holm's correction across the compared cells, and
* the ratio of medians B/A is above ``1 + threshold``.

With ``kbench ab --pairing live`` process k of each side ran alive together with the
other's, a process pair; the rule's test is then the paired test, the exact one-sided
signed-rank test on the process pairs' log ratios, and the ratio the median ratio over the
process pairs (``harness.stats.signed_rank``). The rule names its test once
(``Rule.test``); everything below asks that test, never which one it is.

An effect above the threshold that the test cannot support is ``inconclusive`` (``kbench
ab`` then takes another look, with more processes). A significant effect at or below the
threshold is ``slower``; a significant effect the other way (Holm-corrected too) is
``faster``. A cell
that was ok and now failed or timed out, whose parameter counts changed, or whose test
accuracy fell by more than the tolerance, is a regression too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from harness.records.fingerprint import (
    fingerprint,
    fingerprint_differences,
)
from harness.records.schema import (
    COMPARISON_KIND,
    VERDICTS,
    CellComparison,
    CellResult,
    RunResult,
    Status,
)
from harness.stats import TimingTest, TimingTestName, holm, timing_test

COMPARISON_SCHEMA = 1


@dataclass(frozen=True)
class Rule:
    """The decision rule's parameters (recorded with every comparison)."""

    alpha: float = 0.01
    threshold: float = 0.05
    accuracy_tolerance: float = 0.02
    test: TimingTestName = TimingTestName.PER_PROCESS  # PAIRED: kbench ab --pairing live
    correction: str = "holm"
    looks: int = 1  # kbench ab: the most looks, alpha spent over them (gate.sequential)
    spending: str | None = None  # how: obrien-fleming, pocock or equal (None: one look)
    strict: bool = False  # test "B slower than A x (1 + threshold)", not "B slower than A"

    @property
    def null_shift(self) -> float:
        """What the one-sided test's null puts B at: A's times, or A's x (1 + threshold)."""
        return self.threshold if self.strict else 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", TimingTestName.parse(self.test))  # a file's string

    @property
    def timing_test(self) -> TimingTest:
        """The test this rule names: the per-process or the paired one."""
        return timing_test(self.test)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "test": self.test.value}


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a label and where its numbers came from."""

    label: str
    environment: dict[str, Any]
    config: dict[str, Any]

    @classmethod
    def of(cls, label: str, run: RunResult) -> Side:
        return cls(label, run.environment, run.config)


@dataclass(frozen=True)
class Comparison:
    """Every cell's verdict under one rule, A (old) against B (new)."""

    rule: Rule
    a: Side
    b: Side
    cells: list[CellComparison]
    created: str = field(default_factory=lambda: _now())

    @property
    def regressed(self) -> bool:
        return any(c.verdict == "regression" for c in self.cells)

    def counts(self) -> dict[str, int]:
        found = [c.verdict for c in self.cells]
        return {v: found.count(v) for v in VERDICTS if v in found}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": COMPARISON_KIND,
            "schema_version": COMPARISON_SCHEMA,
            "created": self.created,
            "rule": self.rule.to_dict(),
            "a": asdict(self.a),
            "b": asdict(self.b),
            "cells": [c.to_dict() for c in self.cells],
            "summary": {"regressed": self.regressed, "counts": self.counts()},
        }


def compare_runs(
    a: RunResult,
    b: RunResult,
    rule: Rule = Rule(),
    labels: tuple[str, str] = ("A", "B"),
    check_fingerprint: bool = True,
    ignore: Sequence[str] = (),
    family_size: int | None = None,
) -> Comparison:
    """Verdicts for every cell of ``a`` or ``b`` (cells matched by plugin/backend/device).

    ``family_size``: Holm corrects for this many cells even when fewer are compared here
    (``kbench ab``'s confirmation look, over the cells the first look left inconclusive).
    """
    cells_a = {c.cell.key: c for c in a.cells}
    cells_b = {c.cell.key: c for c in b.cells}
    keys = list(dict.fromkeys([*cells_a, *cells_b]))
    drafts = []
    for key in keys:
        old, new = cells_a.get(key), cells_b.get(key)
        draft = _draft(old, new, rule)
        if draft.verdict == "" and check_fingerprint:
            changed = fingerprint_differences(fingerprint(a, old), fingerprint(b, new), ignore)
            if changed:
                draft = replace(draft, verdict="incomparable", reason="; ".join(changed))
        drafts.append(draft)
    decided = with_detectable_slowdowns(decide(drafts, rule, family_size), rule, family_size)
    return Comparison(rule, Side.of(labels[0], a), Side.of(labels[1], b), decided)


def _draft(old: CellResult | None, new: CellResult | None, rule: Rule) -> CellComparison:
    """The cell's figures under the rule's test, with a verdict only where the timing test
    does not decide."""
    test = rule.timing_test
    some = new or old
    assert some is not None
    base = CellComparison(some.cell.key, some.plugin, some.backend, some.device, verdict="")
    if old is None:
        return replace(base, verdict="new", reason="not in A")
    if new is None:
        return replace(base, verdict="missing", reason="not in B")
    accuracies = (old.metrics.get("test_accuracy"), new.metrics.get("test_accuracy"))
    base = replace(base, a_accuracy=accuracies[0], b_accuracy=accuracies[1])
    if old.ok and new.status in (Status.FAILED, Status.TIMEOUT):
        return replace(base, verdict="regression", reason=f"ok -> {new.status.value}: {new.error}")
    if not new.ok:
        return replace(base, verdict="missing", reason=f"B {new.status.value}: {new.error}")
    if not old.ok:
        return replace(base, verdict="new", reason=f"A {old.status.value}: {old.error}")
    if old.params != new.params:
        counts = f"{_total(old)} -> {_total(new)}"
        return replace(base, verdict="regression", reason=f"parameter counts changed: {counts}")
    if old.step_time_ms is None or new.step_time_ms is None:
        return replace(base, verdict="missing", reason="no step time recorded")
    a_samples, b_samples = test.aligned(
        old.step_time_ms.process_medians, new.step_time_ms.process_medians
    )
    interval = test.ratio_ci(a_samples, b_samples)
    return replace(
        base,
        a_median_ms=old.step_time_ms.median,
        b_median_ms=new.step_time_ms.median,
        ratio=test.ratio(a_samples, b_samples),
        ratio_ci_low=interval[0] if interval else None,
        ratio_ci_high=interval[1] if interval else None,
        p_value=test.p_slower(a_samples, b_samples, shift=rule.null_shift),
        p_faster=test.p_faster(a_samples, b_samples),
        n_a=len(a_samples),
        n_b=len(b_samples),
        a_samples=a_samples,
        b_samples=b_samples,
    )


def decide(
    drafts: list[CellComparison], rule: Rule, family_size: int | None = None
) -> list[CellComparison]:
    """Holm-correct across the timed cells (verdict ``""``; or the larger family), then
    apply the rule."""
    timed = [i for i, d in enumerate(drafts) if d.verdict == ""]
    slower = holm([drafts[i].p_value for i in timed], family_size)
    faster = holm([drafts[i].p_faster for i in timed], family_size)
    decided = list(drafts)
    for i, p_slow, p_fast in zip(timed, slower, faster, strict=True):
        draft = replace(drafts[i], p_adjusted=p_slow, p_faster_adjusted=p_fast)
        decided[i] = replace(draft, **_timing_verdict(draft, rule))
    return [_check_accuracy(d, rule) for d in decided]


def with_detectable_slowdowns(
    cells: list[CellComparison], rule: Rule, family_size: int | None = None
) -> list[CellComparison]:
    """Each timed cell with the slowdown its own spread lets the rule flag in 95% of
    comparisons of the same size (the rule's test's ``detectable_slowdown``; Holm's bound for one
    regressed cell of the family, and the confirmation batch when the rule has two looks).
    """
    timed = [c for c in cells if c.p_adjusted is not None]  # as decide's Holm family
    bound = rule.alpha / max(len(timed), family_size or 0, 1)
    return [
        replace(c, detectable_slowdown=detectable(c, rule, bound))
        if c.p_adjusted is not None
        else c
        for c in cells
    ]


def detectable(
    cell: CellComparison, rule: Rule, bound: float, size: int | None = None
) -> float | None:
    """The slowdown the cell's own spread lets the test flag in 95% of comparisons with
    ``size`` processes per side (default: as many as it has) at ``bound``. Under the strict
    reading the test's null is A x (1 + threshold), so what it flags is that much larger:
    (1 + threshold)(1 + d) - 1, d what a test against A itself flags (with no threshold)."""
    looks = 1 if size else rule.looks
    a, b = cell.a_samples, cell.b_samples
    if not rule.strict:
        return rule.timing_test.detectable_slowdown(a, b, bound, rule.threshold, size, looks)
    beyond = rule.timing_test.detectable_slowdown(a, b, bound, 0.0, size, looks)
    return None if beyond is None else (1.0 + rule.threshold) * (1.0 + beyond) - 1.0


def _timing_verdict(cell: CellComparison, rule: Rule) -> dict[str, str]:
    assert cell.ratio is not None
    significant = cell.p_adjusted is not None and cell.p_adjusted < rule.alpha
    large = cell.ratio > 1.0 + rule.threshold
    effect = f"{cell.ratio - 1.0:+.1%}"
    if significant and large:
        return {"verdict": "regression", "reason": f"{effect}, p_holm={cell.p_adjusted:.2g}"}
    if large:
        why = _why_unsupported(cell, rule)
        return {"verdict": "inconclusive", "reason": f"{effect} above the threshold, {why}"}
    if significant:
        return {"verdict": "slower", "reason": f"{effect}, within the threshold"}
    if cell.p_faster_adjusted is not None and cell.p_faster_adjusted < rule.alpha:
        return {"verdict": "faster", "reason": effect}
    return {"verdict": "same", "reason": effect}


def _why_unsupported(cell: CellComparison, rule: Rule) -> str:
    if cell.p_adjusted is None:
        return "one process per side cannot be tested (use --repeats)"
    return f"not significant (p_holm={cell.p_adjusted:.2g} >= {rule.alpha:g})"


def _check_accuracy(cell: CellComparison, rule: Rule) -> CellComparison:
    if cell.a_accuracy is None or cell.b_accuracy is None or cell.verdict == "regression":
        return cell
    drop = cell.a_accuracy - cell.b_accuracy
    if drop <= rule.accuracy_tolerance:
        return cell
    reason = (
        f"test accuracy {cell.a_accuracy:.3f} -> {cell.b_accuracy:.3f} "
        f"(tolerance {rule.accuracy_tolerance:g}); timing: {cell.verdict} {cell.reason}"
    )
    return replace(cell, verdict="regression", reason=reason)


def replace_cells(comparison: Comparison, updated: Sequence[CellComparison]) -> Comparison:
    """The comparison with some cells' verdicts replaced (e.g. after a confirmation)."""
    by_key = {c.key: c for c in updated}
    return replace(comparison, cells=[by_key.get(c.key, c) for c in comparison.cells])


def _total(cell: CellResult) -> str:
    return f"{cell.params.total:,}" if cell.params else "?"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
