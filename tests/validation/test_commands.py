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
        "step_time",
        "gate_evidence",
        "speed_probe",
        "flops_xla",
        "process_costs",
        "gate_sequential",
        "interleave",
        "kernel_choices",
        "paired_replay",
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
