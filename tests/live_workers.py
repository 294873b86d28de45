"""The live worker processes a test started, found in /proc by a tag in their environment."""

from __future__ import annotations

from pathlib import Path


def live_workers(tag: str, module: str = "harness.") -> list[int]:
    """Pids of live processes that carry ``tag`` in their environment and run a module
    named ``module...`` (``python -m harness.worker.cell``): the commands a parent forks on
    its own (``git rev-parse``, a fork before its exec) carry the tag too but are not
    workers."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        runs_module = any(word.startswith(module.encode()) for word in command)
        if tag.encode() in environ and runs_module and state != "Z":
            found.append(int(entry.name))
    return found
