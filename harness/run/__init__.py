"""The parent's run: settings -> plan -> driver -> one worker process per cell -> results.

Owns the run's settings, profiles and plan, the shards of a CI matrix, the worker's spec (the
one format the parent writes and the worker reads), the turns protocol of a live process pair,
starting and waiting for child processes, interrupts, and the contract an executor fulfils
(``executor.Executor``; the executors live in ``harness.executors``). Never imports Keras. May
import ``harness.backends``, ``harness.records`` and the top-level modules (plugin, registry,
datasets, errors, stats).
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "settings": ("RunSettings", "parse_selection"),
        "plan": ("RunPlan", "plan_run", "select_backends"),
        "profiles": ("PROFILES", "Profile", "get_profile"),
        "timing": ("WindowPlan",),
        "executor": ("Executor", "WorkerJob"),
    },
)
