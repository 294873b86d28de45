"""Every validation command starts from the repository root (``python -m validation.X``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    [
        "timing.step_time",
        "timing.plain_script",
        "timing.process_costs",
        "timing.steady_state",
        "gate.evidence",
        "gate.speed_probe",
        "gate.sequential",
        "gate.interleave",
        "gate.kernel_choices",
        "gate.paired_replay",
        "gate.sittings",
        "gate.stalls",
        "history.replay",
        "flops_xla",
        "ray_costs",
    ],
)
def test_each_command_starts_and_prints_its_help(module):
    done = subprocess.run(
        [sys.executable, "-m", f"validation.{module}", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
