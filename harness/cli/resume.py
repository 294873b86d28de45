"""``kbench run --resume RESULTS.json``: the recorded settings, checked against the command
line and the machine, and the recorded cells."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from harness.cli.options import add_run_options
from harness.errors import UsageError
from harness.records import environment
from harness.records.schema import RunResult
from harness.run.plan import RunPlan, plan_run
from harness.run.settings import RunSettings, parse_selection

# option dest -> the settings field it sets (options absent here are not recorded)
_FIELDS = {
    "plugin": "plugins",
    "backend": "backends",
    "device": "device",
    "dataset": "dataset",
    "plugin_path": "plugin_paths",
    "repeats": "repeats",
    "profile": "profile",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "jit_compile": "jit_compile",
    "dtype": "dtype_policy",
    "threads": "threads",
    "malloc": "malloc",
    "seed": "seed",
    "timeout": "timeout_s",
    "max_memory_gb": "max_memory_gb",
    "shard": "shard",
}
_SAME_MACHINE = ("cpu", "cores", "packages")
SAME_HOST = ("cpu", "cores")  # a gate's sides have packages of their own


def resumed_plan(
    args: argparse.Namespace, previous: RunResult, same: tuple[str, ...] = _SAME_MACHINE
) -> RunPlan:
    """The plan that finishes ``previous``: its settings and cells, on the same machine
    (``same``: the environment fields that must match)."""
    settings = RunSettings.from_config(previous.config)
    _check_command_line(args, settings)
    _check_machine(previous, args.resume, same)
    return replace(plan_run(settings), cells=[c.cell for c in previous.cells])


def _check_command_line(args: argparse.Namespace, recorded: RunSettings) -> None:
    """Refuse, naming the field, an option given that disagrees with the recorded run."""
    given_dests = _given(getattr(args, "argv", []))
    for dest, name in _FIELDS.items():
        given = getattr(args, dest, None)
        if dest not in given_dests:
            continue
        value = parse_selection(given) if dest in ("plugin", "backend") else given
        value = tuple(value) if dest == "plugin_path" else value
        if value != getattr(recorded, name):
            raise UsageError(
                f"--{dest.replace('_', '-')} disagrees with the run being resumed: "
                f"{name} is {_shown(getattr(recorded, name))} in {args.resume}, "
                f"the command line says {_shown(value)}"
            )


def _check_machine(previous: RunResult, path: Any, same: tuple[str, ...]) -> None:
    """A run is resumed where it ran: same CPU, core count (and package versions)."""
    now = environment.collect()
    for key in same:
        if previous.environment.get(key) != now.get(key):
            raise UsageError(
                f"{path} was recorded with another {key} ({previous.environment.get(key)!r}, "
                f"here {now.get(key)!r}); resume it where it ran"
            )


def _given(argv: list[str]) -> set[str]:
    """The run options typed on the command line."""
    parser = argparse.ArgumentParser(add_help=False)
    add_run_options(parser)
    return {
        action.dest
        for action in parser._actions
        if any(typed(argv, option) for option in action.option_strings)
    }


def typed(argv: list[str], option: str) -> bool:
    """Whether ``option`` was typed: ``--opt v``, ``--opt=v``, ``-p v`` or ``-pv``."""
    prefix = option + "=" if option.startswith("--") else option
    return any(word == option or word.startswith(prefix) for word in argv)


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)
