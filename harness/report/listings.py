"""The listings' tables: the plugin catalogue (``kbench list``), the saved baselines, and
where and with what a run was made (its environment and settings)."""

from __future__ import annotations

from typing import Any

from harness.records.schema import MALLOC_UNRECORDED
from harness.report.tables import Cell, Column, Table, columns_of


def environment_table(run: dict[str, Any], source: str) -> Table:
    """Where and with what the run was made: machine, versions, dataset and settings."""
    env, config = run.get("environment") or {}, run.get("config") or {}
    rows = [
        ("results file", source),
        ("created", str(run.get("created", ""))),
        ("schema version", str(run.get("schema_version", ""))),
        ("cpu", f"{env.get('cpu', '?')} ({env.get('cores', '?')} cores)"),
        ("gpus", ", ".join(map(str, env.get("gpus") or [])) or "none"),
        ("os", str(env.get("os", ""))),
        ("python", str(env.get("python", ""))),
        *((k, str(v)) for k, v in (env.get("packages") or {}).items() if v is not None),
        ("git commit", str(env.get("git_commit") or "")),
        *_settings(config),
    ]
    columns = (Column("setting", strong=True), Column("value", wrap=True))
    return Table("", columns, tuple((Cell(k), Cell(v)) for k, v in rows))


def _settings(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's settings as (name, value) rows."""
    return [
        ("dataset", _dataset_text(config.get("dataset") or {})),
        *(
            (k, str(config[k]))
            for k in ("profile", "epochs", "jit_compile", "dtype_policy")
            if k in config
        ),
        ("batch_size", _batch_text(config.get("batch_size"))),
        ("threads", str(config.get("threads") or "framework default")),
        ("malloc", str(config.get("malloc", MALLOC_UNRECORDED))),
        ("seed", str(config.get("seed", ""))),
    ]


def _batch_text(batch_size: Any) -> str:
    """One batch size, a sweep's sizes, or the plugins' own."""
    if isinstance(batch_size, list):
        return f"{', '.join(map(str, batch_size))} (a batch-size sweep)"
    return str(batch_size or "plugin default")


def _dataset_text(dataset: dict[str, Any]) -> str:
    if not dataset:
        return ""
    sizes = f"{dataset.get('n_train', '?')} train / {dataset.get('n_test', '?')} test"
    return f"{dataset.get('used', '?')} (requested {dataset.get('requested', '?')}; {sizes})"


def catalogue_table(
    plugins: list[dict[str, Any]], params_backend: str | None, descriptions: bool = True
) -> Table:
    """The plugin catalogue (``kbench list --json``'s plugins) grouped by family, with
    parameter counts."""
    title = "Plugins" + (f" (parameters as built on {params_backend})" if params_backend else "")
    columns = (
        Column("family"),
        Column("name", strong=True),
        Column("eats -> task", wrap=True),
        *columns_of(("params", "trainable", "non-train"), numeric=True),
        *((Column("description", wrap=True),) if descriptions else ()),
    )
    rows: list[tuple[Cell, ...]] = []
    breaks = set()
    for family in dict.fromkeys(p["family"] for p in plugins):
        members = [p for p in plugins if p["family"] == family]
        rows += [_catalogue_row(p, i == 0, descriptions) for i, p in enumerate(members)]
        breaks.add(len(rows) - 1)
    return Table(title, columns, tuple(rows), breaks=frozenset(breaks))


def _catalogue_row(plugin: dict[str, Any], first: bool, description: bool) -> tuple[Cell, ...]:
    counts = plugin.get("params") or {}
    numbers = (counts.get(k) for k in ("total", "trainable", "non_trainable"))
    return (
        Cell(plugin["family"] if first else ""),
        Cell(plugin["name"]),
        Cell(_eats(plugin)),
        *(Cell(f"{n:,}" if n is not None else "?") for n in numbers),
        *((Cell(plugin["description"]),) if description else ()),
    )


def _eats(plugin: dict[str, Any]) -> str:
    """What the model eats and does: a registered dataset's kind, or its declaration; an
    optional plugin that cannot run here says what it needs."""
    eats = plugin.get("input") or ""
    if eats in ("flat", "image"):
        eats = f"{eats} dataset -> classification of 10"
    missing = plugin.get("unavailable")
    return f"{eats} [{missing.split(':')[0]}]" if missing else eats


def baselines_table(baselines: list[Any]) -> Table:
    """The saved baselines (``harness.records.baselines.BaselineInfo``), as listed."""
    columns = (
        Column("name", strong=True),
        Column("saved"),
        *columns_of(("cells", "repeats"), numeric=True),
        *columns_of(("profile", "dataset", "keras")),
        Column("machine", wrap=True),
    )
    fields = ("name", "saved", "cells", "repeats", "profile", "dataset", "keras", "machine")
    rows = tuple(tuple(Cell(str(getattr(b, f))) for f in fields) for b in baselines)
    return Table("Saved baselines", columns, rows)
