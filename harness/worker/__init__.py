"""The worker: the child process that runs one cell, and its measurements.

``python -m harness.worker.cell SPEC RESULT`` imports Keras under the backend its environment
names, builds the plugin's model, times its steps (``session``), trains and evaluates it, and
writes one record. Its measurements each have a module: step timing in ``session`` (the window
plan it follows is ``harness.run.timing``), contention counters (``contention``), FLOPs counted
from the built model (``flops``: the convention, ``trace``: reading the model), the device's
measured peak (``peak``) and the cell's efficiency (``efficiency``). ``describe`` builds every
plugin under one backend for ``kbench list``. Keras and the frameworks are imported inside
functions only, so importing this package in the parent pulls in none of them. May import
``harness.run`` and below, never ``harness.executors``.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "contention": ("HostTimes", "Snapshot"),
        "session": ("Session",),
        "injected": ("Injection",),
        "model": ("count_params", "cycle_samples", "inputs_targets"),
        "flops": ("LayerCall", "StepSpec", "count_step"),
        "layer_costs": ("layer_cost",),
        "trace": ("count_model", "trace_calls"),
        "peak": ("measure_peak",),
    },
)
