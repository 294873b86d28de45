"""How close to the machine a cell ran: its counted FLOPs per training step, and the matmul
peak and memory bandwidth measured in the same worker on the same device.

The worker measures (``harness.worker.flops``, ``harness.worker.peak``); these records hold the
numbers with the method and sizes behind them. What a cell achieved (FLOPs / median step
time) is derived where it is shown, from the merged step time (``harness.records.frames``).
See docs/efficiency.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.records.schema import CellResult

PARTS = ("forward", "backward", "loss", "optimizer")


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one training step at ``batch_size``, counted layer by layer from the built
    model (a multiply-add is 2 FLOPs), split into ``PARTS``.

    ``bytes_moved`` estimates the traffic of the step if every tensor were read or written
    once per use (no fusion, no cache reuse); ``largest_matmul`` is the model's largest
    matrix product ``[m, k, n]`` (a convolution as its im2col product). ``counted_by`` is
    ``harness`` or ``harness+plugin`` (the plugin stated some layers' FLOPs itself);
    ``uncounted`` names what neither knew (counted as 0).
    """

    total: float
    forward: float
    backward: float
    loss: float
    optimizer: float
    bytes_moved: float
    batch_size: int
    largest_matmul: list[int] | None = None
    counted_by: str = "harness"
    uncounted: list[str] = field(default_factory=list)

    @property
    def intensity(self) -> float | None:
        """Arithmetic intensity, FLOPs per byte moved (None without a byte estimate)."""
        return self.total / self.bytes_moved if self.bytes_moved > 0 else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlopCount:
        return cls(**data)


@dataclass(frozen=True)
class Rate:
    """One timed kernel: ``matmul`` (``shape`` ``[m, k, n]``, ``rate`` in GFLOP/s) or
    ``stream`` (``shape`` ``[elements]``, one read and one write each, ``rate`` in GB/s).
    ``seconds`` is the best time per call over the timed trials of ``reps`` calls each."""

    kernel: str
    label: str  # square, model (the model's largest matmul) or memory
    shape: list[int]
    dtype: str
    seconds: float
    reps: int
    rate: float


@dataclass(frozen=True)
class MeasuredPeak:
    """What the cell's backend achieved on its device with plain kernels, right after the
    cell was timed: dense matmuls and a stream-like pass over a large array."""

    matmul: list[Rate]
    memory: Rate | None
    method: str
    seconds: float  # time spent measuring

    @property
    def gflops(self) -> float | None:
        """The best matmul rate measured (any shape, any dtype), GFLOP/s."""
        return max((r.rate for r in self.matmul), default=None)

    @property
    def bandwidth_gbs(self) -> float | None:
        return self.memory.rate if self.memory else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeasuredPeak:
        memory = data.get("memory")
        return cls(
            matmul=[Rate(**r) for r in data["matmul"]],
            memory=Rate(**memory) if memory else None,
            method=data["method"],
            seconds=data["seconds"],
        )


def device_peaks(cells: Sequence[CellResult]) -> dict[str, dict[str, Any]]:
    """The run's measured peak per device, for its environment block: the best matmul rate
    and the best bandwidth any cell's worker measured there, and which cells measured them."""
    peaks: dict[str, dict[str, Any]] = {}
    for cell in cells:
        if cell.peak is None or cell.peak.gflops is None:
            continue
        best = peaks.setdefault(cell.device, {"matmul_gflops": 0.0, "bandwidth_gbs": None})
        if cell.peak.gflops > best["matmul_gflops"]:
            best.update(matmul_gflops=cell.peak.gflops, matmul_cell=cell.cell.key)
        bandwidth = cell.peak.bandwidth_gbs
        if bandwidth is not None and bandwidth > (best["bandwidth_gbs"] or 0.0):
            best.update(bandwidth_gbs=bandwidth, bandwidth_cell=cell.cell.key)
    return peaks
