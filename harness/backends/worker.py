"""Worker side: what differs between the frameworks, behind one small interface.

Only the worker (and the parity worker) use this module; each backend's module imports its
framework lazily, inside the methods, after ``KERAS_BACKEND`` has chosen it. The worker picks
its backend once, by name, with :func:`worker_backend`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from harness.errors import UsageError


class WorkerBackend:
    """The calls the worker makes that depend on the framework (defaults: a CPU-only one)."""

    name = ""
    modules: tuple[str, ...] = ()  # import names whose absence means "not installed"

    def configure(self, device: str, threads: int | None) -> None:
        """Apply thread and memory settings that must precede the first computation."""

    def accelerators(self) -> list[str]:
        """The GPUs the framework itself can see (empty on a CPU-only cell)."""
        return []

    def sync(self, model: Any) -> None:
        """Block until every computation dispatched so far has finished (a timing barrier)."""

    def wait(self, tensors: list[Any]) -> None:
        """Block until ``tensors`` are computed (the barrier of the peak kernels' timing).

        By default, reading one element of the last one: the backend runs eager kernels in
        order (synchronously on a CPU, on one stream on a GPU)."""
        import keras

        last = tensors[-1]
        keras.ops.convert_to_numpy(keras.ops.cast(last[(0,) * len(last.shape)], "float32"))

    def shapes_of(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` run for the shapes of what it computes, as cheaply as the
        framework allows (by default, simply run)."""
        return function(*args)

    def thread_settings(self) -> dict[str, Any]:
        """The thread counts the framework actually runs with."""
        return {"cpu_count": os.cpu_count()}

    def kernel_settings(self) -> dict[str, Any]:
        """What steers the framework's choice of kernels, as in effect: the oneDNN
        variables set in the environment (``ONEDNN_*``, ``DNNL_*``), and the framework's own
        switches (see each backend)."""
        return {
            "onednn_env": {
                name: value
                for name, value in sorted(os.environ.items())
                if name.startswith(("ONEDNN_", "DNNL_"))
            }
        }

    def tf32_enabled(self, device: str) -> bool | None:
        """Whether float32 matmuls may use TF32 on this GPU cell (None on CPU)."""
        return None

    def device_peak_memory_mb(self, device: str) -> float | None:
        """Peak accelerator memory in MiB on a GPU cell (None on CPU)."""
        return None

    def versions(self) -> dict[str, str]:
        """Versions of Keras, the backend in effect, the framework and numpy."""
        import keras
        import numpy

        return {
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "numpy": numpy.__version__,
            **self.framework_versions(),
        }

    def framework_versions(self) -> dict[str, str]:
        """The framework's own packages and versions."""
        return {}


def worker_backend(name: str) -> WorkerBackend:
    """The backend named ``name`` (``jax``, ``tensorflow`` or ``torch``)."""
    try:
        module = importlib.import_module(f"harness.backends.{name}")
    except ModuleNotFoundError:
        raise UsageError(f"Unknown backend. Received: backend={name!r}") from None
    return module.BACKEND
