"""The gate-evidence tables (validation.gate.tables), from a summary dict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from validation.gate import tables as evidence_tables

ROOT = Path(__file__).resolve().parents[2]

CELLS = ("m/jax/cpu", "m/torch/cpu")


def _aa(gates: int, low: float) -> dict:
    return {
        "gates": gates,
        "ratio_spread": {k: {"min": low, "median": 1.0, "max": 1.1} for k in CELLS},
        "detectable_slowdown_first_look": {
            "m/jax/cpu": {"min": 0.1, "median": 0.25, "max": 0.6},
            "m/torch/cpu": {"min": None, "median": None, "max": None},
        },
    }


def _power(rate: float) -> dict:
    replay = [
        {
            "repeats": r,
            "delta": d,
            "per_cell_rate": {"m/jax/cpu": rate * d * 10, "m/torch/cpu": 1.0 if d else 0.0},
            "mean_cell_rate": rate * d * 5,
            "gate_flag_rate": 0.9996 if d else 0.004,
        }
        for r in (5, 10)
        for d in (0.0, 0.1)
    ]
    return {
        "gates_pooled": 3,
        "sims": 100,
        "replay": [*replay, {"repeats": 40, "skipped": "pool 12 < 160"}],
        "detectable_by_repeats": {k: {"5": 0.456, "80": None} for k in CELLS},
    }


def test_render_gives_every_table_from_the_summary():
    summary = {
        "aa": _aa(4, 0.93),
        "power": _power(0.5),
        "earlier_timings": {"pairs5": {"aa": _aa(2, 0.8), "power": _power(0.7)}},
    }
    text = evidence_tables.render(summary)
    lines = text.splitlines()
    assert "| cell | current: 4 gates | median | 5 pairs: 2 gates | median |" in lines
    assert "| m/jax | 0.93-1.10 | 1.00 | 0.80-1.10 | 1.00 |" in lines
    assert "| m/jax | 25% | 10-60% | 25% | 10-60% |" in lines
    assert "| m/torch | never |  | never |  |" in lines  # no first look could flag it
    # a rate that rounds to 100% but is not 1 is not shown as 100%
    assert "| R = 10: gates with any cell flagged | 0.4% | >99.9% |" in lines
    assert "| R = 5: cells flagged (mean of 6) | 0.0% | 25.0% |" in lines
    # per cell at 10%: this timing's R = 10 and the earlier timing's R = 10
    assert "| cell | R = 10 | R = 10, 5 pairs |" in lines
    assert "| m/jax | 50.0% | 70.0% |" in lines
    assert "| m/torch | 100% | 100% |" in lines
    assert "| m/jax | 46% | never |" in lines  # detectable by R, R = 80 reaches nothing
    assert "Replay over 3 gates, 100 per row:" in lines


def test_render_reads_the_committed_summary():
    """The committed figures render: each table's rows name the six evidence cells."""
    summary = json.loads((ROOT / "validation" / "results" / "gate_evidence.json").read_text())
    text = evidence_tables.render(summary)
    assert text.count("| cnn/torch |") == 4
    assert f"| cell | current: {summary['aa']['gates']} gates |" in text


def test_the_tables_step_prints_them_from_the_committed_summary():
    done = subprocess.run(
        [sys.executable, "-m", "validation.gate.evidence", "tables"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "Detectable slowdown by R, pooled spread:" in done.stdout
    assert done.stdout.count("| cnn/torch |") == 4
