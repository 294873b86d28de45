"""Lazy re-exports for the subpackages' ``__init__``: a name is imported on first use.

A subpackage's public names are listed in its ``__all__``; its modules load only when one of
their names is asked for, so importing ``harness.run`` in the parent pulls in no framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package``, from ``{module: names}``."""
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owner.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return sorted(owner), __getattr__
