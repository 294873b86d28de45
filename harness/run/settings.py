"""The one settings object of a run, from the command line to the worker.

``kbench run`` and ``kbench ab`` build a :class:`RunSettings` from their options; the plan,
the runner and every worker get the same object (the worker through its spec file), and
the results file records its fairness and size fields under ``config``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from harness.errors import UsageError
from harness.records.schema import MALLOC_UNRECORDED, MEASURED_SETTINGS, Cell
from harness.run.profiles import get_profile
from harness.run.timing import WindowPlan

JIT_CHOICES = ("auto", "on", "off")
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "float16")
MALLOC_CHOICES = ("fixed", "system")  # glibc thresholds fixed by the harness, or glibc's own
# The fields a results file records under ``config`` (the rest is the selection, recorded
# there in its resolved form: plugins, backends, devices, dataset, repeats).
RECORDED = (*MEASURED_SETTINGS, "timeout_s", "max_memory_gb", "shard", "native")


@dataclass(frozen=True)
class RunSettings:
    """What to run and how. Profile-derived fields left as None take the profile's values.

    Selection: ``plugins`` (none: the default run; ``("all",)``: every plugin), ``backends``
    (none: all), ``device`` (cpu, gpu or auto), ``dataset``, ``data_dir``, ``plugin_paths``,
    ``repeats`` (worker processes per cell). Fairness and size: the rest; ``batch_size``
    one size for every cell (None: each plugin's own), or several, a batch-size sweep: a
    cell per plugin x size x device x backend (:meth:`for_cell` gives a cell its own).
    """

    plugins: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    device: str = "auto"
    dataset: str = "auto"
    data_dir: str | None = None
    plugin_paths: tuple[str, ...] = ()
    repeats: int = 1
    profile: str = "quick"
    epochs: int | None = None
    batch_size: int | tuple[int, ...] | None = None
    jit_compile: str = "auto"
    dtype_policy: str = "float32"
    threads: int | None = None
    malloc: str = "fixed"
    seed: int = 0
    timeout_s: float | None = None
    predict_repeats: int | None = None
    timing: WindowPlan | None = None
    max_memory_gb: float | None = None  # a worker whose resident memory grows past it is killed
    shard: str | None = None  # "K/N": only the K-th of N balanced slices of the cells
    native: bool = False  # also time each plugin's native references (kbench run --native)

    def __post_init__(self) -> None:
        _check_choice("jit_compile", self.jit_compile, JIT_CHOICES)
        _check_choice("dtype", self.dtype_policy, DTYPE_POLICIES)
        _check_choice("malloc", self.malloc, MALLOC_CHOICES)
        if self.shard is not None:
            from harness.run.shard import Shard

            Shard.parse(self.shard)  # a malformed K/N is a usage error before anything runs
        if self.max_memory_gb is not None and not self.max_memory_gb > 0:
            raise UsageError(f"max_memory_gb must be > 0. Received: {self.max_memory_gb}")
        if isinstance(self.batch_size, list | tuple):
            sizes = tuple(dict.fromkeys(self.batch_size))
            object.__setattr__(self, "batch_size", sizes[0] if len(sizes) == 1 else sizes)
        for name in ("epochs", "threads", "repeats", *("batch_size",) * (not self.sweep)):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"{name} must be >= 1. Received: {name}={value}")
        if any(size < 1 for size in self.sweep):
            raise UsageError(f"batch_size must be >= 1. Received: batch_size={self.batch_size}")
        for name in ("plugins", "backends", "plugin_paths"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self._fill_from_profile()

    def _fill_from_profile(self) -> None:
        profile = get_profile(self.profile)
        defaults = {
            "epochs": profile.epochs,
            "timeout_s": profile.timeout_s,
            "predict_repeats": profile.predict_repeats,
            "timing": profile.timing,
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunSettings:
        """The settings of ``kbench run`` / ``kbench ab`` options."""
        return cls(
            plugins=parse_selection(args.plugin),
            backends=parse_selection(args.backend),
            device=args.device,
            dataset=args.dataset,
            data_dir=args.data_dir,
            plugin_paths=tuple(args.plugin_path),
            repeats=args.repeats,
            profile=args.profile,
            epochs=args.epochs,
            batch_size=args.batch_size,
            jit_compile=args.jit_compile,
            dtype_policy=args.dtype,
            threads=args.threads,
            malloc=args.malloc,
            seed=args.seed,
            timeout_s=args.timeout,
            max_memory_gb=args.max_memory_gb,
            shard=getattr(args, "shard", None),
            native=getattr(args, "native", False),
        )

    @property
    def sweep(self) -> tuple[int, ...]:
        """The batch sizes of a batch-size sweep (empty: one size for every cell)."""
        return self.batch_size if isinstance(self.batch_size, tuple) else ()

    def for_cell(self, cell: Cell) -> RunSettings:
        """The settings one cell runs with: a sweep's cell at its own batch size."""
        return self if cell.batch_size is None else replace(self, batch_size=cell.batch_size)

    def keras_jit_compile(self) -> str | bool:
        """The value handed to ``model.compile(jit_compile=...)``."""
        return {"auto": "auto", "on": True, "off": False}[self.jit_compile]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def recorded(self) -> dict[str, Any]:
        """The fields a results file keeps under ``config``."""
        data = self.to_dict()
        return {name: data[name] for name in RECORDED}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        """From :meth:`to_dict` or a results file's ``config`` (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and not isinstance(v, dict)}
        if isinstance(data.get("timing"), dict):
            values["timing"] = WindowPlan(**data["timing"])
        values.setdefault("malloc", MALLOC_UNRECORDED)
        return cls(**values)

    def command_for(self, plugin: str, backend: str, device: str, dataset: str) -> str:
        """The ``kbench run`` command line that reruns one cell with these settings."""
        words = ["kbench", "run", "-p", plugin, "-b", backend, "--device", device]
        words += ["--dataset", dataset, *self._options()]
        return shlex.join(words)

    def _options(self) -> list[str]:
        """The options that differ from a fresh ``kbench run``'s defaults."""
        default = RunSettings(profile=self.profile)
        words = [] if self.profile == "quick" else ["--profile", self.profile]
        for name, option in _OPTIONS.items():
            value = getattr(self, name)
            if value != getattr(default, name) and value is not None:
                words += [option, _option_text(value)]
        for path in self.plugin_paths:
            words += ["--plugin-path", path]
        return [*words, "--native"] if self.native else words

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RunSettings:
        """The settings a results file recorded (its resolved plugins, backends, devices and
        dataset), for resuming it."""
        devices = config.get("devices") or ["cpu"]
        dataset = config.get("dataset") or {}
        selection = {
            "plugins": tuple(config.get("plugins") or ()),
            "backends": tuple(config.get("backends") or ()),
            "device": devices[0] if len(devices) == 1 else "auto",
            "dataset": dataset.get("used") or dataset.get("requested") or "auto",
            "plugin_paths": tuple(config.get("plugin_paths") or ()),
            "repeats": config.get("repeats", 1),
        }
        recorded = {k: v for k, v in config.items() if k in RECORDED}
        return cls.from_dict({**recorded, **selection})


# Settings written as a plain ``--option value`` when they differ from the default.
_OPTIONS = {
    "repeats": "--repeats",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "jit_compile": "--jit-compile",
    "dtype_policy": "--dtype",
    "threads": "--threads",
    "malloc": "--malloc",
    "seed": "--seed",
    "timeout_s": "--timeout",
    "max_memory_gb": "--max-memory-gb",
}


def _option_text(value: Any) -> str:
    """A setting as typed after its option: a sweep's sizes comma-separated."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def parse_selection(values: Any) -> tuple[str, ...]:
    """Flatten repeatable, comma-separated options (``-b jax,torch -b tensorflow``)."""
    names = [part.strip() for value in values or () for part in value.split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(
            f"Unknown {name}. Expected one of: {', '.join(choices)}. Received: {name}={value!r}"
        )
