"""Find plugins: the built-ins, installed entry points and the user's ``--plugin-path``."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from harness.errors import PluginError
from harness.plugin import ModelPlugin

ENTRY_POINT_GROUP = "keras_backend_bench.plugins"
BUILTIN_PACKAGE = "plugins"


@dataclass(frozen=True)
class Registered:
    """A plugin and where it came from (for listings and error messages)."""

    plugin: ModelPlugin
    origin: str


def discover(plugin_paths: Sequence[str | Path] = ()) -> dict[str, Registered]:
    """All plugins by name: built-ins, then entry points, then ``plugin_paths``."""
    found: dict[str, Registered] = {}
    sources = [_builtins(), _entry_points(), *(_from_path(Path(p)) for p in plugin_paths)]
    for source in sources:
        for registered in source:
            _add(found, registered)
    return found


def select(registry: dict[str, Registered], names: Sequence[str]) -> list[ModelPlugin]:
    """The named plugins in the order given; ``["all"]`` for every plugin, none for the
    default run (plugins with ``in_default_run``). A family's name (that no plugin has)
    stands for its plugins, in listing order."""
    if list(names) == ["all"]:
        return [r.plugin for r in registry.values()]
    if not names:
        return [r.plugin for r in registry.values() if r.plugin.in_default_run]
    families: dict[str, list[str]] = {}
    for name, registered in registry.items():
        families.setdefault(registered.plugin.family, []).append(name)
    expanded = [m for n in names for m in ([n] if n in registry else families.get(n, [n]))]
    unknown = [n for n in expanded if n not in registry]
    if unknown:
        raise PluginError(
            f"Unknown plugin. Expected one of: {', '.join(registry)} (or a family: "
            f"{', '.join(families)}). Received: {unknown[0]!r}"
        )
    return [registry[n].plugin for n in dict.fromkeys(expanded)]


def _add(found: dict[str, Registered], registered: Registered) -> None:
    name = registered.plugin.name
    if name in found:
        raise PluginError(
            f"Duplicate plugin name {name!r}: defined by {found[name].origin} "
            f"and by {registered.origin}"
        )
    found[name] = registered


def _builtins() -> Iterable[Registered]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    names = [i.name for i in pkgutil.iter_modules(package.__path__) if not i.name.startswith("_")]
    order = list(getattr(package, "ORDER", ()))
    names.sort(key=lambda n: (order.index(n) if n in order else len(order), n))
    for name in names:
        module_name = f"{BUILTIN_PACKAGE}.{name}"
        yield from _plugins_of(_import(module_name), module_name)


def _entry_points() -> Iterable[Registered]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name!r} ({ep.value})"
        try:
            obj = ep.load()
        except Exception as error:
            raise PluginError(f"Plugin {origin} failed to import: {error!r}") from error
        for registered in _plugins_of(obj, origin):
            if registered.plugin.name != ep.name and isinstance(obj, ModelPlugin):
                raise PluginError(
                    f"Plugin {origin} is named {registered.plugin.name!r}; "
                    "the entry-point name must equal the plugin name"
                )
            yield registered


def _from_path(path: Path) -> Iterable[Registered]:
    if not path.exists():
        raise PluginError(f"Plugin path does not exist. Received: plugin_path='{path}'")
    files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
    if path.is_file():
        files = [path]
    if not files:
        raise PluginError(f"Plugin path holds no .py files. Received: plugin_path='{path}'")
    for file in files:
        yield from _plugins_of(_import_file(file), str(file))


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        raise PluginError(f"Plugin module {module_name} failed to import: {error!r}") from error


def _import_file(file: Path) -> ModuleType:
    module_name = f"kbench_user_plugins.{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise PluginError(f"Plugin file cannot be imported. Received: plugin_path='{file}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise PluginError(f"Plugin file {file} failed to import: {error!r}") from error
    return module


def _plugins_of(obj: object, origin: str) -> list[Registered]:
    """Plugins exposed by a module (``PLUGINS`` or module-level objects) or a plugin object."""
    if isinstance(obj, ModelPlugin):
        return [Registered(obj, origin)]
    if not isinstance(obj, ModuleType):
        raise PluginError(f"{origin} is not a ModelPlugin or a module. Received: {obj!r}")
    candidates = getattr(obj, "PLUGINS", None)
    if candidates is None:
        candidates = [v for v in vars(obj).values() if isinstance(v, ModelPlugin)]
    bad = [c for c in candidates if not isinstance(c, ModelPlugin)]
    if bad:
        raise PluginError(f"{origin}: PLUGINS must hold ModelPlugin objects. Received: {bad[0]!r}")
    if not candidates and not origin.startswith(BUILTIN_PACKAGE):
        raise PluginError(f"{origin} defines no ModelPlugin")
    return [Registered(p, origin) for p in candidates]


def source_hash(plugin: ModelPlugin) -> str | None:
    """A short SHA-256 of the file that defines the plugin's ``build`` (None if unknown)."""
    import hashlib
    import inspect

    try:
        path = inspect.getsourcefile(plugin.build)
    except TypeError:
        return None
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
