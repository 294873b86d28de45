"""The one place results files are read and written: atomic writes, checked reads.

Every command reads a results, comparison or parity file through here, so a missing,
damaged or foreign file is one ``HarnessError`` line that names the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records.check import check_file
from harness.records.schema import COMPARISON_KIND, READABLE_SCHEMAS, RunResult
from harness.records.shapes import ComparisonShape, ParityShape, RunShape


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, allow_nan=False, default=_default)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def exclusive(path: Path) -> Iterator[Path]:
    """Hold ``path`` for this process while a run fills it: its folder is created (a path
    that cannot be written is one line, before any work), and a lock beside it refuses a
    second ``kbench`` writing the same file."""
    path = Path(path)
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as error:
        raise HarnessError(f"Cannot write {path}: {error.strerror or error}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise HarnessError(
            f"Another kbench is writing {path}; wait for it to finish or choose another --out"
        ) from None
    try:
        yield path
    finally:
        lock_path.unlink(missing_ok=True)
        handle.close()


def write_json_or_fallback(path: Path, data: Any) -> tuple[Path, str | None]:
    """Write ``data`` to ``path``, or, when that fails (a full disk, a removed folder), to a
    fallback file it names: (where it went, why ``path`` failed or None). The file at
    ``path`` is never left half written: the write is atomic."""
    try:
        return write_json_atomic(path, data), None
    except OSError as error:
        why = error.strerror or str(error)
    for folder in (Path(tempfile.gettempdir()), Path.home(), Path.cwd()):
        fallback = folder / f"kbench-rescued-{os.getpid()}-{Path(path).name}"
        try:
            return write_json_atomic(fallback, data), why
        except OSError:
            continue
    raise HarnessError(f"Could not write {path} ({why}) nor a fallback copy; nothing was saved")


def read_json(path: Path | str, what: str) -> Any:
    """The JSON in ``path``; a missing or unreadable file is a one-line ``HarnessError``
    that names ``what`` (e.g. "Results file")."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HarnessError(f"{what} not found. Received: path='{path}'") from None
    except (OSError, ValueError) as error:
        raise HarnessError(f"{what} is not readable JSON: {path} ({error})") from None


def read_object(path: Path | str, what: str) -> dict[str, Any]:
    """A JSON object from ``path`` (a list or a number is a one-line error)."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise HarnessError(f"Expected a JSON object in the {what.lower()}. Received: path='{path}'")
    return data


def read_run_data(path: Path | str) -> dict[str, Any]:
    """A ``kbench run`` results file as a dict, checked for its schema version and cells.

    Lenient below that (the DataFrame view reads fields a file lacks as NaN); commands that
    need every field use :func:`read_run`.
    """
    data = read_object(path, "Results file")
    version = data.get("schema_version")
    if isinstance(version, int) and version > max(READABLE_SCHEMAS):
        raise HarnessError(
            f"Results file {path} has schema version {version}, from a newer kbench; this one "
            f"reads versions {min(READABLE_SCHEMAS)} to {max(READABLE_SCHEMAS)} (upgrade it)"
        )
    if version not in READABLE_SCHEMAS or not isinstance(data.get("cells"), list):
        raise HarnessError(
            "Expected a kbench results file (schema version 1 or 2, with cells). "
            f"Received: path='{path}', schema_version={version!r}"
        )
    check_file(data, RunShape, path, "Results file")
    return data


def read_run(path: Path | str) -> RunResult:
    """A ``kbench run`` results file (schema version 1 or 2) as a record."""
    data = read_run_data(path)
    try:
        return RunResult.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HarnessError(f"Results file {path} is malformed: {error!r}") from None


def read_comparison(path: Path | str) -> dict[str, Any]:
    """A ``kbench compare --json`` / ``kbench ab --out`` file as a dict."""
    data = read_object(path, "Comparison file")
    if data.get("kind") != COMPARISON_KIND or not isinstance(data.get("cells"), list):
        raise HarnessError(
            f"Expected a comparison file (kind '{COMPARISON_KIND}'). "
            f"Received: path='{path}', kind={data.get('kind')!r}"
        )
    check_file(data, ComparisonShape, path, "Comparison file")
    return data


def read_parity(path: Path | str) -> dict[str, Any]:
    """A ``kbench parity --json`` report as a dict."""
    data = read_object(path, "Parity report")
    if not isinstance(data.get("results"), list) or "backends" not in data:
        raise HarnessError(
            f"Expected a kbench parity report (with backends and results). Received: path='{path}'"
        )
    check_file(data, ParityShape, path, "Parity report")
    return data


def _default(value: Any) -> Any:
    """Encode numpy scalars and other number-likes."""
    for cast in (int, float):
        try:
            if cast(value) == value:
                return cast(value)
        except (TypeError, ValueError):
            continue
    return str(value)
