"""The speed-probe experiment (validation.gate.speed_probe): its summary of the processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from validation.gate import speed_probe

ROOT = Path(__file__).resolve().parents[2]


def _rows(steps: list[float], loops: list[float]) -> list[dict]:
    return [
        {"step_ms": s, "python_loop_s": loop, "matmul_s": 1e-3}
        for s, loop in zip(steps, loops, strict=True)
    ]


def test_a_reference_that_sets_the_level_explains_the_spread():
    speeds = [1.0, 1.2, 0.9, 1.1, 1.3, 0.95]
    report = speed_probe.summarize(_rows([2.0 * v for v in speeds], [0.01 * v for v in speeds]))
    loop = report["python_loop_s"]
    assert loop["rho"] == pytest.approx(1.0)
    assert report["cv_step"] > 0.1
    assert loop["cv_step_divided"] == pytest.approx(0.0, abs=1e-12)
    assert report["matmul_s"]["cv"] == 0.0  # a constant reference explains nothing
    assert report["matmul_s"]["cv_step_divided"] == pytest.approx(report["cv_step"])


def test_an_unrelated_reference_does_not_narrow_the_spread():
    steps = [1.0, 1.2, 0.9, 1.1, 1.3, 0.95]
    loops = [0.011, 0.009, 0.010, 0.012, 0.0095, 0.0105]
    report = speed_probe.summarize(_rows(steps, loops))
    assert abs(report["python_loop_s"]["rho"]) < 0.5
    assert report["python_loop_s"]["cv_step_divided"] > 0.8 * report["cv_step"]


def test_too_few_processes_is_a_one_line_error():
    done = subprocess.run(
        [sys.executable, "-m", "validation.gate.speed_probe", "--processes", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert (
        done.stderr.strip() == "--processes must be at least 4 for a rank correlation. Received: 2"
    )
