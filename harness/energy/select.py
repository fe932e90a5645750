"""The ``auto`` meter: it falls back per domain and says once what it chose and why. Every other
meter is built by its option (harness/config/meter.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from harness.energy.base import CompositeMeter, Meter
from harness.energy.estimate import EstimateMeter
from harness.errors import MeterUnavailable


def auto_meter(
    *,
    watts_per_core: float,
    powercap_root: str | Path,
    poll_interval_s: float,
    cuda_indices: list[int],
    cuda_uuids: list[str | None] | None = None,
    synchronize: Callable[[], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> Meter:
    """NVML for each GPU the study uses (when it uses any) + RAPL for CPU and DRAM, where RAPL is
    unreadable the CPU-time estimate for the CPU instead; says what it fell back to and why."""
    say = announce or (lambda message: print(f"harness: {message}", file=sys.stderr))
    meters: list[Meter] = []
    if cuda_indices:
        from harness.energy.nvml import NvmlMeter

        try:
            gpu = NvmlMeter(
                cuda_indices, poll_interval_s=poll_interval_s, synchronize=synchronize, cuda_uuids=cuda_uuids
            )
            meters.append(gpu)
        except MeterUnavailable as exc:
            say(f"meter: {exc}; GPU energy is not measured")
    from harness.energy.rapl import RaplMeter

    try:
        meters.append(RaplMeter(powercap_root))
    except MeterUnavailable as exc:
        say(f"meter: {exc}; CPU energy is the labelled estimate ({watts_per_core:g} W per busy core)")
        meters.append(EstimateMeter(watts_per_core))
    return meters[0] if len(meters) == 1 else CompositeMeter(meters)
