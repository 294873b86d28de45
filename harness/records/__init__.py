"""Results as data: frozen records, the schema version, the one checked reader and the atomic
writer, the DataFrame view for notebooks, the baseline store and the environment block.

Imports only what lies below it: ``harness.errors``, ``harness._lazy``, ``harness.stats``
(the step-time statistics), ``harness.backends.parent`` (the environment block) and the
package version; never ``harness.run`` (which imports it) or a framework.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "schema": (
            "COMPARISON_KIND",
            "SCHEMA_VERSION",
            "Cell",
            "CellComparison",
            "CheckResult",
            "CellResult",
            "Params",
            "RunResult",
            "Status",
        ),
        "files": (
            "read_comparison",
            "read_parity",
            "read_run",
            "read_run_data",
            "write_json_atomic",
        ),
        "fingerprint": ("FINGERPRINT_FIELDS", "fingerprint", "fingerprint_differences"),
        "steptime": (
            "PHASES",
            "Contention",
            "StepTimeStats",
            "StepTimeSummary",
            "marginal_step_cost",
        ),
        "efficiency": ("FlopCount", "MeasuredPeak", "Rate"),
        "frames": ("cells_frame", "comparison_frame", "history_frame", "load", "load_comparison"),
    },
)
