"""Expand a user's selection into cells, and the settings every cell of a run shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.backends.parent import BACKENDS
from harness.errors import UsageError
from harness.plugin import ModelPlugin
from harness.records.schema import MALLOC_UNRECORDED, Cell
from harness.run.timing import WindowPlan

JIT_CHOICES = ("auto", "on", "off")
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "float16")
MALLOC_CHOICES = ("fixed", "system")  # glibc thresholds fixed by the harness, or glibc's own


@dataclass(frozen=True)
class RunSettings:
    """Fairness and size settings shared by every cell of a run (recorded with results)."""

    profile: str = "quick"
    epochs: int | None = None
    batch_size: int | None = None
    jit_compile: str = "auto"
    dtype_policy: str = "float32"
    threads: int | None = None
    malloc: str = "fixed"
    seed: int = 0
    timeout_s: float = 900.0
    predict_repeats: int = 5
    timing: WindowPlan = field(default_factory=WindowPlan)

    def __post_init__(self) -> None:
        if self.jit_compile not in JIT_CHOICES:
            raise UsageError(
                f"Unknown jit_compile. Expected one of: {', '.join(JIT_CHOICES)}. "
                f"Received: jit_compile={self.jit_compile!r}"
            )
        if self.dtype_policy not in DTYPE_POLICIES:
            raise UsageError(
                f"Unknown dtype policy. Expected one of: {', '.join(DTYPE_POLICIES)}. "
                f"Received: dtype={self.dtype_policy!r}"
            )
        if self.malloc not in MALLOC_CHOICES:
            raise UsageError(
                f"Unknown malloc setting. Expected one of: {', '.join(MALLOC_CHOICES)}. "
                f"Received: malloc={self.malloc!r}"
            )
        for name in ("epochs", "batch_size", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"{name} must be >= 1. Received: {name}={value}")

    def keras_jit_compile(self) -> str | bool:
        """The value handed to ``model.compile(jit_compile=...)``."""
        return {"auto": "auto", "on": True, "off": False}[self.jit_compile]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        values = dict(data)
        values["timing"] = WindowPlan(**values.get("timing", {}))
        values.setdefault("malloc", MALLOC_UNRECORDED)
        return cls(**values)


def parse_selection(values: Sequence[str] | None) -> list[str]:
    """Flatten repeatable, comma-separated options (``-b jax,torch -b tensorflow``)."""
    names = [part.strip() for value in values or () for part in value.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def select_backends(names: Sequence[str]) -> list[str]:
    """The requested backends (all when none), validated."""
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise UsageError(
            f"Unknown backend. Expected one of: {', '.join(BACKENDS)}. "
            f"Received: backend={unknown[0]!r}"
        )
    return list(names) or list(BACKENDS)


def expand(
    plugins: Sequence[ModelPlugin], backends: Sequence[str], devices: Sequence[str]
) -> list[Cell]:
    """Every (plugin, backend, device) combination, plugin-major."""
    return [Cell(p.name, b, d) for p in plugins for d in devices for b in backends]


def skip_reasons(plugins: Sequence[ModelPlugin], cells: Sequence[Cell]) -> dict[str, str]:
    """The cells a plugin declares it does not support, with its reasons."""
    by_name = {p.name: p for p in plugins}
    reasons = {}
    for cell in cells:
        reason = by_name[cell.plugin].skip_reason(cell.backend, cell.device)
        if reason:
            reasons[cell.key] = reason
    return reasons
