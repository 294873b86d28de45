"""Parent-side facts about backends and devices, found without importing any framework."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from functools import cache

from harness.errors import UsageError

BACKENDS: tuple[str, ...] = ("jax", "tensorflow", "torch")
DEVICES: tuple[str, ...] = ("cpu", "gpu")
_IMPORT_NAMES = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
_DISTRIBUTIONS = {
    "jax": ("jax", "jaxlib"),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "torch": ("torch",),
}


def backend_installed(backend: str) -> bool:
    """Whether the backend's framework can be imported here (checked without importing it)."""
    return importlib.util.find_spec(_IMPORT_NAMES[backend]) is not None


def backend_version(backend: str) -> str | None:
    """The installed version of a backend's distribution, or None."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in _DISTRIBUTIONS[backend]:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


@cache
def gpu_names() -> tuple[str, ...]:
    """NVIDIA GPUs visible through ``nvidia-smi`` (empty when none or no driver)."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def resolve_devices(requested: str, gpu_present: bool | None = None) -> list[str]:
    """``cpu``, ``gpu`` or ``auto`` (the CPU, plus the GPU where one is present: on this
    machine, unless ``gpu_present`` says whether the machines that will run the cells have
    one)."""
    if requested == "auto":
        present = bool(gpu_names()) if gpu_present is None else gpu_present
        return ["cpu", "gpu"] if present else ["cpu"]
    if requested not in DEVICES:
        raise UsageError(
            f"Unknown device. Expected one of: cpu, gpu, auto. Received: device={requested!r}"
        )
    return [requested]


# glibc's malloc moves its mmap threshold with a process's allocation history, so the same
# cell could page-fault on every step in one process and not in the next: torch's dense_mlp
# at batch 32 took 0.15 to 1.0 million minor faults per timing and 3.4 to 4.6 ms a step,
# one level per process. Fixed thresholds end that per-process lottery (ignored off glibc;
# a value already in the environment is kept). Recorded per cell in ``fairness["malloc"]``.
MALLOC_ENV: dict[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),  # glibc's largest; sizes below come from the heap
    "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),  # freed heap kept for the next step
}


def worker_env(
    backend: str, device: str, threads: int | None, fixed_malloc: bool = True
) -> dict[str, str]:
    """Environment for a worker: set before Keras (and the backend) is imported."""
    env = {
        **{
            name: value
            for name, value in MALLOC_ENV.items()
            if fixed_malloc and name not in os.environ
        },
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONUNBUFFERED": "1",
        # Measure what a cell uses: no up-front grab of the whole GPU.
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    }
    if device == "cpu":
        env.update({"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    else:
        env["JAX_PLATFORMS"] = "cuda"
    if threads is not None:
        env.update(_thread_env(threads))
    return env


def _thread_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n,
        "TF_NUM_INTEROP_THREADS": n,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={n}",
    }
