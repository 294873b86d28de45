"""Every file a command reads, damaged every way we could think of: one line that names the
file, exit code 2, never a traceback.

The damaged files derive from real ones (``tests/data/before_layout``): truncated at many
points, random bytes, other JSON, a schema version from the future, another tool's file, and
every field of the real file (the first element of each list) changed to a value of another
type. A type change that the harness can still use (e.g. a label it prints) may also pass.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.records import read_comparison, read_parity, read_run_data
from harness.report.export import to_pytest_benchmark

DATA = Path(__file__).resolve().parent / "data" / "before_layout"
RUN, BASELINE, COMPARISON, PARITY = (
    DATA / f for f in ("run.json", "baseline.json", "cmp.json", "parity.json")
)


def truncations(text: str, points: int = 24) -> Iterator[tuple[str, str]]:
    for i in range(points):
        at = len(text) * i // points
        yield f"truncated at {at} of {len(text)}", text[:at]


def garbage() -> Iterator[tuple[str, str | bytes]]:
    rng = random.Random(0)
    for i in range(3):
        yield f"random bytes {i}", bytes(rng.randrange(256) for _ in range(300))
    for other in ("not json at all", "[]", "42", "null", '"a string"', "{}", '{"cells": 1}'):
        yield f"other JSON: {other}", other


def retyped(value: Any) -> Any:
    """A value of another JSON type."""
    if isinstance(value, bool) or value is None:
        return {"x": 1}
    if isinstance(value, int | float):
        return "not a number"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"not": "a list"}
    return "not an object"


def type_changes(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, a copy of ``data`` with the value at path of another type), for every field
    and the first element of every list."""
    children = list(data.items()) if isinstance(data, dict) else list(enumerate(data[:1]))
    for key, value in children:
        where = (*path, key)
        yield where, value
        if isinstance(value, dict | list) and value:
            yield from type_changes(value, where)


def with_change(data: Any, where: tuple, value: Any) -> Any:
    changed = copy.deepcopy(data)
    node = changed
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = retyped(value)
    return changed


def damaged(source: Path) -> Iterator[tuple[str, str | bytes]]:
    text = source.read_text()
    yield from truncations(text)
    yield from garbage()
    data = json.loads(text)
    for where, value in type_changes(data):
        yield f"{'.'.join(map(str, where))} retyped", json.dumps(with_change(data, where, value))


def expect_one_line_or_success(code: int, err: str, path: Path, label: str) -> bool:
    """True when the command refused the file as it must: exit 2, one line naming it."""
    if code != 2:
        assert code in (0, 1), f"{label}: exit {code}\n{err}"
        return False
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{label}: {err}"
    assert path.name in lines[0], f"{label}: the error does not name the file: {err}"
    return True


def _run_all(source: Path, command, tmp_path: Path, capsys) -> tuple[int, int]:
    refused = total = 0
    for index, (label, content) in enumerate(damaged(source)):
        path = tmp_path / f"damaged-{index}-{source.name}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        code = cli.main(command(path, tmp_path))
        err = capsys.readouterr().err
        refused += expect_one_line_or_success(code, err, path, label)
        total += 1
        if not label.endswith("retyped"):  # truncated, garbage: never usable
            assert code == 2, f"{label}: exit {code}"
    return refused, total


COMMANDS = {
    "show": lambda p, tmp: ["show", str(p)],
    "export": lambda p, tmp: ["export", str(p), "--out", str(tmp / "export.json")],
    "compare": lambda p, tmp: ["compare", str(BASELINE), str(p)],
    "baseline save": lambda p, tmp: ["baseline", "save", str(p), "--dir", str(tmp), "--force"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_results_file(command, tmp_path, capsys):
    refused, total = _run_all(RUN, COMMANDS[command], tmp_path, capsys)
    assert refused >= 0.8 * total, f"only {refused} of {total} damaged files refused"


def test_a_damaged_baseline(tmp_path, capsys):
    refused, total = _run_all(
        BASELINE, lambda p, tmp: ["compare", str(p), str(RUN)], tmp_path, capsys
    )
    assert refused >= 0.8 * total, f"only {refused} of {total} damaged files refused"


@pytest.mark.parametrize(
    ("source", "reader"),
    [(RUN, read_run_data), (COMPARISON, read_comparison), (PARITY, read_parity)],
    ids=["results", "comparison", "parity"],
)
def test_every_reader_refuses_damaged_files_in_one_line(source, reader, tmp_path):
    for index, (label, content) in enumerate(damaged(source)):
        path = tmp_path / f"damaged-{index}.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        message = _error_of(reader, path)
        if message is not None:
            assert path.name in message, label
            assert "\n" not in message, label


def _error_of(reader, path: Path) -> str | None:
    """The one-line error ``reader`` gives ``path`` (None when it reads it)."""
    from harness.errors import HarnessError

    try:
        reader(path)
    except HarnessError as error:
        return str(error)
    return None


@pytest.mark.parametrize("source", [COMPARISON, PARITY], ids=["comparison", "parity"])
def test_the_report_refuses_damaged_comparison_and_parity_files(source, tmp_path, capsys):
    option = "--comparison" if source == COMPARISON else "--parity"

    def command(path: Path, tmp: Path) -> list[str]:
        return ["report", str(RUN), "--out", str(tmp / "report"), option, str(path)]

    refused, total = _run_all(source, command, tmp_path, capsys)
    assert refused >= 0.8 * total, f"only {refused} of {total} damaged files refused"


def test_a_schema_from_the_future_and_another_tools_file(tmp_path, capsys):
    future = json.loads(RUN.read_text()) | {"schema_version": 3}
    (tmp_path / "future.json").write_text(json.dumps(future))
    assert cli.main(["show", str(tmp_path / "future.json")]) == 2
    assert "newer kbench" in capsys.readouterr().err
    from harness.records import read_run

    other = to_pytest_benchmark(read_run(RUN))
    (tmp_path / "pytest-benchmark.json").write_text(json.dumps(other))
    assert cli.main(["show", str(tmp_path / "pytest-benchmark.json")]) == 2
    assert "Expected a kbench results file" in capsys.readouterr().err
