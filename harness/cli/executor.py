"""``--executor`` and ``--address``: where a run's or a gate's workers run."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape

from harness.cli.console import console
from harness.errors import UsageError
from harness.executors.local import LocalExecutor
from harness.run.executor import Executor


@contextmanager
def executor_from_args(args: argparse.Namespace) -> Iterator[Executor]:
    """The local executor, or a connection to the Ray cluster (closed at the end)."""
    if args.executor == "local":
        if args.address:
            raise UsageError(f"--address needs --executor ray. Received: address={args.address}")
        yield LocalExecutor()
        return
    from harness.executors.cluster import connect  # Ray only when asked for

    executor = connect(args.address)
    try:
        nodes = ", ".join(
            f"{node.label}: {node.cpus:g} CPUs, {node.gpus:g} GPUs" for node in executor.nodes
        )
        count = len(executor.nodes)
        console.print(f"Ray cluster of {count} node{'s' * (count != 1)}: {escape(nodes)}")
        yield executor
    finally:
        executor.close()
