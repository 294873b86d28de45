"""A gate side's interpreter: checked to run the harness, and its environment block."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from typing import Any

from harness.errors import HarnessError


def parse_python(text: str, option: str) -> tuple[str, ...]:
    """A side's interpreter command (``/venv/bin/python`` or ``taskset -c 0 python``),
    checked to run the harness worker, or a one-line error."""
    command = tuple(shlex.split(text))
    if not command:
        raise HarnessError(f"{option} is empty. Received: {option}={text!r}")
    try:
        probe = subprocess.run(
            [*command, "-c", "import harness.worker.cell"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HarnessError(
            f"{option} cannot be run ({error}). Received: {option}={text!r}"
        ) from None
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(
            f"{option} cannot import the harness ({last}); install the project in that "
            f"environment (pip install -e .). Received: {option}={text!r}"
        )
    return command


def side_environment(python: Sequence[str]) -> dict[str, Any]:
    """The environment block as seen by a side's own interpreter (its package versions)."""
    out = subprocess.run(
        [*python, "-m", "harness.records.environment"], capture_output=True, text=True, timeout=300
    )
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise HarnessError(f"Could not read the environment of {' '.join(python)}") from None
