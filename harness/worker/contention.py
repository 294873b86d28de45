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
from dataclasses import dataclass
from pathlib import Path

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
