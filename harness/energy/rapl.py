"""CPU package and DRAM energy from RAPL counters in the Linux powercap sysfs tree.

Only top-level package zones (``intel-rapl:N``, name ``package-N``) and their ``dram`` subzones are
read: core and uncore are parts of the package and are never added on top. ``intel-rapl-mmio`` zones
repeat the package counters through another interface and are dropped. Counters wrap at
``max_energy_range_uj``: a poller reads them often enough that no window can wrap twice unseen, each
wrap is corrected, and a corrected step implying impossible power is rejected (the window then has
no reading rather than a wrong one).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.energy.base import Measurement, Meter
from harness.errors import MeterUnavailable

# No CPU package or DRAM zone draws this much; a larger corrected step is a glitch, not energy.
MAX_PLAUSIBLE_POWER_W = 2000.0
MAX_POLL_INTERVAL_S = 10.0
REMEDY = (
    "energy_uj is readable only by root on current kernels; run as root, or grant read access with "
    "`sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*/*/energy_uj` (until reboot)"
)


@dataclass(frozen=True)
class Zone:
    path: Path
    name: str  # package-0, dram
    domain: str  # cpu or dram
    max_range_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def discover(root: Path) -> list[Zone]:
    """Package zones and their dram subzones, without core/uncore and without mmio duplicates."""
    zones: list[Zone] = []
    for top in sorted(root.glob("intel-rapl:*")):
        if top.name.count(":") != 1 or not (top / "name").is_file():
            continue  # subzones are found through their package; mmio zones are skipped by the glob
        name = (top / "name").read_text().strip()
        if not name.startswith("package"):
            continue  # psys (platform) zones overlap the packages
        zones.append(_zone(top, name, "cpu"))
        for sub in sorted(top.glob(f"{top.name}:*")):
            sub_name = (sub / "name").read_text().strip() if (sub / "name").is_file() else ""
            if sub_name == "dram":
                zones.append(_zone(sub, f"{name}/dram", "dram"))
    return zones


def _zone(path: Path, name: str, domain: str) -> Zone:
    max_file = path / "max_energy_range_uj"
    max_range = int(max_file.read_text().strip()) if max_file.is_file() else 2**32
    return Zone(path, name, domain, max_range)


def probe(root: Path) -> list[Zone]:
    """The readable zones, or MeterUnavailable saying why none can be read and what to do."""
    if not root.is_dir():
        raise MeterUnavailable(f"RAPL: no powercap tree at {root} (not Linux, or no RAPL driver loaded)")
    zones = discover(root)
    if not zones:
        raise MeterUnavailable(f"RAPL: {root} has no intel-rapl package zones (no RAPL on this CPU)")
    try:
        for zone in zones:
            zone.read_uj()
    except PermissionError as exc:
        raise MeterUnavailable(f"RAPL: cannot read {exc.filename}: {REMEDY}") from exc
    except (OSError, ValueError) as exc:
        raise MeterUnavailable(f"RAPL: cannot read {zones[0].path}/energy_uj ({exc})") from exc
    return zones


class _Accumulator:
    """Corrected energy per zone since the window began, advanced by every read. A read that fails
    (a zone that vanished, an I/O error) ends the window's reading: no joules, and a note saying why,
    never an exception out of the poll thread or the window."""

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = zones
        self.lock = threading.Lock()
        self.total_uj = [0] * len(zones)
        self.glitch = ""
        self.last: list[tuple[int, float]] = []
        try:
            self.last = [(z.read_uj(), time.perf_counter()) for z in zones]
        except (OSError, ValueError) as exc:
            self.glitch = _read_failed(exc)

    def advance(self) -> None:
        with self.lock:
            if self.glitch and not self.last:
                return
            for i, zone in enumerate(self.zones):
                try:
                    value, now = zone.read_uj(), time.perf_counter()
                except (OSError, ValueError) as exc:
                    self.glitch = self.glitch or _read_failed(exc, zone)
                    continue
                previous, then = self.last[i]
                step = value - previous
                if step < 0:  # the counter wrapped past max_energy_range_uj
                    step += zone.max_range_uj
                dt = max(now - then, 1e-6)
                if step / 1e6 / dt > MAX_PLAUSIBLE_POWER_W:
                    self.glitch = (
                        f"{zone.name}: a step of {step / 1e6:.1f} J in {dt:.3f} s implies "
                        f"{step / 1e6 / dt:.0f} W; counter reset or glitch"
                    )
                else:
                    self.total_uj[i] += step
                self.last[i] = (value, now)


def _read_failed(exc: Exception, zone: Zone | None = None) -> str:
    where = f"{zone.path}/energy_uj" if zone is not None else "a RAPL zone"
    return f"RAPL: reading {where} failed mid-window ({exc}); no reading for this window"


class RaplMeter(Meter):
    source = "rapl"

    def __init__(self, root: str | Path = "/sys/class/powercap") -> None:
        self.root = Path(root)
        self.zones = probe(self.root)
        # Poll at least twice per shortest possible wrap period at the largest plausible power.
        shortest_wrap_s = min(z.max_range_uj for z in self.zones) / 1e6 / MAX_PLAUSIBLE_POWER_W
        self.poll_interval_s = min(shortest_wrap_s / 2, MAX_POLL_INTERVAL_S)

    def _begin(self) -> tuple[_Accumulator, threading.Event, threading.Thread]:
        accumulator = _Accumulator(self.zones)
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(self.poll_interval_s):
                accumulator.advance()

        thread = threading.Thread(target=poll, name="rapl-poll", daemon=True)
        thread.start()
        return accumulator, stop, thread

    def _end(
        self, token: tuple[_Accumulator, threading.Event, threading.Thread], duration_s: float
    ) -> Measurement:
        accumulator, stop, thread = token
        stop.set()
        thread.join()
        accumulator.advance()
        if accumulator.glitch:
            return Measurement(None, self.source, duration_s, {}, note=accumulator.glitch)
        parts: dict[str, float] = {}
        for zone, uj in zip(self.zones, accumulator.total_uj, strict=True):
            parts[zone.domain] = parts.get(zone.domain, 0.0) + uj / 1e6
        return Measurement(sum(parts.values()), self.source, duration_s, parts)

    def _peek(
        self, token: tuple[_Accumulator, threading.Event, threading.Thread], duration_s: float
    ) -> Measurement | None:
        """What the polling thread has accumulated so far (up to one poll interval behind)."""
        accumulator = token[0]
        if accumulator.glitch:
            return None
        parts: dict[str, float] = {}
        for zone, uj in zip(self.zones, list(accumulator.total_uj), strict=True):
            parts[zone.domain] = parts.get(zone.domain, 0.0) + uj / 1e6
        return Measurement(sum(parts.values()), self.source, duration_s, parts)

    def describe(self) -> dict[str, Any]:
        return {
            "rapl_zones": [z.name for z in self.zones],
            "rapl_root": str(self.root),
            "rapl_poll_interval_s": self.poll_interval_s,
        }
