"""A powercap sysfs tree on disk, as the intel_rapl driver lays it out, with counters we control."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # sysfs reads never see half a value


class FakePowercap:
    """Packages with core, uncore and dram subzones, plus a duplicate mmio package zone."""

    def __init__(self, root: Path, *, packages: int = 1, max_range_j: float = 262_143.0) -> None:
        self.root = root
        self.max_range_uj = int(max_range_j * 1e6)
        self.zones: dict[str, Path] = {}
        for p in range(packages):
            top = root / f"intel-rapl:{p}"
            self._zone(top, f"package-{p}", f"package-{p}")
            for i, name in enumerate(("core", "uncore", "dram")):
                self._zone(top / f"intel-rapl:{p}:{i}", name, f"package-{p}/{name}")
        self._zone(root / "intel-rapl-mmio:0", "package-0", "mmio")
        self.lock = threading.Lock()

    def _zone(self, path: Path, name: str, key: str) -> None:
        path.mkdir(parents=True)
        _write(path / "name", name + "\n")
        _write(path / "max_energy_range_uj", f"{self.max_range_uj}\n")
        _write(path / "energy_uj", "0\n")
        self.zones[key] = path

    def read_uj(self, key: str) -> int:
        return int((self.zones[key] / "energy_uj").read_text())

    def set_j(self, key: str, joules: float) -> None:
        _write(self.zones[key] / "energy_uj", f"{round(joules * 1e6)}\n")

    def advance_j(self, key: str, joules: float) -> None:
        with self.lock:
            value = (self.read_uj(key) + round(joules * 1e6)) % self.max_range_uj
            _write(self.zones[key] / "energy_uj", f"{value}\n")


class PowerWriter:
    """Advances counters in the background as if each zone drew a constant power."""

    def __init__(self, tree: FakePowercap, watts: dict[str, float], period_s: float = 0.001) -> None:
        self.tree, self.watts, self.period_s = tree, watts, period_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self.stop.wait(self.period_s):
            now = time.perf_counter()
            for key, watts in self.watts.items():
                self.tree.advance_j(key, watts * (now - last))
            last = now

    def __enter__(self) -> PowerWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
