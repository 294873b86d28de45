"""Sessions: ``nox -s bench`` (the main job), ``nox -s tests`` (the default tests),
``nox -s e2e`` (the costly end-to-end tests), ``nox -s regression`` (the performance gate),
``nox -s compat(backend=...)``, ``nox -s lint``.

Every session installs the project with the backends pinned in ``constraints/cpu.txt``
(``torch==2.13.0`` is the CPU build; a looser spec pulls a multi-GB CUDA build).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
CONSTRAINTS = ("-c", "constraints/cpu.txt")


def _install(session: nox.Session, extras: str) -> None:
    session.install("-e", f".[{extras}]", *CONSTRAINTS)


@nox.session
def bench(session: nox.Session) -> None:
    """The built-in models x every installed backend on CPU (and GPU where present).

    Extra arguments go to ``kbench run``, e.g. ``nox -s bench -- --profile full``. The charts
    and ``report.html`` go to ``results/reports/<results file stem>/`` (``-- --no-report``: none).
    """
    _install(session, "all")
    session.run("kbench", "run", "--report", *session.posargs)
    if "--no-report" not in session.posargs:
        session.log("report: the report.html path printed above (under results/reports/)")


DEFAULT_TIER = "not e2e and not slow"
E2E_TIER = "e2e or slow"
# The default tier on every core (at most 4), each test file on one pytest-xdist worker so that
# a file's shared runs are made once (a session's once per worker); ``-- -n 0``: one process.
PARALLEL = ("-n", "auto", "--maxprocesses", "4", "--dist", "loadfile")


@nox.session
def tests(session: nox.Session) -> None:
    """The default tests: every backend trains for real, on tiny data (the e2e tier left out)."""
    _install(session, "all,test,ray")
    session.run("pytest", "-m", DEFAULT_TIER, *PARALLEL, *session.posargs)


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """The costly end-to-end tests: a Ray cluster, live gates, faults after real training.
    One process: they time, signal and count workers, and must have the machine to themselves."""
    _install(session, "all,test,ray")
    session.run("pytest", "-m", E2E_TIER, *session.posargs)


@nox.session(default=False)
@nox.parametrize("backend", ["jax", "tensorflow", "torch"])
def compat(session: nox.Session, backend: str) -> None:
    """One backend alone: its tests, a smoke run and parity for what it can check."""
    _install(session, f"{backend},test")
    session.run("pytest", "-m", "backend and not slow", "-k", backend, *session.posargs)
    runs = "results/runs"
    session.run(
        "kbench",
        "run",
        "-b",
        backend,
        "--profile",
        "smoke",
        "--dataset",
        "synthetic",
        "--out",
        f"{runs}/compat-{backend}.json",
        "--report",
    )
    session.run("kbench", "parity", "-b", backend, "--json", f"{runs}/parity-{backend}.json")


GATE_DEFAULTS = ("-p", "dense_mlp,cnn", "--profile", "gate", "--repeats", "5")


@nox.session(default=False)
def regression(session: nox.Session) -> None:
    """The performance gate: ``kbench ab`` between two environments built here.

    A is this session's environment (``constraints/cpu.txt``); B is a second virtual
    environment built from ``constraints/candidate.txt`` (edit it to try an upgrade).
    Extra arguments replace the default cells and options, e.g.
    ``nox -s regression -- -p dense_mlp -b jax --repeats 10``. Exit 1 on a regression.
    """
    _install(session, "all")
    candidate = Path(".nox") / "regression-candidate"
    bin_dir = "Scripts" if sys.platform == "win32" else "bin"
    python_b = candidate / bin_dir / "python"
    if not python_b.exists():
        session.run("python", "-m", "venv", str(candidate))
    session.run(
        str(python_b), "-m", "pip", "install", "--quiet", "-e", ".[all]",
        "-c", "constraints/candidate.txt", external=True,
    )  # fmt: skip
    python_a = Path(session.virtualenv.location) / bin_dir / "python"
    options = session.posargs or GATE_DEFAULTS
    python_b = python_b.absolute()  # not resolve(): that would leave the venv
    session.run("kbench", "ab", "--python-a", str(python_a), "--python-b", str(python_b), *options)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(default=False)
def validate_timing(session: nox.Session) -> None:
    """The step-time honesty check: harness median vs the marginal cost of a step."""
    _install(session, "all")
    session.run("python", "-m", "validation.timing.step_time", *session.posargs)
