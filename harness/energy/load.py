"""The machine's load over a metering window: other processes' CPU use, and the hypervisor's steal.

A round measured while other work ran is not comparable with a quiet one: the CPU-time estimate
bills this process's share of a contended core, RAPL counts the other work outright, and every
duration stretches. Linux's /proc/stat gives the machine's CPU time by kind since boot; the
difference between a window's edges, less this process's own CPU time, is the other processes'
use, in cores. A window is flagged as contended when that reaches ``OTHERS_CORES`` or when the
hypervisor stole ``STEAL`` of the machine's CPU time (a busy neighbour on a shared host).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# Mean cores busy with other processes' work over the window from which a round counts as contended.
OTHERS_CORES = 0.5
STEAL = 0.05  # fraction of the machine's CPU time stolen by the hypervisor
# Shorter windows span too few clock ticks (10 ms each) to tell load from rounding.
MIN_WINDOW_S = 1.0


@dataclass(frozen=True)
class Load:
    others_cores: float  # mean cores busy with other processes' work (this process's own excluded)
    steal: float  # fraction of the machine's CPU time the hypervisor gave to other guests

    @property
    def contended(self) -> bool:
        return self.others_cores >= OTHERS_CORES or self.steal >= STEAL


@dataclass(frozen=True)
class _Sample:
    busy_s: float  # the machine's busy CPU seconds since boot, all cores
    steal_s: float
    total_s: float
    own_s: float  # this process's CPU seconds (all threads, and waited-for children)


def process_cpu_s() -> float:
    """User + system CPU seconds of this process (all threads) and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class LoadProbe:
    """Reads /proc/stat at a window's edges; where it cannot (not Linux), the load is unknown."""

    def __init__(self, stat_path: Path = PROC_STAT) -> None:
        self.stat_path = stat_path
        self._tick_s = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01

    def sample(self) -> _Sample | None:
        try:
            with open(self.stat_path) as f:
                first = f.readline().split()
        except OSError:
            return None
        if not first or first[0] != "cpu" or len(first) < 5:
            return None
        # user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
        ticks = [int(v) for v in first[1:9]] + [0] * (9 - len(first))
        user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
        t = self._tick_s
        return _Sample(
            busy_s=(user + nice + system + irq + softirq) * t,
            steal_s=steal * t,
            total_s=(user + nice + system + idle + iowait + irq + softirq + steal) * t,
            own_s=process_cpu_s(),
        )

    @staticmethod
    def between(start: _Sample | None, end: _Sample | None, duration_s: float) -> Load | None:
        """The load over a window; None where a sample is missing or the window is too short."""
        if start is None or end is None or duration_s < MIN_WINDOW_S:
            return None
        total = end.total_s - start.total_s
        if total <= 0:
            return None
        others = max(0.0, (end.busy_s - start.busy_s) - (end.own_s - start.own_s))
        return Load(others_cores=others / duration_s, steal=(end.steal_s - start.steal_s) / total)
