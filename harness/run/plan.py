"""From settings to cells: which plugins, backends and devices a run covers, and why some skip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from harness import registry
from harness.backends.parent import BACKENDS, resolve_devices
from harness.errors import UsageError
from harness.native import VARIANTS
from harness.plugin import ModelPlugin
from harness.records.schema import Cell
from harness.run.settings import RunSettings
from harness.run.shard import Shard, expected_costs


@dataclass(frozen=True)
class RunPlan:
    """A validated run: the cells, the settings they share, the declared skips and
    requirements."""

    settings: RunSettings
    cells: list[Cell]
    skips: dict[str, str] = field(default_factory=dict)  # cell key -> the plugin's reason
    plugin_sources: dict[str, str | None] = field(default_factory=dict)
    requires: dict[str, dict[str, str]] = field(default_factory=dict)  # plugin -> its requires


def plan_run(settings: RunSettings, gpu_present: bool | None = None) -> RunPlan:
    """Validate every choice before any worker starts (a usage error costs nothing).
    ``gpu_present``: whether the machines that run the cells have a GPU (default: this one)."""
    found = registry.discover(settings.plugin_paths)
    plugins = registry.select(found, settings.plugins)
    devices = resolve_devices(settings.device, gpu_present)
    cells = expand(plugins, select_backends(settings.backends), devices, settings.sweep)
    if settings.native:
        cells = with_native(plugins, cells)
    if settings.shard is not None:
        by_name = {p.name: p for p in plugins}
        cells = Shard.parse(settings.shard).select(cells, expected_costs(cells, by_name))
    sources = {p.name: registry.source_hash(p) for p in plugins}
    requires = {p.name: dict(p.requires) for p in plugins if p.requires}
    return RunPlan(settings, cells, skip_reasons(plugins, cells), sources, requires)


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
    plugins: Sequence[ModelPlugin],
    backends: Sequence[str],
    devices: Sequence[str],
    sweep: Sequence[int] = (),
) -> list[Cell]:
    """Every (plugin, backend, device) combination, plugin-major; in a batch-size sweep,
    every one at each size (plugin, then size)."""
    sizes: Sequence[int | None] = sweep or (None,)
    return [
        Cell(p.name, b, d, size)
        for p in plugins
        for size in sizes
        for d in devices
        for b in backends
    ]


def with_native(plugins: Sequence[ModelPlugin], cells: Sequence[Cell]) -> list[Cell]:
    """The cells, each Keras cell of a plugin with native references followed by a cell per
    native variant of its backend (``harness.native.VARIANTS``, or the plugin's own)."""
    by_name = {p.name: p for p in plugins}
    out: list[Cell] = []
    for cell in cells:
        out.append(cell)
        out += [
            replace(cell, native=v) for v in native_variants(by_name[cell.plugin], cell.backend)
        ]
    return out


def native_variants(plugin: ModelPlugin, backend: str) -> tuple[str, ...]:
    """The native variants a ``--native`` run times for the plugin under ``backend``."""
    if isinstance(plugin.native, Mapping):
        return tuple(plugin.native.get(backend, {}))
    return VARIANTS.get(backend, ()) if plugin.native else ()


def skip_reasons(plugins: Sequence[ModelPlugin], cells: Sequence[Cell]) -> dict[str, str]:
    """The cells a plugin declares it does not support, with its reasons."""
    by_name = {p.name: p for p in plugins}
    reasons = {}
    for cell in cells:
        reason = by_name[cell.plugin].skip_reason(cell.backend, cell.device)
        if reason:
            reasons[cell.key] = reason
    return reasons
