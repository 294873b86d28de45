"""``kbench list`` (plugins, backends, devices) and ``kbench new-plugin`` (a skeleton)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.markup import escape

from harness import datasets, registry
from harness.backends import parent as backends
from harness.cli.console import console
from harness.cli.options import add_plugin_path
from harness.cli.scaffold import write_skeleton
from harness.plugin import ModelPlugin, input_arrays
from harness.report.console import catalogue_table
from harness.worker.describe import describe_in_worker


def add_list_parser(sub: argparse._SubParsersAction) -> None:
    listing = sub.add_parser("list", help="plugins, backends with versions, devices")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add_plugin_path(listing)
    listing.add_argument(
        "--no-params", action="store_true", help="skip building the models to count parameters"
    )
    listing.set_defaults(handler=cmd_list)


def add_new_plugin_parser(sub: argparse._SubParsersAction) -> None:
    new = sub.add_parser("new-plugin", help="write a one-file plugin skeleton NAME.py")
    new.add_argument("name")
    new.add_argument("--dir", type=Path, default=Path("."), help="where to write it")
    new.set_defaults(handler=cmd_new)


def cmd_list(args: argparse.Namespace) -> int:
    info = catalogue(args.plugin_path, count_params=not args.no_params)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    wide = console.width >= 110  # descriptions need room; --json always has them
    console.print(catalogue_table(info["plugins"], info["params_backend"], descriptions=wide))
    for backend, version in info["backends"].items():
        console.print(f"backend {backend}: {version or '[yellow]not installed[/]'}")
    console.print(f"devices: {', '.join(info['devices'])}")
    return 0


def catalogue(plugin_paths: list[str], count_params: bool = True) -> dict[str, Any]:
    """Every plugin (with parameter counts built in a worker), backends, devices, datasets."""
    found = registry.discover(plugin_paths)
    described = describe_in_worker(plugin_paths) if count_params else {}
    counts = described.get("plugins", {})
    return {
        "plugins": [
            {
                "name": r.plugin.name,
                "family": r.plugin.family,
                "input": r.plugin.input_kind or eats(r.plugin),
                "description": r.plugin.description,
                "origin": r.origin,
                "params": counts.get(r.plugin.name, {}).get("params"),
                "skip": dict(r.plugin.skip),
                "unavailable": r.plugin.unmet_requirement(),
            }
            for r in found.values()
        ],
        "params_backend": described.get("backend"),
        "backends": {b: backends.backend_version(b) for b in backends.BACKENDS},
        "devices": ["cpu", *[f"gpu: {name}" for name in backends.gpu_names()]],
        "datasets": list(datasets.DATASET_NAMES),
    }


def eats(plugin: ModelPlugin) -> str:
    """A plugin's declared inputs and task in a few words: ``token ids (64,) of 2000 ->
    classification of 2``."""
    arrays = input_arrays(plugin.inputs)
    words = [
        f"token ids {a.shape} of {a.vocab_size}" if a.is_tokens else f"{a.dtype} {a.shape}"
        for a in arrays.values()
    ]
    if len(arrays) > 1:
        words = [f"{name}: {word}" for name, word in zip(arrays, words, strict=True)]
    task = plugin.task
    what = task.kind.replace("_", " ") if task else ""
    if task and task.kind == "classification":
        what += f" of {task.classes}"
    return f"{', '.join(words)} -> {what}"


def cmd_new(args: argparse.Namespace) -> int:
    path = write_skeleton(args.name, args.dir)
    console.print(f"wrote {escape(str(path))}; try: kbench run --plugin-path {escape(str(path))}")
    return 0
