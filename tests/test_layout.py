"""The architecture, as ``ls harness`` shows it: layers that import only downwards, and a parent
side that never imports a framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "harness"
# Bottom to top: each may import itself and anything listed before it, nothing after it.
LAYERS = (
    ("errors", "_lazy"),
    ("declarations",),
    ("plugin", "stats", "native"),
    ("registry", "datasets", "synthetic", "plugin_data"),
    ("backends",),
    ("records",),
    ("run",),
    ("worker", "executors"),  # siblings: the child's side and where children run
    ("gate", "parity"),
    ("report",),
    ("history", "bisect"),  # read many runs / run many gates: above the report they render with
    ("cli", "__main__", "__init__"),
)
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch", "ray")  # ray: only with --executor ray


def _layer(name: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if name in names)


def _unit(path: Path) -> str:
    """The top-level name a file belongs to: its subpackage or its own module."""
    relative = path.relative_to(HARNESS)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _harness_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level harness name) of every import of a harness module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "harness":
                continue
            names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name.split(".")[1])
                for a in node.names
                if a.name.startswith("harness.")
            ]
    return found


@pytest.mark.parametrize(
    "path", sorted(HARNESS.rglob("*.py")), ids=lambda p: str(p.relative_to(HARNESS))
)
def test_modules_import_only_their_own_layer_or_lower(path):
    mine = _layer(_unit(path))
    upward = [
        f"line {line}: harness.{name}"
        for line, name in _harness_imports(path)
        if name != "__version__" and _layer(name) > mine
    ]
    assert not upward, f"{path.relative_to(HARNESS)} imports a higher layer: {upward}"


def test_every_module_imports_without_a_framework():
    """Keras and the frameworks are imported inside the workers' functions only, so the
    parent (the CLI, the runner, the report, the gate) never pays for or depends on them."""
    modules = [
        ".".join(p.relative_to(HARNESS.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted(HARNESS.rglob("*.py"))
        if p.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = [m for m in {FRAMEWORKS!r} if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_worker_and_the_executors_never_import_each_other():
    """The child's code and the code that places children meet only through the worker's
    module name (``harness.run.launch.WORKER_MODULE``), a string."""
    crossing = [
        f"{path.relative_to(HARNESS)}:{line}: harness.{name}"
        for room, other in (("worker", "executors"), ("executors", "worker"))
        for path in sorted((HARNESS / room).rglob("*.py"))
        for line, name in _harness_imports(path)
        if name == other
    ]
    assert not crossing, crossing


def test_modules_stay_small():
    long = {
        str(p.relative_to(HARNESS)): n
        for p in HARNESS.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"split these modules (over 400 lines): {long}"
