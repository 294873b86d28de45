"""Turns: the two workers of a process pair take the CPU in turn (``kbench ab --pairing live``).

Run one after another, a gate's A and B processes meet a slow spell of the machine that
lasts one process on one side only, and it becomes part of the "level per process"
(docs/gate.md). In a *process pair* one worker per side is alive at once; each asks the
parent for a turn before each timed window pair (its N- and 2N-step fits) and is answered
only when the other side is idle, so the two sides' samples lie about a second apart and a
spell hits both.

The protocol is one JSON line each way over two pipes whose descriptors the parent passes
in ``KBENCH_TURNS`` (``"read_fd,write_fd"``). The child asks with ``{"want": KIND}``:

* ``calibrate``: before it would calibrate N. The answer is ``{"go": true}`` (calibrate)
  or ``{"go": true, "steps": N}`` (use the other side's N, so both time the same windows);
* ``pair`` (with its ``steps``): before each timed window pair;
* ``rest``: after its last window pair; everything after it (predict timing, training, the
  efficiency measures) runs while the other side waits or has exited.

A turn lasts from the answer to the worker's next request, or to its exit. No turn is given
before every side has asked once (both built), so a model's compilation never overlaps the
other side's timing. Window-pair turns alternate A B, B A, A B, ... (:class:`TurnKeeper`).
Without ``KBENCH_TURNS`` a worker runs alone and never waits (:data:`NO_TURNS`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TURNS_ENV = "KBENCH_TURNS"
KINDS = ("calibrate", "pair", "rest")  # "pair": a turn for one window pair


class NoTurns:
    """A worker alone: every turn is its own at once."""

    active = False

    def window_steps(self, calibrate: Callable[[], int]) -> int:
        return calibrate()

    def take(self, kind: str, **details: Any) -> dict[str, Any]:
        return {"go": True}


NO_TURNS = NoTurns()


class Turns(NoTurns):
    """A worker that shares the machine with the other side's live worker (child side)."""

    active = True

    def __init__(self, read_fd: int, write_fd: int):
        for fd in (read_fd, write_fd):
            os.set_inheritable(fd, False)  # a subprocess of the worker must not hold them
        self._read = os.fdopen(read_fd, "r", buffering=1)
        self._write = os.fdopen(write_fd, "w", buffering=1)

    def take(self, kind: str, **details: Any) -> dict[str, Any]:
        """Ask for a turn of ``kind`` and wait for it; the parent's answer."""
        self._write.write(json.dumps({"want": kind, **details}) + "\n")
        self._write.flush()
        line = self._read.readline()
        if not line:
            raise RuntimeError("the parent that gives turns has gone")
        return json.loads(line)

    def window_steps(self, calibrate: Callable[[], int]) -> int:
        """The other side's N when it has calibrated first, else this side's own."""
        answer = self.take("calibrate")
        return int(answer["steps"]) if answer.get("steps") else calibrate()


def turns_from_env() -> NoTurns:
    """The worker's turns: from ``KBENCH_TURNS``, or :data:`NO_TURNS` when it is unset."""
    value = os.environ.get(TURNS_ENV)
    if not value:
        return NO_TURNS
    read_fd, write_fd = (int(part) for part in value.split(","))
    return Turns(read_fd, write_fd)


@dataclass
class SideState:
    """What the parent knows of one side's worker."""

    wants: dict[str, Any] | None = None  # its pending request
    asked: bool = False  # it has asked once (it is built)
    holding: bool = False  # it has a turn now
    exited: bool = False
    window_pairs: int = 0  # window-pair turns given


@dataclass
class TurnKeeper:
    """The parent's side of the protocol: who gets the CPU next (pure; no I/O).

    Feed it each request (:meth:`request`) and each exit (:meth:`exited`); :meth:`grants`
    says which answers to send now. At most one side holds a turn at a time.
    """

    sides: Sequence[str]
    states: dict[str, SideState] = field(default_factory=dict)
    steps: int | None = None  # N, once the first side to calibrate has said it
    last: str | None = None  # the side that had the last window-pair turn

    def __post_init__(self) -> None:
        self.states = {side: SideState() for side in self.sides}

    def request(self, side: str, message: dict[str, Any]) -> None:
        if message.get("want") not in KINDS:
            raise ValueError(f"unknown turn request from side {side}: {message!r}")
        state = self.states[side]
        state.wants, state.asked, state.holding = message, True, False
        if message["want"] == "pair" and self.steps is None and message.get("steps"):
            self.steps = int(message["steps"])

    def exited(self, side: str) -> None:
        state = self.states[side]
        state.exited, state.holding, state.wants = True, False, None

    def grants(self) -> list[tuple[str, dict[str, Any]]]:
        """The answers to send now: (side, answer), at most one turn held after them."""
        states = self.states
        if any(s.holding for s in states.values()):
            return []
        if not all(s.asked or s.exited for s in states.values()):
            return []  # a side is still building: nobody times yet
        side = self._next_side()
        if side is None:
            return []
        state = states[side]
        answer: dict[str, Any] = {"go": True}
        kind = state.wants["want"] if state.wants else ""
        if kind == "calibrate" and self.steps is not None:
            answer["steps"] = self.steps
        if kind == "pair":
            state.window_pairs += 1
            self.last = side
        state.wants, state.holding = None, True
        return [(side, answer)]

    def _next_side(self) -> str | None:
        """Calibration first: the first side to ask calibrates (it holds the CPU until it
        asks for its first window pair, with its N), the others then take its N. Then
        window pairs in A B, B A order (fewest first; at a tie, the side that went last).
        Then rest, one side at a time, once no side needs another window pair."""
        waiting = {s: st.wants["want"] for s, st in self.states.items() if st.wants}
        for kind in ("calibrate", "pair", "rest"):
            candidates = [s for s in self.sides if waiting.get(s) == kind]
            if not candidates:
                continue
            if kind != "pair":
                return candidates[0]
            fewest = min(self.states[s].window_pairs for s in candidates)
            tied = [s for s in candidates if self.states[s].window_pairs == fewest]
            return self.last if self.last in tied else tied[0]
        return None
