"""A gate as data: the gate to run or to resume (:class:`Gate`, with a stopped gate's
:class:`GateProgress`, read back from its file by :func:`stopped_gate`), and what it did
(:class:`Look`, :class:`AbResult`, written as the ``kbench ab --out`` file)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import HarnessError
from harness.gate.compare import Comparison, Rule
from harness.gate.sequential import Design
from harness.records.schema import RunResult
from harness.stats import TimingTestName

SIDES = ("A", "B")


def pairing(rule: Rule) -> str:
    """How the gate's processes ran, as its file records it: ``live`` (process pairs, the
    paired test) or ``processes`` (one at a time, the per-process test)."""
    return "live" if rule.test is TimingTestName.PAIRED else "processes"


@dataclass(frozen=True)
class Look:
    """One look the gate took: its level, its processes per side, the cells it decided on."""

    number: int
    level: float
    processes_per_side: int
    cells: list[str]
    can_reject: bool = True  # False: a futility-only look (its size cannot reach its level)
    past_budget: bool = False  # the last look, raised past the budget so that it can reject

    def to_dict(self) -> dict[str, Any]:
        return {
            "look": self.number,
            "level": self.level,
            "processes_per_side": self.processes_per_side,
            "cells": self.cells,
            "can_reject": self.can_reject,
            **({"past_budget": True} if self.past_budget else {}),
        }


@dataclass(frozen=True)
class AbResult:
    """The verdicts, both sides' merged runs, and the looks the gate took."""

    comparison: Comparison
    run_a: RunResult
    run_b: RunResult
    pythons: dict[str, list[str]]
    repeats: int
    design: Design
    looks: list[Look]
    elapsed_s: float
    planned: list[int] = field(default_factory=list)  # processes per side each look set out for
    most: int | None = None  # processes per side at full information (the spending's 1)
    budget_stop: str | None = None  # why no further look was taken, when the budget said so
    interrupted: str | None = None  # the signal that stopped the gate before it finished

    @property
    def confirmed(self) -> list[str]:
        """The cells that had more than one look."""
        return sorted({key for look in self.looks[1:] for key in look.cells})

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.comparison.to_dict(),
            "ab": {
                "python_a": self.pythons["A"],
                "python_b": self.pythons["B"],
                "repeats": self.repeats,
                "order": "A B, B A, ... per repeat",
                "pairing": pairing(self.comparison.rule),
                "looks_planned": self.design.looks,
                "spending": self.design.spending,
                "budget_s": self.design.budget_s,
                "elapsed_s": self.elapsed_s,
                "looks": [look.to_dict() for look in self.looks],
                "planned_processes_per_side": self.planned,
                "full_information_per_side": self.most,
                "confirmation_batch": self.confirmed,
                **({"budget_stop": self.budget_stop} if self.budget_stop else {}),
                **({"interrupted": self.interrupted} if self.interrupted else {}),
            },
            "runs": {"a": self.run_a.to_dict(), "b": self.run_b.to_dict()},
        }


@dataclass(frozen=True)
class GateProgress:
    """How far a stopped gate got: both sides' runs, the seconds it had run (they count
    against the budget) and the processes per side each look it had begun set out for."""

    runs: tuple[RunResult, RunResult]
    elapsed_s: float = 0.0
    planned: list[int] = field(default_factory=list)
    most: int | None = None


@dataclass(frozen=True)
class Gate:
    """A gate to run or to resume: both interpreters, the rule, the design, and how far a
    stopped gate got (None: a new gate)."""

    pythons: dict[str, tuple[str, ...]]
    rule: Rule
    design: Design
    progress: GateProgress | None = None

    @property
    def live(self) -> bool:
        """Whether each repeat is a live process pair (``--pairing live``, the paired test)."""
        return pairing(self.rule) == "live"

    @property
    def recorded_rule(self) -> Rule:
        """The rule as the gate's file records it: with the design's looks and spending."""
        return replace(self.rule, looks=self.design.looks, spending=self.design.spending)

    @property
    def labels(self) -> tuple[str, str]:
        return tuple(" ".join(self.pythons[s]) for s in SIDES)  # type: ignore[return-value]


def stopped_gate(record: dict[str, Any], path: Any) -> Gate:
    """What a ``kbench ab --out`` file recorded, to resume it: its interpreters, the rule,
    the design, and its progress (both sides' runs and the seconds it had run)."""
    ab, runs = record.get("ab"), record.get("runs")
    if not isinstance(ab, dict) or not isinstance(runs, dict):
        raise HarnessError(f"{path} is a comparison without a gate's runs; only kbench ab resumes")
    try:
        previous = (RunResult.from_dict(runs["a"]), RunResult.from_dict(runs["b"]))
        pythons = {"A": tuple(ab["python_a"]), "B": tuple(ab["python_b"])}
        rule = Rule(**{k: v for k, v in record["rule"].items() if k in Rule.__dataclass_fields__})
        if "looks_planned" in ab:
            design = Design(ab["looks_planned"], ab["spending"], ab.get("budget_s"))
        else:  # a gate of one confirmation batch: two looks at alpha / 2 each
            looks = rule.looks or 1
            rule = replace(rule, alpha=rule.alpha * looks)
            design = Design(looks, "equal", None)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HarnessError(f"Comparison file {path} is malformed: {error!r}") from None
    planned = [int(n) for n in ab.get("planned_processes_per_side") or []]
    most = ab.get("full_information_per_side")
    elapsed = float(ab.get("elapsed_s") or 0.0)
    progress = GateProgress(previous, elapsed, planned, int(most) if most else None)
    return Gate(pythons, rule, design, progress)
