"""Checking a file's JSON against the records it claims to hold, before anything uses it.

A results, comparison, baseline or parity file may be truncated, edited by hand or written
by another tool. Every field present is checked against the type its record declares
(the dataclasses' annotations), so a bad file is one line that names the file and the
field, never a traceback later in a table or a chart. ``required`` also insists on the
fields a record cannot do without.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Union

from harness.errors import HarnessError


class Mismatch(Exception):
    """A field whose value does not fit its declared type (``where`` is its path)."""

    def __init__(self, where: str, expected: str, value: Any) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        super().__init__(f"{where} must be {expected}. Received: {shown}")


def check_file(data: Any, record: type, path: Any, what: str) -> None:
    """Raise a one-line ``HarnessError`` naming ``path`` when ``data`` does not fit ``record``."""
    try:
        check(data, record, "")
    except Mismatch as error:
        raise HarnessError(f"{what} {path} is damaged: {error}") from None


def check(value: Any, expected: Any, where: str) -> None:
    """Check ``value`` against a type annotation (dataclass, enum, union, list, dict, scalar)."""
    if expected is Any:
        return
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        _check_union(value, typing.get_args(expected), where)
    elif dataclasses.is_dataclass(expected):
        _check_record(value, expected, where)
    elif isinstance(expected, type) and issubclass(expected, enum.Enum):
        if value not in {m.value for m in expected}:
            raise Mismatch(where, f"one of {[m.value for m in expected]}", value)
    elif origin in (list, tuple):
        _check_list(value, typing.get_args(expected), where)
    elif origin is dict or expected is dict:
        _check_dict(value, typing.get_args(expected), where)
    else:
        _check_scalar(value, expected, where)


def _check_union(value: Any, options: tuple, where: str) -> None:
    if value is None and type(None) in options:
        return
    errors = []
    for option in (o for o in options if o is not type(None)):
        try:
            check(value, option, where)
            return
        except Mismatch as error:
            errors.append(error)
    raise errors[0]


def _check_record(value: Any, record: type, where: str) -> None:
    if not isinstance(value, dict):
        raise Mismatch(where or "the file", "a JSON object", value)
    hints = typing.get_type_hints(record)
    for field in dataclasses.fields(record):
        if field.name in value:
            path = f"{where}.{field.name}" if where else field.name
            check(value[field.name], hints[field.name], path)


def _check_list(value: Any, args: tuple, where: str) -> None:
    if not isinstance(value, list):
        raise Mismatch(where, "a list", value)
    item = args[0] if args else Any
    for index, element in enumerate(value):
        check(element, item, f"{where}[{index}]")


def _check_dict(value: Any, args: tuple, where: str) -> None:
    if not isinstance(value, dict):
        raise Mismatch(where, "a JSON object", value)
    item = args[1] if len(args) == 2 else Any
    for key, element in value.items():
        check(element, item, f"{where}.{key}")


def _check_scalar(value: Any, expected: Any, where: str) -> None:
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        name = "a number"
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        name = "an integer"
    elif expected in (str, bool):
        ok = isinstance(value, expected)
        name = "a string" if expected is str else "true or false"
    else:
        return  # a type this checker does not know: left to the record's own parsing
    if not ok:
        raise Mismatch(where, name, value)
