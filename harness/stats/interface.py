"""The timing-test interface: what the gate asks of a test, and which test a rule names.

Two implementations: the per-process test (Mann-Whitney U, :mod:`harness.stats.mann_whitney`)
and the paired test (signed-rank on a gate's process pairs,
:mod:`harness.stats.signed_rank`). A rule names its test once (:class:`TimingTestName`);
:func:`timing_test` gives the implementation, and nothing downstream asks which it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from harness.stats.mann_whitney import MannWhitney
from harness.stats.signed_rank import SignedRank


class TimingTestName(str, Enum):
    """The test a rule applies; its value is what a results file records as ``rule.test``."""

    PER_PROCESS = "mann-whitney-u, one-sided, on per-process medians"
    PAIRED = "wilcoxon-signed-rank, one-sided, on log(B/A) of live process pairs"

    @classmethod
    def parse(cls, recorded: str) -> TimingTestName:
        """The test a file's ``rule.test`` names (an older wording of the per-process test,
        such as ``"mann-whitney-u, one-sided"``, reads as the per-process test)."""
        if isinstance(recorded, cls):
            return recorded
        if str(recorded).startswith("wilcoxon"):
            return cls.PAIRED
        return cls.PER_PROCESS


class TimingTest(Protocol):
    """A one-sided test of B's per-process median step times against A's, and its effect.

    ``a`` and ``b`` are the sides' per-process medians, as :meth:`aligned` gives them.
    """

    def aligned(self, a: Sequence[float], b: Sequence[float]) -> tuple[list[float], list[float]]:
        """The samples the test uses of each side."""
        ...

    def ratio(self, a: Sequence[float], b: Sequence[float]) -> float:
        """The effect, B over A: above 1 means B is slower."""
        ...

    def ratio_ci(self, a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
        """The effect's 95% bootstrap interval (None: too few samples)."""
        ...

    def p_slower(self, a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> float | None:
        """One-sided p for "B slower than A x (1 + ``shift``)" (None: too few samples)."""
        ...

    def p_faster(self, a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> float | None:
        """One-sided p for "B faster than A x (1 + ``shift``)": with the rule's threshold as
        ``shift``, the gate's futility test (None: too few samples)."""
        ...

    def smallest_p(self, per_side: int) -> float:
        """The smallest p ``per_side`` samples a side can give (can a look reject at all?)."""
        ...

    def detectable_slowdown(
        self,
        a: Sequence[float],
        b: Sequence[float],
        bound: float,
        threshold: float,
        size: int | None = None,
        looks: int = 1,
    ) -> float | None:
        """The slowdown the samples' own spread lets the rule (p below ``bound``, ratio
        above 1 + ``threshold``) flag in 95% of comparisons with ``size`` samples a side."""
        ...


MANN_WHITNEY = MannWhitney()
SIGNED_RANK = SignedRank()
TESTS: dict[TimingTestName, TimingTest] = {
    TimingTestName.PER_PROCESS: MANN_WHITNEY,
    TimingTestName.PAIRED: SIGNED_RANK,
}


def timing_test(name: TimingTestName | str) -> TimingTest:
    """The implementation of the test ``name`` (a recorded ``rule.test`` string too)."""
    return TESTS[TimingTestName.parse(name)]
