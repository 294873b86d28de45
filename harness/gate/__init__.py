"""Deciding whether anything got slower: the comparison rule, the looks, and ``kbench ab``.

``compare`` turns two runs into verdicts under a stated rule (its timing test from
``harness.stats``); ``sequential`` plans a gate's group-sequential looks (alpha spending,
which cells go on, the budget); ``record`` holds a gate as data (the gate to run or resume,
the looks it took); ``ab`` runs both sides interleaved and takes the looks; ``sides``
checks a side's interpreter. May import ``harness.stats``, ``harness.records``,
``harness.run`` and ``harness.executors``; never a framework.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "compare": (
            "Comparison",
            "Rule",
            "compare_runs",
            "decide",
            "with_detectable_slowdowns",
        ),
        "sequential": (
            "SPENDING",
            "Design",
            "LaterLook",
            "LookPlan",
            "Room",
            "SoFar",
            "could_reject",
            "fewest_to_reject",
            "futility_level",
            "look_level",
            "look_levels",
            "next_look_cost",
            "next_look_size",
            "plan_first_look",
            "plan_later_look",
            "unsure",
        ),
        "record": ("AbResult", "Gate", "GateProgress", "Look", "stopped_gate"),
        "ab": ("run_ab",),
        "self_test": ("SelfTestCell", "given_of_a", "self_test_cells"),
    },
)
