"""Performance over time: many results files read as series (``series``), change points
found and tested (``steps``), what changed around them (``changes``), and the dashboard
(``tables``, ``charts``, ``dashboard``). Reads results files only; never a framework."""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "series": ("Group", "History", "Point", "Series", "read_history"),
        "steps": ("Step", "StepRule", "change_points", "find_steps"),
        "dashboard": ("write_dashboard",),
    },
)
