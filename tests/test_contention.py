"""The CPU-contention counters recorded around a worker's timing loop."""

from __future__ import annotations

import pytest

from harness.records.steptime import Contention, StepTimeStats
from harness.worker.contention import HostTimes, Snapshot

STAT = "cpu  100 0 50 800 10 0 5 20 0 0\ncpu0 50 0 25 400 5 0 3 10 0 0\nintr 1 2 3\n"


def test_host_times_parse_the_aggregate_cpu_line():
    host = HostTimes.parse(STAT, ticks_per_s=100)
    assert host == HostTimes(busy_s=1.55, idle_s=8.1, steal_s=0.2)


def test_host_times_reject_text_without_a_cpu_line():
    with pytest.raises(ValueError, match="cpu"):
        HostTimes.parse("intr 1 2 3\n", ticks_per_s=100)


def _snapshot(wall, cpu, nivcsw, busy, steal):
    return Snapshot(wall, cpu, 0, nivcsw, HostTimes(busy_s=busy, idle_s=0.0, steal_s=steal))


def test_contention_is_the_difference_of_two_snapshots():
    start = _snapshot(wall=10.0, cpu=1.0, nivcsw=5, busy=100.0, steal=2.0)
    end = _snapshot(wall=12.0, cpu=4.0, nivcsw=25, busy=104.0, steal=2.4)
    busy = Contention.between(start, end, cores=2)
    assert busy.wall_s == pytest.approx(2.0)
    assert busy.process_cpu_s == pytest.approx(3.0)
    assert busy.others_busy_s == pytest.approx(1.0)  # host busy 4 s, 3 s of it this process
    assert busy.others_share == pytest.approx(0.25)  # 1 s of 2 cores x 2 s
    assert busy.steal_share == pytest.approx(0.1)
    assert busy.involuntary_per_s == pytest.approx(10.0)


def test_contention_without_host_counters_keeps_the_process_ones():
    start = Snapshot(0.0, 0.0, 0, 0, None)
    busy = Contention.between(start, Snapshot(1.0, 0.5, 3, 1, None), cores=2)
    assert busy.others_busy_s is None
    assert busy.others_share is None
    assert busy.process_cpu_s == 0.5
    assert busy.voluntary_switches == 3


def test_a_real_busy_loop_shows_in_the_process_counters():
    start = Snapshot.take()
    total = sum(i * i for i in range(2_000_000))
    busy = Contention.between(start, Snapshot.take())
    assert total > 0
    assert busy.process_cpu_s > 0
    assert busy.wall_s > 0
    assert busy.others_busy_s is None or busy.others_busy_s >= 0


def test_step_time_stats_round_trip_with_and_without_contention():
    plain = StepTimeStats.from_fits([0.1, 0.1, 0.1], [0.2, 0.2, 0.2], 10, 1)
    record = plain.to_dict()
    del record["contention"]  # files written before the counters existed
    assert StepTimeStats.from_dict(record) == plain
    start = _snapshot(wall=0.0, cpu=0.0, nivcsw=0, busy=0.0, steal=0.0)
    counted = StepTimeStats(
        **{**vars(plain), "contention": Contention.between(start, start, cores=2)}
    )
    assert StepTimeStats.from_dict(counted.to_dict()) == counted
