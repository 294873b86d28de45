"""Deciding whether anything got slower: statistics, the comparison rule, and ``kbench ab``.

``stats`` holds pure functions over per-process medians; ``compare`` turns two runs into
verdicts under a stated rule; ``ab`` runs both sides interleaved and decides. May import
``harness.records`` and ``harness.run``; never a framework.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "compare": (
            "PAIRED_TEST",
            "Comparison",
            "Rule",
            "compare_runs",
            "decide",
            "with_detectable_slowdowns",
        ),
        "sequential": (
            "SPENDING",
            "could_reject",
            "look_level",
            "look_levels",
            "next_look_cost",
            "next_look_size",
            "plan_later_look",
            "unsure",
        ),
        "ab": ("Design",),
    },
)
