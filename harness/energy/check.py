"""`harness-meter`: which energy meters this machine can read, why not, and a short reading of each.

The first thing to run on a new server, before a study relies on its joules.
"""

from __future__ import annotations

from harness.signals import stop_with_one_line

stop_with_one_line("harness-meter", "stopped; it only reads the meters, nothing was written")

import argparse
import math
import os
import sys
import time
from collections.abc import Callable

from harness.energy.base import Meter
from harness.energy.estimate import WATTS_PER_CORE, EstimateMeter
from harness.errors import MeterUnavailable

MAX_SECONDS = 3600.0  # each meter is read for this long: an hour is already more than a check needs


def _busy(seconds: float) -> None:
    """Keep one core busy, so that a reading shows the meter responds to load."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def _try(build: Callable[[], Meter]) -> tuple[Meter | None, str]:
    try:
        return build(), ""
    except MeterUnavailable as exc:
        return None, str(exc)


def check(powercap_root: str, watts_per_core: float, seconds: float, gpus: list[int] | None) -> int:
    from harness.energy.nvml import NvmlMeter, init_nvml, visible_devices
    from harness.energy.rapl import RaplMeter

    def nvml_meter() -> Meter:
        indices = gpus
        if indices is None:
            nvml = init_nvml()
            count = len(visible_devices(nvml.nvmlDeviceGetCount(), os.environ.get("CUDA_VISIBLE_DEVICES")))
            nvml.nvmlShutdown()
            if count == 0:
                raise MeterUnavailable("NVML: no GPU is visible (CUDA_VISIBLE_DEVICES)")
            indices = list(range(count))
        return NvmlMeter(indices)

    candidates = [
        ("NVML (GPU)", nvml_meter),
        ("RAPL (CPU package, DRAM)", lambda: RaplMeter(powercap_root)),
        ("estimate (CPU time)", lambda: EstimateMeter(watts_per_core)),
    ]
    readable: list[tuple[str, Meter]] = []
    print("harness-meter: energy meters on this machine")
    for label, build in candidates:
        meter, why = _try(build)
        if meter is None:
            print(f"  {label:26} unavailable: {why}")
        else:
            details = ", ".join(f"{k}={v}" for k, v in meter.describe().items())
            print(f"  {label:26} readable ({details})")
            readable.append((label, meter))
    hardware = [m.source for label, m in readable if not isinstance(m, EstimateMeter)]
    if hardware:
        print(f"meter=auto will use: {' + '.join(hardware)} (GPU meters only when study.device=cuda)")
    else:
        print(
            "meter=auto will use: estimate. No GPU and no readable RAPL counters here: every study's "
            f"joules will be the labelled estimate (CPU seconds x {watts_per_core:g} W per busy core)."
        )
    print(f"{seconds:g}-second readings while this process keeps one core busy:")
    for label, meter in readable:
        try:
            with meter.window() as window:
                _busy(seconds)
            m = window.measurement
            assert m is not None
            if m.energy_j is None:
                print(f"  {label:26} no reading ({m.note})")
            else:
                parts = ", ".join(f"{d} {j:.2f} J" for d, j in m.parts_j.items())
                print(
                    f"  {label:26} {m.energy_j:.2f} J over {m.duration_s:.2f} s = "
                    f"{m.energy_j / m.duration_s:.2f} W [{m.source}: {parts}]"
                )
        finally:
            meter.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="harness-meter", description=__doc__.splitlines()[0])
    p.add_argument("--powercap-root", default="/sys/class/powercap", help="root of the powercap sysfs tree")
    p.add_argument(
        "--watts-per-core", type=float, default=WATTS_PER_CORE, help="the estimate's watts per busy core"
    )
    p.add_argument("--seconds", type=float, default=5.0, help="length of each reading (default 5)")
    p.add_argument("--gpus", type=int, nargs="*", default=None, help="CUDA ordinals to read (default: all)")
    args = p.parse_args(argv)
    wrong = None
    if not 0 < args.seconds <= MAX_SECONDS:  # also false for nan
        wrong = f"--seconds {args.seconds:g}: give a number of seconds above 0 and at most {MAX_SECONDS:g}"
    elif not 0 <= args.watts_per_core < math.inf:
        wrong = f"--watts-per-core {args.watts_per_core:g}: give a finite number of watts, 0 or more"
    if wrong:
        print(f"harness-meter: error: {wrong}", file=sys.stderr)
        sys.exit(2)
    sys.exit(check(args.powercap_root, args.watts_per_core, args.seconds, args.gpus))


if __name__ == "__main__":
    main()
