"""A trained cell's efficiency figures: its counted FLOPs per step and the peak measured now.

Run by the worker after the cell's timing and training (the first process of a cell only),
and after its memory was read, so neither the timing nor the memory figures see it. A
model the counter cannot trace, or a kernel that fails, leaves its figure out (the
traceback goes to the cell's log); the cell itself stays ok.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np

from harness.backends.worker import WorkerBackend
from harness.records.efficiency import FlopCount, MeasuredPeak
from harness.worker.model import take
from harness.worker.peak import measure_peak
from harness.worker.session import Session
from harness.worker.trace import count_model


def measure(
    keras: Any, session: Session, framework: WorkerBackend, device: str, x: Any, classes: int
) -> tuple[FlopCount | None, MeasuredPeak | None]:
    """The FLOPs of one training step of a fresh model, and the machine's peak."""
    dtype = keras.config.dtype_policy().compute_dtype
    flops = peak = None
    try:
        model = session.build(classes)
        sample, batch = take(x, np.arange(1)), session.batch_size
        flops = count_model(model, session.plugin, sample, batch, dtype, framework.shapes_of)
    except Exception:
        traceback.print_exc()
    try:
        shape = flops.largest_matmul if flops else None
        peak = measure_peak(keras, framework, device, shape, dtype)
    except Exception:
        traceback.print_exc()
    return flops, peak
