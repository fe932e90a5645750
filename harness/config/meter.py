"""The options of ``meter``: each builds its energy meter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.base import Option, at_least
from harness.energy.estimate import WATTS_PER_CORE
from harness.energy.nvml import POLL_INTERVAL_S
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.energy.base import Meter


@dataclasses.dataclass(frozen=True)
class MeterUse:
    """What a meter needs beyond its settings: the GPUs the study uses (none: the CPU only), how to
    wait for their work, and who hears what ``auto`` chose and why (stderr by default)."""

    cuda_indices: tuple[int, ...] = ()
    cuda_uuids: tuple[str | None, ...] = ()  # CUDA's UUID of each (torch), to find it in NVML
    synchronize: Callable[[], None] | None = None
    announce: Callable[[str], None] | None = None


CPU_ONLY = MeterUse()


@dataclasses.dataclass
class MeterConfig(Option):
    """none: no metering; energy_j stays empty (never zero) and energy_source is ``none``."""

    OPTIONS: ClassVar[tuple[str, ...]] = ("none",)
    RECORDED: ClassVar[dict[str, Any]] = {
        "watts_per_core": WATTS_PER_CORE,
        "poll_interval_s": POLL_INTERVAL_S,
    }
    # Where a meter reads and the idle baseline change no round's joules.
    NOT_FINGERPRINTED: ClassVar[tuple[str, ...]] = ("powercap_root", "idle_s")
    # Whether the meter gives joules at all: what energy-aware strategies and budgets need.
    measures: ClassVar[bool] = False

    @property
    def idle_seconds(self) -> float:
        """How long to measure idle power before the study (0: not at all)."""
        return 0.0

    def build(self, use: MeterUse = CPU_ONLY) -> Meter:
        """The meter for a study that uses what ``use`` says."""
        from harness.energy.base import NullMeter

        return NullMeter()


@dataclasses.dataclass
class MeteredConfig(MeterConfig):
    """What every meter that reads something takes."""

    idle_s: float = 0.0  # measure idle power for this long before the study (0: skip)

    OPTIONS: ClassVar[tuple[str, ...]] = ()
    measures: ClassVar[bool] = True

    @property
    def idle_seconds(self) -> float:
        return self.idle_s

    def check(self) -> None:
        at_least(self.idle_s, 0.0, "meter.idle_s")


@dataclasses.dataclass
class EstimateMeterConfig(MeteredConfig):
    """estimate: process CPU time (with children) x watts_per_core, labelled ``estimate``."""

    watts_per_core: float = WATTS_PER_CORE  # watts drawn per fully busy core (see docs/measurement.md)

    OPTIONS: ClassVar[tuple[str, ...]] = ("estimate",)

    def build(self, use: MeterUse = CPU_ONLY) -> Meter:
        from harness.energy.estimate import EstimateMeter

        return EstimateMeter(self.watts_per_core)

    def check(self) -> None:
        super().check()
        at_least(self.watts_per_core, 0.0, "meter.watts_per_core")


@dataclasses.dataclass
class RaplMeterConfig(MeteredConfig):
    """rapl: the CPU package and DRAM counters of the powercap tree; unreadable is an error."""

    powercap_root: str = "/sys/class/powercap"  # where the RAPL counters are (a tree on disk in tests)

    OPTIONS: ClassVar[tuple[str, ...]] = ("rapl",)

    def build(self, use: MeterUse = CPU_ONLY) -> Meter:
        from harness.energy.rapl import RaplMeter

        return RaplMeter(self.powercap_root)


@dataclasses.dataclass
class NvmlMeterConfig(MeteredConfig):
    """nvml: the NVIDIA GPUs the study uses; an energy counter, else power polled every
    poll_interval_s."""

    poll_interval_s: float = POLL_INTERVAL_S  # seconds between power samples of a GPU without a counter

    OPTIONS: ClassVar[tuple[str, ...]] = ("nvml",)

    def build(self, use: MeterUse = CPU_ONLY) -> Meter:
        from harness.energy.nvml import NvmlMeter

        return NvmlMeter(
            list(use.cuda_indices),
            poll_interval_s=self.poll_interval_s,
            synchronize=use.synchronize,
            cuda_uuids=list(use.cuda_uuids),
        )

    def check(self) -> None:
        super().check()
        if self.poll_interval_s <= 0:
            raise ConfigError(f"meter.poll_interval_s={self.poll_interval_s} must be positive")


@dataclasses.dataclass
class AutoMeterConfig(EstimateMeterConfig, RaplMeterConfig, NvmlMeterConfig):
    """auto: NVML for each GPU in use and RAPL for CPU and DRAM where readable; else the estimate.
    Its settings are the three meters' own (declared there once), and so are their checks."""

    OPTIONS: ClassVar[tuple[str, ...]] = ("auto",)

    def build(self, use: MeterUse = CPU_ONLY) -> Meter:
        from harness.energy.select import auto_meter

        return auto_meter(
            watts_per_core=self.watts_per_core,
            powercap_root=self.powercap_root,
            poll_interval_s=self.poll_interval_s,
            cuda_indices=list(use.cuda_indices),
            cuda_uuids=list(use.cuda_uuids),
            synchronize=use.synchronize,
            announce=use.announce,
        )


SCHEMAS: tuple[type[MeterConfig], ...] = (
    MeterConfig,
    EstimateMeterConfig,
    RaplMeterConfig,
    NvmlMeterConfig,
    AutoMeterConfig,
)
