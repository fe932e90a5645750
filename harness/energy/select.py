"""Build the configured meter. ``auto`` falls back per domain and says once what it chose and why."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from harness.energy.base import CompositeMeter, Meter, NullMeter
from harness.energy.estimate import EstimateMeter
from harness.errors import MeterUnavailable


def make_meter(
    name: str,
    *,
    watts_per_core: float = 10.0,
    powercap_root: str | Path = "/sys/class/powercap",
    poll_interval_s: float = 0.1,
    cuda_indices: list[int] | None = None,
    synchronize: Callable[[], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> Meter:
    """``rapl``/``nvml`` raise MeterUnavailable when unreadable; ``auto`` falls back and announces it.

    auto = NVML for each GPU the study uses (when it uses any) + RAPL for CPU and DRAM, where RAPL
    is unreadable the CPU-time estimate for the CPU instead.
    """
    say = announce or (lambda message: print(f"harness: {message}", file=sys.stderr))
    if name == "none":
        return NullMeter()
    if name == "estimate":
        return EstimateMeter(watts_per_core)
    if name == "rapl":
        from harness.energy.rapl import RaplMeter

        return RaplMeter(powercap_root)
    if name == "nvml":
        from harness.energy.nvml import NvmlMeter

        return NvmlMeter(cuda_indices or [], poll_interval_s=poll_interval_s, synchronize=synchronize)
    if name != "auto":
        raise ValueError(f"unknown meter {name!r}")

    meters: list[Meter] = []
    if cuda_indices:
        from harness.energy.nvml import NvmlMeter

        try:
            meters.append(NvmlMeter(cuda_indices, poll_interval_s=poll_interval_s, synchronize=synchronize))
        except MeterUnavailable as exc:
            say(f"meter: {exc}; GPU energy is not measured")
    from harness.energy.rapl import RaplMeter

    try:
        meters.append(RaplMeter(powercap_root))
    except MeterUnavailable as exc:
        say(f"meter: {exc}; CPU energy is the labelled estimate ({watts_per_core:g} W per busy core)")
        meters.append(EstimateMeter(watts_per_core))
    return meters[0] if len(meters) == 1 else CompositeMeter(meters)
