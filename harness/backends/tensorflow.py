"""TensorFlow, as the worker sees it."""

from __future__ import annotations

import os
from typing import Any

from harness.backends.worker import WorkerBackend


class TensorFlowBackend(WorkerBackend):
    name = "tensorflow"
    modules = ("tensorflow",)

    def configure(self, device: str, threads: int | None) -> None:
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        if threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)

    def accelerators(self) -> list[str]:
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]

    def sync(self, model: Any) -> None:
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            tf.test.experimental.sync_devices()
        else:
            model.optimizer.iterations.numpy()

    def thread_settings(self) -> dict[str, Any]:
        import tensorflow as tf

        return {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "auto",
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "auto",
        }

    def kernel_settings(self) -> dict[str, Any]:
        """Also ``TF_ENABLE_ONEDNN_OPTS`` (None: unset, TensorFlow's default) and whether op
        determinism is on (None where this TensorFlow cannot say)."""
        try:
            from tensorflow.python.framework import config  # no public getter

            determinism = bool(config.is_op_determinism_enabled())
        except (ImportError, AttributeError):
            determinism = None
        return {
            **super().kernel_settings(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "op_determinism": determinism,
        }

    def tf32_enabled(self, device: str) -> bool | None:
        if device != "gpu":
            return None
        import tensorflow as tf

        return bool(tf.config.experimental.is_tensor_float_32_execution_enabled())

    def device_peak_memory_mb(self, device: str) -> float | None:
        if device != "gpu":
            return None
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20

    def framework_versions(self) -> dict[str, str]:
        import tensorflow as tf

        return {"tensorflow": tf.__version__}


BACKEND = TensorFlowBackend()
