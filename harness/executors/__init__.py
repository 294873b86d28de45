"""Where worker processes run: one protocol, three executors.

- :class:`LocalExecutor` (``harness.executors.local``): every worker on this machine, one at a
  time (the default of ``kbench run``).
- :class:`LiveExecutor` (``harness.executors.live``): each repeat of a cell as a live A/B
  process pair taking the CPU in turns (``kbench ab --pairing live``).
- ``harness.executors.cluster``: the workers on the nodes of a Ray cluster (``--executor ray``;
  imported only when asked for, so Ray stays optional).

Each implements ``harness.run.executor.Executor`` (the protocol sits below, beside the run that
uses it), follows ``harness.run.processes.schedule`` and launches workers through
``harness.run.launch``. May import ``harness.run`` and below; never a framework.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "local": ("LocalExecutor",),
        "live": ("LiveExecutor",),
    },
)
