"""Running cells: plan -> driver -> runner (parent) -> worker (child, one cell) -> timing.

Owns the run's settings and plan, the parent that launches one fresh worker process per cell
(and never imports Keras), the worker that imports Keras and times, trains and evaluates one
cell, and the pure step-time statistics. May import ``harness.backends``,
``harness.records``, the top-level modules (plugin, registry, datasets, errors) and, for
summaries, ``harness.stats``.
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
        "contention": ("HostTimes", "Snapshot"),
        "session": ("Session",),
        "model": ("count_params", "cycle_samples", "inputs_targets"),
        "flops": ("LayerCall", "StepSpec", "count_step"),
        "trace": ("count_model",),
        "peak": ("measure_peak",),
    },
)
