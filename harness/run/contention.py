"""What competed with a worker for the CPU while it timed steps (Linux counters).

A timed process shares a small machine with the OS, the parent, other tenants of the
host (a VM's *steal*) and its own threads. This module reads, before and after the timing
loop, the kernel's counters for the whole host (``/proc/stat``) and for this process
(``getrusage``), and keeps their differences, so that a slow process can be told apart
from a slow model: was the host busy with others, did the hypervisor take time, was the
process preempted? Where a counter is not available (not Linux), it is None.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal guest guest_nice
_IDLE, _IOWAIT, _STEAL = 3, 4, 7


@dataclass(frozen=True)
class HostTimes:
    """The host's CPU time since boot, summed over cores, in seconds (from /proc/stat)."""

    busy_s: float
    idle_s: float
    steal_s: float

    @classmethod
    def parse(cls, stat_text: str, ticks_per_s: float) -> HostTimes:
        """From the aggregate ``cpu`` line of /proc/stat (guest time is in user already)."""
        for line in stat_text.splitlines():
            if line.startswith("cpu "):
                fields = [float(v) / ticks_per_s for v in line.split()[1:9]]
                idle = fields[_IDLE] + fields[_IOWAIT]
                steal = fields[_STEAL]
                return cls(busy_s=sum(fields) - idle - steal, idle_s=idle, steal_s=steal)
        raise ValueError("no aggregate 'cpu' line in /proc/stat")

    @classmethod
    def read(cls) -> HostTimes | None:
        """The current counters, or None where /proc/stat cannot be read."""
        try:
            return cls.parse(PROC_STAT.read_text(), os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class Snapshot:
    """Host and process counters at one instant."""

    wall_s: float
    process_cpu_s: float
    voluntary_switches: int
    involuntary_switches: int
    host: HostTimes | None

    @classmethod
    def take(cls) -> Snapshot:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            wall_s=time.perf_counter(),
            process_cpu_s=usage.ru_utime + usage.ru_stime,
            voluntary_switches=usage.ru_nvcsw,
            involuntary_switches=usage.ru_nivcsw,
            host=HostTimes.read(),
        )


@dataclass(frozen=True)
class Contention:
    """Counters over one timed interval.

    ``process_cpu_s`` is this process's CPU time (all its threads); ``others_busy_s`` the
    host's busy CPU time not spent by this process (other processes, the kernel's work for
    them); ``steal_s`` time the hypervisor gave to other guests while this one wanted the
    CPU. The ``*_share`` values divide by the interval's wall time times the core count,
    so 1.0 is every core for the whole interval. Involuntary context switches count how
    often the scheduler preempted one of this process's threads.
    """

    wall_s: float
    cores: int
    process_cpu_s: float
    voluntary_switches: int
    involuntary_switches: int
    others_busy_s: float | None
    steal_s: float | None
    idle_s: float | None

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot, cores: int | None = None) -> Contention:
        """The differences of two snapshots (``cores`` defaults to this machine's)."""
        process_cpu = end.process_cpu_s - start.process_cpu_s
        others = steal = idle = None
        if start.host is not None and end.host is not None:
            busy = end.host.busy_s - start.host.busy_s
            others = max(0.0, busy - process_cpu)
            steal = end.host.steal_s - start.host.steal_s
            idle = end.host.idle_s - start.host.idle_s
        return cls(
            wall_s=end.wall_s - start.wall_s,
            cores=cores or os.cpu_count() or 1,
            process_cpu_s=process_cpu,
            voluntary_switches=end.voluntary_switches - start.voluntary_switches,
            involuntary_switches=end.involuntary_switches - start.involuntary_switches,
            others_busy_s=others,
            steal_s=steal,
            idle_s=idle,
        )

    def share(self, seconds: float | None) -> float | None:
        """``seconds`` of CPU time as a share of all cores over the interval."""
        capacity = self.wall_s * self.cores
        return None if seconds is None or capacity <= 0 else seconds / capacity

    @property
    def others_share(self) -> float | None:
        return self.share(self.others_busy_s)

    @property
    def steal_share(self) -> float | None:
        return self.share(self.steal_s)

    @property
    def involuntary_per_s(self) -> float:
        return self.involuntary_switches / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contention:
        return cls(**data)
