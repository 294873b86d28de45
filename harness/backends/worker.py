"""Worker-side backend specifics, one function per backend, chosen once by name.

Only the worker imports this module (it imports the frameworks lazily). Everything that
differs between JAX, TensorFlow and PyTorch lives here: the device barrier used to close
a timing window, thread and GPU-memory settings, versions and peak device memory.
"""

from __future__ import annotations

from typing import Any


def configure(backend: str, device: str, threads: int | None) -> None:
    """Apply thread and memory settings that must precede the first computation."""
    if backend == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        if threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch" and threads is not None:
        import torch

        torch.set_num_threads(threads)


def accelerators(backend: str) -> list[str]:
    """The GPUs the backend itself can see (empty on a CPU-only cell)."""
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def sync(backend: str, model: Any) -> None:
    """Block until every computation dispatched so far has finished (a timing barrier)."""
    if backend == "jax":
        import jax

        jax.block_until_ready([v.value for v in model.variables])
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            tf.test.experimental.sync_devices()
        else:
            model.optimizer.iterations.numpy()
    else:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def thread_settings(backend: str) -> dict[str, Any]:
    """The thread counts the backend actually runs with."""
    import os

    if backend == "tensorflow":
        import tensorflow as tf

        return {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "auto",
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "auto",
        }
    if backend == "torch":
        import torch

        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "cpu_count": os.cpu_count()}


def tf32_enabled(backend: str, device: str) -> bool | None:
    """Whether float32 matmuls may use TF32 on this GPU cell (None on CPU)."""
    if device != "gpu":
        return None
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.experimental.is_tensor_float_32_execution_enabled())
    if backend == "torch":
        import torch

        return bool(torch.backends.cuda.matmul.allow_tf32)
    import jax

    return jax.config.jax_default_matmul_precision in (None, "tensorfloat32", "default")


def device_peak_memory_mb(backend: str, device: str) -> float | None:
    """Peak accelerator memory in MiB on a GPU cell (None on CPU)."""
    if device != "gpu":
        return None
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    if backend == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use", 0) / 2**20


def versions(backend: str) -> dict[str, str]:
    """Versions of Keras, the backend and numpy as imported in this process."""
    import keras
    import numpy

    found = {
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": numpy.__version__,
    }
    if backend == "jax":
        import jax
        import jaxlib

        found |= {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
    elif backend == "tensorflow":
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    else:
        import torch

        found["torch"] = torch.__version__
    return found
