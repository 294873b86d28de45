"""Start one child process and wait for it without burning CPU: a pidfd, blocking.

Shared by the benchmark workers and the parity workers. The child runs as
``PYTHON -m MODULE SPEC.json RESULT.json`` in its own session (so a timeout kills its
whole process group), with stdout and stderr in a log whose tail is kept.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.records.files import write_json_atomic

LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class ChildOutcome:
    """How a child process ended: its JSON result (None when it left none) and log tail."""

    finished: bool
    returncode: int | None
    result: dict | None
    log_tail: str


def run_child(
    module: str,
    spec: dict,
    env: Mapping[str, str],
    timeout_s: float,
    tmp: Path,
    python: Sequence[str] = (sys.executable,),
) -> ChildOutcome:
    """``PYTHON -m MODULE SPEC.json RESULT.json`` in its own session, waited on blocking.

    ``python`` is a command prefix (e.g. ``("taskset", "-c", "0", "/venv/bin/python")``).
    """
    spec_path, result, log = tmp / "spec.json", tmp / "result.json", tmp / "worker.log"
    result.unlink(missing_ok=True)
    write_json_atomic(spec_path, spec)
    command = [*python, "-m", module, str(spec_path), str(result)]
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        finished = wait_blocking(proc, timeout_s)
        if not finished:
            _kill_group(proc)
    data = json.loads(result.read_text()) if finished and result.exists() else None
    return ChildOutcome(finished, proc.returncode, data, _tail(log))


def wait_blocking(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Block until ``proc`` exits or ``timeout_s`` passes; True when it exited."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (non-Linux, old kernel): Popen's own wait
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if ready:
        proc.wait()
    return bool(ready)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])
