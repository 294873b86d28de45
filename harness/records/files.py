"""JSON files: atomic writes (a reader never sees half a results file) and checked reads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


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


def read_json(path: Path | str, what: str) -> Any:
    """The JSON in ``path``; a missing or unreadable file is a one-line ``HarnessError``
    that names ``what`` (e.g. "Results file")."""
    from harness.errors import HarnessError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HarnessError(f"{what} not found. Received: path='{path}'") from None
    except (OSError, ValueError) as error:
        raise HarnessError(f"{what} is not readable JSON: {path} ({error})") from None


def _default(value: Any) -> Any:
    """Encode numpy scalars and other number-likes."""
    for cast in (int, float):
        try:
            if cast(value) == value:
                return cast(value)
        except (TypeError, ValueError):
            continue
    return str(value)
