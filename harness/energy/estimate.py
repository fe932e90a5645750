"""The labelled estimate: this process's CPU time (with its children) times watts per busy core.

A rough model for machines without a readable counter. CPU seconds count every busy thread,
including OpenMP threads that spin while waiting (OMP_WAIT_POLICY=active), so the thread count and
wait policy are recorded with every study that uses it.
"""

from __future__ import annotations

from harness.energy.base import Measurement, Meter
from harness.energy.load import process_cpu_s

WATTS_PER_CORE = 10.0  # the default: watts drawn per fully busy core (docs/measurement.md says why)


class EstimateMeter(Meter):
    source = "estimate"

    def __init__(self, watts_per_core: float) -> None:
        self.watts_per_core = watts_per_core

    def _begin(self) -> float:
        return process_cpu_s()

    def _end(self, token: float, duration_s: float) -> Measurement:
        energy_j = (process_cpu_s() - token) * self.watts_per_core
        return Measurement(energy_j, self.source, duration_s, {"cpu": energy_j})

    def _peek(self, token: float, duration_s: float) -> Measurement:
        return self._end(token, duration_s)  # reading CPU time changes nothing

    def describe(self) -> dict[str, object]:
        return {"meter": self.source, "watts_per_core": self.watts_per_core}
