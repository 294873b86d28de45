"""The boundary between the harness and its validation: one way, through the public API.

The harness never imports ``validation``; ``validation`` imports only the harness's public
API: the top-level modules (``harness.errors`` among them) and the names in a subpackage's
``__all__`` (``from harness.stats import holm``).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"plugin", "declarations", "registry", "datasets", "synthetic", "plugin_data", "errors"}


def imports(folder: Path) -> Iterator[tuple[Path, int, str, list[str]]]:
    """Every import in the Python files under ``folder``, those inside functions too:
    (file, line, module imported or imported from, names imported from it)."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name, []
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.lineno, node.module, [alias.name for alias in node.names]


def public_names(subpackage: str) -> set[str]:
    """What ``harness.<subpackage>`` offers: its ``__all__``."""
    module = importlib.import_module(f"harness.{subpackage}")
    return set(getattr(module, "__all__", ()))


def private_names(module: str, names: list[str]) -> list[str]:
    """The parts of one import of ``module`` that reach past the public API (empty if none)."""
    parts = module.split(".")
    if parts[0] != "harness":
        return []
    if len(parts) == 1:  # import harness / from harness import X
        return [n for n in names or ["harness"] if n not in TOP_LEVEL]
    if len(parts) == 2 and parts[1] in TOP_LEVEL:
        return []
    if len(parts) == 2 and not names:  # import harness.run: names are reached as attributes
        return []
    if len(parts) == 2 and (ROOT / "harness" / parts[1] / "__init__.py").exists():
        return sorted(set(names) - public_names(parts[1]))
    return [module]  # a module inside a subpackage: import from the subpackage instead


def shown(module: str, names: list[str]) -> str:
    """An import as written: ``from module import a, b`` or ``import module``."""
    return f"from {module} import {', '.join(names)}" if names else f"import {module}"


def test_the_harness_never_imports_validation():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {shown(module, names)}"
        for path, line, module, names in imports(ROOT / "harness")
        if module == "validation" or module.startswith("validation.")
    ]
    assert not found, "harness/ must not import validation/:\n" + "\n".join(found)


def test_validation_imports_only_the_harness_public_api():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {shown(module, names)} (not public: "
        f"{', '.join(private)})"
        for path, line, module, names in imports(ROOT / "validation")
        if (private := private_names(module, names))
    ]
    assert not found, (
        "validation/ may import only the harness's public API (the top-level modules "
        f"{sorted(TOP_LEVEL)} and a subpackage's __all__):\n" + "\n".join(found)
    )
