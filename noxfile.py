"""Sessions: ``nox -s bench`` (the main job), ``nox -s tests``, ``nox -s lint``.

Every session installs the project with the backends pinned in ``constraints/cpu.txt``
(``torch==2.13.0`` is the CPU build; a looser spec pulls a multi-GB CUDA build).
"""

from __future__ import annotations

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


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against all three real backends (slow tests excluded by default)."""
    _install(session, "all,test")
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session(default=False)
@nox.parametrize("backend", [nox.param(b, id=b) for b in ("jax", "tensorflow", "torch")])
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
    session.run("python", "benchmarks/step_time_validation.py", *session.posargs)
