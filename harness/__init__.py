"""keras-backend-bench: one driver to benchmark Keras 3 models on JAX, TensorFlow and PyTorch.

The layout, bottom to top (a module imports only its own layer or lower ones; a test checks):

* ``errors``, ``plugin`` (THE extension point)
* ``stats/``: one timing-test interface, two implementations (per process, paired)
* ``registry``, ``datasets``
* ``backends/``: what differs between the frameworks; parent side apart from worker side
* ``records/``: results as data: records, the one reader and writer, DataFrames, baselines
* ``run/``: the parent's run: settings -> plan -> driver -> a worker process per cell -> results
* ``executors/`` (where workers run: local, live A/B process pairs, Ray) and ``worker/`` (the
  child that runs one cell, with its measurements: step timing, FLOPs, peak, contention)
* ``gate/`` (compare, ``kbench ab``) and ``parity/`` (same weights, same model)
* ``report/``: one table model rendered to rich, HTML and Markdown; charts; export
* ``cli/``: a module per ``kbench`` command
"""

from __future__ import annotations

__version__ = "0.1.0"
