"""Energy meters: a window around work returns a Measurement in joules with its source.

Each option of ``meter`` builds its meter (harness/config/meter.py): ``auto`` is the chain NVML
(per GPU in use) + RAPL (CPU package, DRAM) where readable, else the CPU-time estimate; ``estimate``,
``rapl``, ``nvml`` and ``none`` ask for one meter explicitly. "No reading" is never zero: energy_j
is None then.
"""

from __future__ import annotations

from harness.energy.base import CompositeMeter, Measurement, Meter, NullMeter
from harness.energy.estimate import EstimateMeter

__all__ = ["CompositeMeter", "EstimateMeter", "Measurement", "Meter", "NullMeter"]
