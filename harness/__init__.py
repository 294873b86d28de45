"""keras-backend-bench: one driver to benchmark Keras 3 models on JAX, TensorFlow and PyTorch."""

from __future__ import annotations

__version__ = "0.1.0"
