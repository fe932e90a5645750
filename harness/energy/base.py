"""The meter interface: ``with meter.window() as w: ...`` then ``w.measurement``."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from harness.energy.load import Load, LoadProbe


@dataclass(frozen=True)
class Measurement:
    """Energy over one window. ``energy_j`` is None when nothing was measured (never 0 for that)."""

    energy_j: float | None
    source: str  # nvml_counter, nvml_power, rapl, estimate, none; joined with + across domains
    duration_s: float
    parts_j: dict[str, float] = field(default_factory=dict)  # per domain: gpu, cpu, dram
    note: str = ""  # why there is no reading, when energy_j is None (or how it was approximated)
    # Other processes seen on the metered device at the window's edges (NVML's process list): their
    # work is in a device-wide counter too.
    others: int = 0
    # The machine's load over the window (other processes' CPU, steal); None where not known.
    load: Load | None = None

    @property
    def machine_wide(self) -> bool:
        """Whether a hardware counter of the whole device measured it (RAPL, NVML), which another
        process's work reaches too; the estimate counts this process's CPU time alone."""
        return any(part in ("rapl", "nvml_counter", "nvml_power") for part in self.source.split("+"))

    @staticmethod
    def combine(parts: list[Measurement], duration_s: float) -> Measurement:
        """Sum measurements of disjoint domains taken over the same window."""
        measured = [p for p in parts if p.energy_j is not None]
        notes = "; ".join(p.note for p in parts if p.note)
        others = max((p.others for p in parts), default=0)
        if len(measured) < len(parts):  # a domain without a reading: no total, never a partial one
            sources = "+".join(dict.fromkeys(p.source for p in parts))
            return Measurement(
                None, sources, duration_s, {}, note=notes or "a domain gave no reading", others=others
            )
        joined: dict[str, float] = {}
        for p in measured:
            for domain, joules in p.parts_j.items():
                joined[domain] = joined.get(domain, 0.0) + joules
        sources = "+".join(dict.fromkeys(p.source for p in measured))
        total = sum(p.energy_j for p in measured if p.energy_j is not None)
        return Measurement(total, sources, duration_s, joined, note=notes, others=others)


class Window:
    """Filled in when the ``with`` block ends; ``so_far()`` reads it while the block runs."""

    measurement: Measurement | None = None

    def __init__(self, meter: Meter | None = None, token: Any = None, start: float = 0.0) -> None:
        self._meter, self._token, self._start = meter, token, start

    def so_far(self) -> Measurement | None:
        """The energy spent since the window opened, for a meter that can read mid-window (None
        otherwise, and once the window has closed its measurement)."""
        if self.measurement is not None:
            return self.measurement
        if self._meter is None:
            return None
        return self._meter._peek(self._token, time.perf_counter() - self._start)


class Meter(ABC):
    """A source of joules. Subclasses implement ``_begin`` and ``_end``; the base times the window."""

    source: str = "none"
    probe: LoadProbe = LoadProbe()  # the machine's load at each window's edges

    @contextmanager
    def window(self) -> Iterator[Window]:
        token = self._begin()
        before = self.probe.sample()
        start = time.perf_counter()
        handle = Window(self, token, start)
        try:
            yield handle
        finally:
            # Work still queued on a device (CUDA kernels) belongs to this window: let it finish
            # before the clock stops, so the joules and the seconds cover the same span.
            self._settle()
            duration_s = time.perf_counter() - start
            load = self.probe.between(before, self.probe.sample(), duration_s)
            handle.measurement = replace(self._end(token, duration_s), load=load)

    @abstractmethod
    def _begin(self) -> Any: ...

    def _settle(self) -> None:  # noqa: B027 - most meters have no device queue to drain
        """Wait for the metered device's queued work (CUDA: synchronize) before the window closes."""

    @abstractmethod
    def _end(self, token: Any, duration_s: float) -> Measurement: ...

    def _peek(self, token: Any, duration_s: float) -> Measurement | None:
        """The window's energy so far, without closing it (from another thread); None: cannot."""
        return None

    def describe(self) -> dict[str, Any]:
        """What this meter reads, for the study's machine record."""
        return {"meter": self.source}

    def close(self) -> None:  # noqa: B027 - most meters hold nothing to release
        """Release the device library (NVML shutdown, polling threads)."""


class NullMeter(Meter):
    """Measures nothing: energy_j stays None and the source says ``none``."""

    source = "none"

    def _begin(self) -> None:
        return None

    def _end(self, token: None, duration_s: float) -> Measurement:
        return Measurement(None, "none", duration_s)


class CompositeMeter(Meter):
    """Meters of disjoint domains (GPU, CPU package and DRAM) read over one window."""

    def __init__(self, meters: list[Meter]) -> None:
        self.meters = meters
        self.source = "+".join(m.source for m in meters)

    def _begin(self) -> list[Any]:
        return [m._begin() for m in self.meters]

    def _settle(self) -> None:
        for m in self.meters:
            m._settle()

    def _end(self, token: list[Any], duration_s: float) -> Measurement:
        parts = [m._end(t, duration_s) for m, t in zip(self.meters, token, strict=True)]
        return Measurement.combine(parts, duration_s)

    def _peek(self, token: list[Any], duration_s: float) -> Measurement | None:
        parts = [m._peek(t, duration_s) for m, t in zip(self.meters, token, strict=True)]
        if any(p is None for p in parts):
            return None
        return Measurement.combine([p for p in parts if p is not None], duration_s)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"meter": self.source}
        for m in self.meters:
            info.update({k: v for k, v in m.describe().items() if k != "meter"})
        return info

    def close(self) -> None:
        for m in self.meters:
            m.close()
