"""PyTorch, as the worker sees it."""

from __future__ import annotations

from typing import Any

from harness.backends.worker import WorkerBackend


class TorchBackend(WorkerBackend):
    name = "torch"
    modules = ("torch",)

    def configure(self, device: str, threads: int | None) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)

    def accelerators(self) -> list[str]:
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]

    def sync(self, model: Any) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def thread_settings(self) -> dict[str, Any]:
        import torch

        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}

    def kernel_settings(self) -> dict[str, Any]:
        """Also whether oneDNN (mkldnn) kernels are on, and deterministic algorithms."""
        import torch

        return {
            **super().kernel_settings(),
            "onednn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        }

    def tf32_enabled(self, device: str) -> bool | None:
        if device != "gpu":
            return None
        import torch

        return bool(torch.backends.cuda.matmul.allow_tf32)

    def device_peak_memory_mb(self, device: str) -> float | None:
        if device != "gpu":
            return None
        import torch

        return torch.cuda.max_memory_allocated() / 2**20

    def framework_versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}


BACKEND = TorchBackend()
