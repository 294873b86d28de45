"""Stopping a run cleanly: SIGINT (Ctrl-C) and SIGTERM become one exception in the parent.

While :func:`interruptible` is active, either signal raises :class:`Interrupted` in the main
thread, wherever it is (usually blocked waiting for a worker). The runner then kills the
running worker's process group, and the commands write what finished before exiting with
128 + the signal's number (130 for SIGINT, 143 for SIGTERM). Further signals are ignored
while that happens, so a second Ctrl-C cannot cut the results file short.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was asked to stop by a signal (not an ``Exception``: nothing swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(signal_name: str) -> int:
    """128 + the number of a signal named like ``SIGINT``."""
    return 128 + signal.Signals[signal_name].value


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` for the duration of the block."""

    def stop(signum: int, frame: FrameType | None) -> None:
        for other in SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, stop) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs (e.g. writing the results file);
    one that arrived meanwhile is delivered when it ends."""
    mask = set(SIGNALS)
    signal.pthread_sigmask(signal.SIG_BLOCK, mask)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, mask)
