"""JAX, as the worker sees it."""

from __future__ import annotations

import os
from typing import Any

from harness.backends.worker import WorkerBackend


class JaxBackend(WorkerBackend):
    name = "jax"
    modules = ("jax", "jaxlib")

    def accelerators(self) -> list[str]:
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]

    def sync(self, model: Any) -> None:
        import jax

        jax.block_until_ready([v.value for v in model.variables])

    def wait(self, tensors: list[Any]) -> None:
        import jax

        jax.block_until_ready(tensors)  # dispatched asynchronously, possibly concurrently

    def shapes_of(self, function: Any, *args: Any) -> Any:
        import jax

        return jax.eval_shape(function, *args)  # traced abstractly: nothing compiled or run

    def thread_settings(self) -> dict[str, Any]:
        return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "cpu_count": os.cpu_count()}

    def kernel_settings(self) -> dict[str, Any]:
        """Also ``XLA_FLAGS`` (XLA chooses the kernels when it compiles the step)."""
        return {**super().kernel_settings(), "xla_flags": os.environ.get("XLA_FLAGS", "")}

    def tf32_enabled(self, device: str) -> bool | None:
        if device != "gpu":
            return None
        import jax

        return jax.config.jax_default_matmul_precision in (None, "tensorfloat32", "default")

    def device_peak_memory_mb(self, device: str) -> float | None:
        if device != "gpu":
            return None
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use", 0) / 2**20

    def framework_versions(self) -> dict[str, str]:
        import jax
        import jaxlib

        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


BACKEND = JaxBackend()
