"""The CLI's two rich consoles: tables and progress on stdout, errors on stderr."""

from __future__ import annotations

import os

from rich.console import Console
from rich.markup import escape

LOG_WIDTH = 160  # columns of the tables when the output is a log, not a terminal


def make_console(stderr: bool = False) -> Console:
    """A rich console. Written to a file or a CI log, rich would lay tables out in 80
    columns and cut their figures to "0.…"; there it is ``LOG_WIDTH`` wide, unless
    ``COLUMNS`` says otherwise."""
    console = Console(stderr=stderr)
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(stderr=stderr, width=LOG_WIDTH)


console = make_console()
error_console = make_console(stderr=True)


def print_error(message: str) -> None:
    """One line on stderr, no traceback."""
    error_console.print(escape(message), highlight=False, soft_wrap=True)
