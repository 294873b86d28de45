"""Start one child process and wait for it without burning CPU: a pidfd, blocking.

Shared by the benchmark workers and the parity workers. The child runs as
``PYTHON -m MODULE SPEC.json RESULT.json`` in its own session (so a timeout or an
interrupted parent kills its whole process group), with stdout and stderr in a log whose
tail is kept. A child also dies with its parent (:func:`die_with_parent`), and with
``max_memory_mb`` a child whose resident memory grows past it is killed.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.records.files import write_json_atomic

LOG_TAIL_LINES = 25
PARENT_ENV = "KBENCH_PARENT_PID"
MEMORY_CHECK_S = 0.25  # how often a memory bound is checked (reading /proc: microseconds)
LIKELY_CAUSE = {
    "SIGKILL": "out of memory? (the kernel's OOM killer sends SIGKILL)",
    "SIGSEGV": "a crash in native code (a framework or a library it loads)",
    "SIGABRT": "aborted by native code (a failed check in a framework?)",
    "SIGBUS": "a bad memory access in native code",
    "SIGTERM": "stopped from outside",
}


@dataclass(frozen=True)
class ChildOutcome:
    """How a child process ended: its JSON result (None when it left none) and log tail."""

    finished: bool
    returncode: int | None
    result: dict | None
    log_tail: str
    memory_exceeded_mb: float | None = None  # its resident memory when it was killed for it

    def why_no_result(self) -> str:
        """Why the child left no result, in words (signal named, likely cause said)."""
        if self.memory_exceeded_mb is not None:
            return f"worker killed at {self.memory_exceeded_mb:,.0f} MB resident memory"
        return f"{exit_reason(self.returncode)} without a result"


def exit_reason(returncode: int | None) -> str:
    """``worker exited with code 1`` or ``worker killed by SIGKILL: out of memory?``."""
    if returncode is None or returncode >= 0:
        return f"worker exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"worker killed by signal {-returncode}"
    cause = LIKELY_CAUSE.get(name)
    return f"worker killed by {name}" + (f": {cause}" if cause else "")


@dataclass
class Child:
    """A started child: its process and the files it reads and writes."""

    proc: subprocess.Popen
    result: Path
    log: Path

    def outcome(self, finished: bool, exceeded: float | None = None) -> ChildOutcome:
        """How it ended; kills its process group first unless it exited within bounds."""
        if not finished or exceeded is not None:
            kill_group(self.proc)
        data = _read_result(self.result) if finished and exceeded is None else None
        return ChildOutcome(finished, self.proc.returncode, data, _tail(self.log), exceeded)


def start_child(
    module: str,
    spec: dict,
    env: Mapping[str, str],
    tmp: Path,
    python: Sequence[str] = (sys.executable,),
    pass_fds: Sequence[int] = (),
) -> Child:
    """``PYTHON -m MODULE SPEC.json RESULT.json`` started in its own session, its output in
    ``tmp``'s log; ``pass_fds`` stay open in it."""
    spec_path, result, log = tmp / "spec.json", tmp / "result.json", tmp / "worker.log"
    result.unlink(missing_ok=True)
    write_json_atomic(spec_path, spec)
    command = [*python, "-m", module, str(spec_path), str(result)]
    child_env = {**os.environ, **env, PARENT_ENV: str(os.getpid())}
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    return Child(proc, result, log)


def run_child(
    module: str,
    spec: dict,
    env: Mapping[str, str],
    timeout_s: float,
    tmp: Path,
    python: Sequence[str] = (sys.executable,),
    max_memory_mb: float | None = None,
) -> ChildOutcome:
    """``PYTHON -m MODULE SPEC.json RESULT.json`` in its own session, waited on blocking.

    ``python`` is a command prefix (e.g. ``("taskset", "-c", "0", "/venv/bin/python")``).
    Whatever interrupts the wait (a signal, an error) kills the child's process group first.
    """
    child = start_child(module, spec, env, tmp, python)
    try:
        finished, exceeded = _wait(child.proc, timeout_s, max_memory_mb)
    except BaseException:
        kill_group(child.proc)
        raise
    return child.outcome(finished, exceeded)


def _wait(
    proc: subprocess.Popen, timeout_s: float, max_memory_mb: float | None
) -> tuple[bool, float | None]:
    """(exited, resident MB when it outgrew ``max_memory_mb`` else None)."""
    if max_memory_mb is None:
        return wait_blocking(proc, timeout_s), None
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if wait_blocking(proc, min(left, MEMORY_CHECK_S)):
            return True, None
        resident = outgrown_mb(proc.pid, max_memory_mb)
        if resident is not None:
            return True, resident
    return False, None


def outgrown_mb(pid: int, max_memory_mb: float | None) -> float | None:
    """The process's resident MiB when it is above ``max_memory_mb`` (None: within it, no
    bound, or unreadable)."""
    if not max_memory_mb:
        return None
    resident = resident_mb(pid)
    return resident if resident is not None and resident > max_memory_mb else None


def resident_mb(pid: int) -> float | None:
    """A process's resident memory in MiB (None when it cannot be read)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


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


def die_with_parent() -> None:
    """In a child: be killed when the parent that started it dies (Linux), and exit now if
    it is already gone, so that no worker outlives a killed ``kbench``."""
    parent = os.environ.get(PARENT_ENV)
    if parent is None or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):
        os._exit(1)


def _read_result(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(lines[-LOG_TAIL_LINES:])
