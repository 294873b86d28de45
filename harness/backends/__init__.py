"""What differs between JAX, TensorFlow and PyTorch, on both sides of the process boundary.

``parent``: facts the parent finds without importing any framework (which backends are
installed, their versions, GPUs through nvidia-smi, the worker's environment variables).
``worker``: the worker-side interface (thread and memory settings, the device barrier, peak
device memory, accelerators, versions), chosen once by backend name. May import only
``harness.errors``.
"""

from __future__ import annotations

from harness._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "parent": (
            "BACKENDS",
            "DEVICES",
            "MALLOC_ENV",
            "backend_installed",
            "backend_version",
            "gpu_names",
            "resolve_devices",
            "worker_env",
        ),
        "worker": ("worker_backend",),
    },
)
