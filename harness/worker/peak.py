"""The machine's achievable peak, measured by the worker on its own backend and device.

Right after a cell is timed, its worker times plain kernels through ``keras.ops``: dense
matmuls at a large square size and at the model's largest matmul shape (float32, and the
run's compute dtype when that differs), and a stream-like pass ``y = x * c`` over a large
float32 array. Each kernel runs once to warm up, once to size the trials, then ``TRIALS``
trials of back-to-back calls; the best time per call is kept. About half a second per
worker on a CPU. What the figures mean and where they mislead: docs/efficiency.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.backends.worker import WorkerBackend
from harness.records.efficiency import MeasuredPeak, Rate

SQUARE = {"cpu": 1024, "gpu": 4096}  # n of the n x n x n matmul
# Elements of the streamed array: on a CPU 24 MiB of float32, under glibc's mmap threshold
# as the harness fixes it (a larger array is mapped afresh per call: page faults, not
# bandwidth); on a GPU 256 MiB, well past its L2 cache.
STREAM = {"cpu": 6 * 2**20, "gpu": 2**26}
TRIAL_S = 0.03  # each timed trial lasts about this long
TRIALS = 3
SLOW_S = 0.5  # a kernel slower than this (float16 on a CPU) is timed once
HELD_BYTES = 2**28  # outputs kept alive until a trial's barrier, at most
METHOD = (
    "keras.ops eager kernels on the cell's backend and device, after the cell was timed: "
    "best time per call over {trials} trials of back-to-back calls (about {trial_s:g} s "
    "each) after one warm-up call; matmul FLOPs 2*m*k*n; stream bytes one read and one "
    "write per element"
)


def measure_peak(
    keras: Any,
    framework: WorkerBackend,
    device: str,
    model_matmul: Sequence[int] | None,
    compute_dtype: str,
) -> MeasuredPeak:
    """Matmul rates (square and model shape; float32 and ``compute_dtype``) and the memory
    bandwidth, measured now on ``device``."""
    start = time.perf_counter()
    dtypes = ["float32"] + ([compute_dtype] if compute_dtype != "float32" else [])
    n = SQUARE.get(device, SQUARE["cpu"])
    shapes = [("square", (n, n, n))] + ([("model", tuple(model_matmul))] if model_matmul else [])
    matmul = [
        matmul_rate(keras, framework, label, shape, dtype)
        for dtype in dtypes
        for label, shape in shapes
    ]
    memory = stream_rate(keras, framework, STREAM.get(device, STREAM["cpu"]))
    method = METHOD.format(trials=TRIALS, trial_s=TRIAL_S)
    return MeasuredPeak(matmul, memory, method, time.perf_counter() - start)


def matmul_rate(
    keras: Any, framework: WorkerBackend, label: str, shape: Sequence[int], dtype: str
) -> Rate:
    """GFLOP/s of ``keras.ops.matmul`` of an (m, k) by a (k, n) random matrix."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((m, k), dtype=np.float32), dtype)
    b = keras.ops.convert_to_tensor(rng.standard_normal((k, n), dtype=np.float32), dtype)
    itemsize = 2 if "16" in dtype else 4
    seconds, reps = best_seconds(lambda: keras.ops.matmul(a, b), framework, m * n * itemsize)
    return Rate("matmul", label, [m, k, n], dtype, seconds, reps, 2 * m * k * n / seconds / 1e9)


def stream_rate(keras: Any, framework: WorkerBackend, elements: int) -> Rate:
    """GB/s of ``x * c`` over ``elements`` float32 (one read and one write per element)."""
    x = keras.ops.convert_to_tensor(np.ones(elements, dtype=np.float32))
    scale = keras.ops.convert_to_tensor(np.float32(1.0001))
    seconds, reps = best_seconds(lambda: keras.ops.multiply(x, scale), framework, 4 * elements)
    rate = 2 * 4 * elements / seconds / 1e9
    return Rate("stream", "memory", [elements], "float32", seconds, reps, rate)


def best_seconds(
    kernel: Callable[[], Any], framework: WorkerBackend, out_bytes: int
) -> tuple[float, int]:
    """The best time per call of ``kernel`` and the calls per timed trial."""
    framework.wait([kernel()])  # warm-up: compilation, allocation, lazy initialisation
    once = _trial(kernel, framework, 1)
    if once > SLOW_S:
        return once, 1
    held = max(1, HELD_BYTES // max(out_bytes, 1))
    reps = max(1, min(held, math.ceil(TRIAL_S / max(once, 1e-6))))
    return min(once, *(_trial(kernel, framework, reps) for _ in range(TRIALS))), reps


def _trial(kernel: Callable[[], Any], framework: WorkerBackend, reps: int) -> float:
    """Seconds per call of ``reps`` back-to-back calls, up to their barrier."""
    start = time.perf_counter()
    outputs = [kernel() for _ in range(reps)]
    framework.wait(outputs)
    return (time.perf_counter() - start) / reps
