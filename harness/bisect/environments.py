"""One virtual environment per candidate version, built like ``nox -s regression``'s and
cached: this checkout of kbench with the backends asked for, pinned by
``constraints/cpu.txt``, except the bisected package, pinned to the candidate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.bisect.candidates import Candidate
from harness.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = PROJECT_ROOT / "constraints" / "cpu.txt"
BUILT_MARK = ".kbench-built"  # written last: an environment without it is rebuilt
BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Environment:
    """A candidate's environment: its interpreter, or why it could not be built."""

    candidate: Candidate
    python: Path | None
    reason: str = ""  # why the build failed (the candidate is then skipped)

    @property
    def ok(self) -> bool:
        return self.python is not None


def default_cache() -> Path:
    """``$KBENCH_CACHE/bisect``, else ``~/.cache/kbench/bisect``."""
    root = os.environ.get("KBENCH_CACHE") or Path.home() / ".cache" / "kbench"
    return Path(root) / "bisect"


def extras_for(backends: list[str]) -> str:
    """The project's extras that install the backends asked for."""
    return "all" if set(backends) >= {"jax", "tensorflow", "torch"} else ",".join(sorted(backends))


def build(package: str, candidate: Candidate, extras: str, cache: Path) -> Environment:
    """The candidate's environment, built once into ``cache`` (reused while its mark is
    there); a failed build is an Environment with the last line pip printed."""
    if not (PROJECT_ROOT / "pyproject.toml").exists():
        raise UsageError(
            "kbench bisect builds its environments from a checkout of kbench "
            "(git clone, then pip install -e .); this installation has no pyproject.toml"
        )
    folder = cache / _slug(f"{package}-{candidate.label}-{extras}")
    python = folder / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    if (folder / BUILT_MARK).exists() and python.exists():
        return Environment(candidate, python)
    folder.mkdir(parents=True, exist_ok=True)
    why = _run([sys.executable, "-m", "venv", "--clear", str(folder)])
    if why:
        return Environment(candidate, None, why)
    constraints = folder / "constraints.txt"  # after the venv: --clear empties the folder
    constraints.write_text(pinned_constraints(package, CONSTRAINTS.read_text()))
    install = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-e",
        f"{PROJECT_ROOT}[{extras}]",
        candidate.requirement,
        "-c",
        str(constraints),
    ]
    why = _run(install)
    if why:
        return Environment(candidate, None, why)
    (folder / BUILT_MARK).write_text(f"{candidate.requirement}\n")
    return Environment(candidate, python)


def pinned_constraints(package: str, text: str) -> str:
    """The constraints without their line for ``package`` (the candidate pins it)."""
    name = _normal(package)
    kept = [
        line
        for line in text.splitlines()
        if _normal(re.split(r"[=<>!~\[; ]", line.strip(), maxsplit=1)[0]) != name
        or line.strip().startswith("#")
    ]
    return "\n".join(kept) + "\n"


def _run(command: list[str]) -> str:
    """ "" when the command succeeded, else its last line of output."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"build timed out after {BUILD_TIMEOUT_S} s"
    except OSError as error:
        return f"build could not start: {error}"
    if done.returncode == 0:
        return ""
    lines = (done.stderr + done.stdout).strip().splitlines()
    errors = [line for line in lines if "ERROR" in line or "error" in line]
    return " ".join((errors or lines or ["(no output)"])[-1].split())[:300]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.,-]+", "_", text)
