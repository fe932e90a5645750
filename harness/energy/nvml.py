"""GPU energy through NVML (package nvidia-ml-py, ``import pynvml``).

For each GPU the study uses, the total-energy counter (Volta and newer, millijoules) is read at the
window's edges: ``nvml_counter``. Where a GPU has no such counter, its power (milliwatts) is polled in a
background thread and integrated over time with the trapezoid rule: ``nvml_power``. CUDA is
synchronised at both edges (through the ``synchronize`` callback), the end's before the window's
clock stops, so one round's queued kernels count in its joules and its seconds, never in the next.
NVML stays initialised for the whole study and is shut down by ``close``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.energy.base import Measurement, Meter
from harness.errors import MeterUnavailable

# A counter that has not moved over a window this long is stuck: a running GPU always draws power.
POLL_INTERVAL_S = 0.1  # the default: seconds between power samples of a GPU without an energy counter
STUCK_COUNTER_S = 1.0


def _nvml() -> Any:
    try:
        import pynvml
    except ImportError as exc:
        raise MeterUnavailable("NVML: nvidia-ml-py is not installed; pip install nvidia-ml-py") from exc
    return pynvml


def init_nvml() -> Any:
    """Import pynvml and initialise NVML, or say why it cannot be read here."""
    nvml = _nvml()
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise MeterUnavailable(f"NVML: cannot initialise ({exc}); no NVIDIA driver on this machine") from exc
    return nvml


def visible_devices(count: int, env: str | None) -> list[str]:
    """NVML indices (as strings) or UUIDs of the GPUs CUDA shows, in CUDA's order."""
    if env is None:
        return [str(i) for i in range(count)]
    devices = []
    for item in env.split(","):
        item = item.strip()
        if not item or item == "-1":
            break  # CUDA ignores everything after an invalid entry
        devices.append(item)
    return devices


@dataclass
class Gpu:
    index: int  # the CUDA ordinal the study uses
    handle: Any
    name: str
    has_counter: bool
    power_limit_w: float | None
    # NVML's instant power field (NVML_FI_DEV_POWER_INSTANT), where the driver has it. The plain
    # power reading is a 1-s average on Ampere and newer: polled, it lags each window's edges.
    instant_power: bool = False
    # How often the energy counter advances (measured at open; None: not within the probe). A window
    # shorter than this may see the counter not move at all, or move by a whole period.
    counter_period_s: float | None = None


def instant_power_w(nvml: Any, handle: Any) -> float | None:
    """The GPU's instant power in watts, or None where the driver does not give the field."""
    field = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", None)
    if field is None or not hasattr(nvml, "nvmlDeviceGetFieldValues"):
        return None
    try:
        value = nvml.nvmlDeviceGetFieldValues(handle, [field])[0]
    except nvml.NVMLError:
        return None
    if value.nvmlReturn != getattr(nvml, "NVML_SUCCESS", 0):
        return None
    return float(value.value.uiVal) / 1000.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bare_uuid(uuid: str) -> str:
    """A UUID without NVML's ``GPU-``/``MIG-`` prefix, lower case (torch reports it bare)."""
    u = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        u = u.removeprefix(prefix)
    return u


def mig_refusal(ordinal: int, what: str) -> str:
    return (
        f"NVML: CUDA device {ordinal} is a MIG instance ({what}); NVML has no energy counter per MIG "
        f"instance, and the whole GPU's would count the other instances' work: run on a GPU with MIG "
        f"off, or use meter=estimate"
    )


def find_by_uuid(nvml: Any, uuid: str, ordinal: int) -> Any:
    """The NVML handle of the GPU whose UUID CUDA reports for ``ordinal``; a MIG instance is refused
    (MeterUnavailable), as is a UUID no GPU has."""
    want = _bare_uuid(uuid)
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        if _bare_uuid(_text(nvml.nvmlDeviceGetUUID(handle))) == want:
            return handle
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        except nvml.NVMLError:  # no MIG on this board
            continue
        if current != getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
            continue
        for k in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, k)
            except nvml.NVMLError:
                continue
            if _bare_uuid(_text(nvml.nvmlDeviceGetUUID(mig))) == want:
                name = _text(nvml.nvmlDeviceGetName(handle))
                raise MeterUnavailable(mig_refusal(ordinal, f"MIG {k} of GPU {i}, {name}"))
    raise MeterUnavailable(f"NVML: no GPU has the UUID {uuid} that CUDA reports for device {ordinal}")


def counter_period_s(nvml: Any, handle: Any, probe_s: float = 0.3) -> float | None:
    """How often the energy counter advances: the median time between its changes, read for up to
    ``probe_s`` (None: it moved fewer than three times in that while)."""
    changes: list[float] = []
    last = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    end = time.perf_counter() + probe_s
    while time.perf_counter() < end and len(changes) < 6:
        time.sleep(0.001)
        value = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        if value != last:
            changes.append(time.perf_counter())
            last = value
    if len(changes) < 3:
        return None
    gaps = sorted(b - a for a, b in itertools.pairwise(changes))
    return gaps[len(gaps) // 2]


def power_w(nvml: Any, gpu: Gpu) -> float | None:
    """The GPU's power now, in watts: the instant field where the driver has it, else the plain (on
    Ampere and newer, 1-s averaged) reading; None when NVML fails to answer."""
    try:
        if gpu.instant_power and (watts := instant_power_w(nvml, gpu.handle)) is not None:
            return watts
        return float(nvml.nvmlDeviceGetPowerUsage(gpu.handle)) / 1000.0
    except nvml.NVMLError:
        return None


class _PowerPoller:
    """Polls the power of the counter-less GPUs through a window and integrates it over exactly the
    window's span: the trapezoid rule between samples, with power interpolated at the window's start
    and end (the poller starts a little before the window's clock and stops a little after it)."""

    def __init__(self, nvml: Any, gpus: list[Gpu], interval_s: float) -> None:
        self.nvml, self.gpus, self.interval_s = nvml, gpus, interval_s
        self.errors = 0
        self.stop = threading.Event()
        self.samples: list[list[tuple[float, float]]] = [[] for _ in gpus]  # (time, watts) per GPU
        self.sample()
        self.thread = threading.Thread(target=self._run, name="nvml-power", daemon=True)
        self.thread.start()

    def _power_w(self, gpu: Gpu) -> float | None:
        watts = power_w(self.nvml, gpu)
        if watts is None:
            self.errors += 1
        return watts

    def sample(self) -> None:
        for i, gpu in enumerate(self.gpus):
            power, now = self._power_w(gpu), time.perf_counter()
            if power is not None:
                self.samples[i].append((now, power))

    def _run(self) -> None:
        while not self.stop.wait(self.interval_s):
            self.sample()

    def finish(self, start: float, end: float) -> list[float]:
        """Joules per GPU between perf_counter times ``start`` and ``end``."""
        self.stop.set()
        self.thread.join()
        self.sample()
        return [integrate(points, start, end) for points in self.samples]


def integrate(points: list[tuple[float, float]], start: float, end: float) -> float:
    """The integral of power over [start, end], linear between samples and flat beyond the first and
    last sample."""
    if not points or end <= start:
        return 0.0

    def power_at(t: float) -> float:
        if t <= points[0][0]:
            return points[0][1]
        for (t0, p0), (t1, p1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                return p0 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)
        return points[-1][1]

    inside = [(t, p) for t, p in points if start < t < end]
    knots = [(start, power_at(start)), *inside, (end, power_at(end))]
    return sum((p0 + p1) / 2 * (t1 - t0) for (t0, p0), (t1, p1) in itertools.pairwise(knots))


class NvmlMeter(Meter):
    def __init__(
        self,
        cuda_indices: list[int],
        *,
        poll_interval_s: float = POLL_INTERVAL_S,
        synchronize: Callable[[], None] | None = None,
        cuda_uuids: list[str | None] | None = None,
    ) -> None:
        self.nvml = nvml = init_nvml()
        self.poll_interval_s = poll_interval_s
        self.synchronize = synchronize or (lambda: None)
        try:
            self.gpus = self._open(cuda_indices, cuda_uuids or [])
        except nvml.NVMLError as exc:
            # Any NVML error while finding the GPUs (a UUID NVML does not know, a MIG instance, a
            # driver that answers NotSupported): this meter is unavailable, said in one line, and
            # meter=auto falls back instead of aborting the study.
            nvml.nvmlShutdown()
            raise MeterUnavailable(f"NVML: cannot open the GPUs the study uses ({exc})") from exc
        except BaseException:
            nvml.nvmlShutdown()
            raise
        self.source = self._label()

    def _label(self) -> str:
        counters = {g.has_counter for g in self.gpus}
        return "+".join(
            s for s, on in (("nvml_counter", True in counters), ("nvml_power", False in counters)) if on
        )

    def _open(self, cuda_indices: list[int], cuda_uuids: list[str | None]) -> list[Gpu]:
        nvml = self.nvml
        visible = visible_devices(nvml.nvmlDeviceGetCount(), os.environ.get("CUDA_VISIBLE_DEVICES"))
        if not cuda_indices:
            raise MeterUnavailable("NVML: the study uses no GPU (study.device=cpu)")
        gpus = []
        for k, ordinal in enumerate(cuda_indices):
            uuid = cuda_uuids[k] if k < len(cuda_uuids) else None
            if uuid:
                # CUDA's own UUID for the device: right whatever CUDA_DEVICE_ORDER and
                # CUDA_VISIBLE_DEVICES (indices, shortened UUIDs) say.
                handle = find_by_uuid(nvml, uuid, ordinal)
            else:
                if ordinal >= len(visible):
                    raise MeterUnavailable(
                        f"NVML: CUDA device {ordinal} is not among CUDA_VISIBLE_DEVICES={visible}"
                    )
                ident = visible[ordinal]
                if ident.upper().startswith("MIG-"):
                    raise MeterUnavailable(mig_refusal(ordinal, ident))
                if ident.isdigit():
                    handle = nvml.nvmlDeviceGetHandleByIndex(int(ident))
                else:
                    handle = nvml.nvmlDeviceGetHandleByUUID(ident)
            name = _text(nvml.nvmlDeviceGetName(handle))
            try:
                # Some boards answer but never advance the counter (it reads 0 since the driver
                # loaded): that is no counter either. Pre-Volta boards raise NotSupported.
                has_counter = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) > 0
            except nvml.NVMLError:
                has_counter = False  # poll power instead
            try:
                limit_w: float | None = nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
            except nvml.NVMLError:
                limit_w = None
            instant = instant_power_w(nvml, handle) is not None
            gpu = Gpu(ordinal, handle, name, has_counter, limit_w, instant)
            if has_counter:
                gpu.counter_period_s = counter_period_s(nvml, handle)
            gpus.append(gpu)
        return gpus

    def _counters_mj(self) -> list[int | None]:
        return [
            self.nvml.nvmlDeviceGetTotalEnergyConsumption(g.handle) if g.has_counter else None
            for g in self.gpus
        ]

    def _read_counters(self) -> list[int | None] | str:
        """Each GPU's counter (None: it has none), or what went wrong reading them."""
        try:
            return self._counters_mj()
        except self.nvml.NVMLError as exc:
            return f"NVML energy counter read failed ({exc})"

    def _other_processes(self) -> int:
        """How many other processes are running on the metered GPUs (NVML's compute process list).
        Where NVML reports PIDs of another namespace (a container) and ours is not among them, one of
        those listed is taken to be this process. 0 where the driver does not list them."""
        me, others = os.getpid(), 0
        for gpu in self.gpus:
            try:
                pids = {int(p.pid) for p in self.nvml.nvmlDeviceGetComputeRunningProcesses(gpu.handle)}
            except (self.nvml.NVMLError, AttributeError):
                continue
            others = max(others, len(pids - {me}) - (0 if me in pids else 1))
        return max(others, 0)

    def _begin(self) -> tuple[list[int | None] | str, _PowerPoller | None, int]:
        self.synchronize()
        polled = [g for g in self.gpus if not g.has_counter]
        poller = _PowerPoller(self.nvml, polled, self.poll_interval_s) if polled else None
        return self._read_counters(), poller, self._other_processes()

    def _settle(self) -> None:
        self.synchronize()

    def _end(
        self, token: tuple[list[int | None] | str, _PowerPoller | None, int], duration_s: float
    ) -> Measurement:
        window_end = time.perf_counter()  # the clock stopped just before, after _settle drained CUDA
        start, poller, others_at_start = token
        end = self._read_counters()
        others = max(others_at_start, self._other_processes())
        measurement = self._reading(start, end, poller, window_end, duration_s)
        return dataclasses.replace(measurement, others=others)

    def _reading(
        self,
        start: list[int | None] | str,
        end: list[int | None] | str,
        poller: _PowerPoller | None,
        window_end: float,
        duration_s: float,
    ) -> Measurement:
        polled_j = sum(poller.finish(window_end - duration_s, window_end)) if poller is not None else 0.0
        failed = [x for x in (start, end) if isinstance(x, str)]
        if failed:  # a read error: no reading for this window, never a partial one
            return Measurement(None, self.source, duration_s, {}, note=failed[0])
        assert not isinstance(start, str) and not isinstance(end, str)
        if poller is not None and poller.errors:
            return Measurement(
                None, self.source, duration_s, {}, note=f"NVML power reads failed {poller.errors} times"
            )
        stuck = [
            g
            for g, a, b in zip(self.gpus, start, end, strict=True)
            if a is not None and a == b and duration_s >= STUCK_COUNTER_S
        ]
        if stuck:
            # A counter that does not move on a running GPU is broken, not idle: no reading for
            # this window (never 0 J), and power polling from the next window on.
            for gpu in stuck:
                gpu.has_counter = False
            self.source = self._label()
            names = ", ".join(f"GPU {g.index} ({g.name})" for g in stuck)
            return Measurement(
                None,
                self.source,
                duration_s,
                {},
                note=f"the energy counter of {names} did not advance in {duration_s:.1f} s; "
                "polling its power from now on",
            )
        energy_j, notes, approximated = polled_j, [], False
        for gpu, a, b in zip(self.gpus, start, end, strict=True):
            if a is None or b is None:
                continue
            period = gpu.counter_period_s or STUCK_COUNTER_S
            if duration_s < period:
                # Shorter than the counter's update period: it moved by 0 or a whole period. The
                # power at the window's end times its length is the reading, labelled as such.
                watts = power_w(self.nvml, gpu)
                if watts is None:
                    return Measurement(
                        None,
                        self.source,
                        duration_s,
                        {},
                        note=f"a {duration_s:.3f} s window is shorter than GPU {gpu.index}'s energy counter "
                        f"period ({period:.2f} s) and its power could not be read",
                    )
                energy_j += watts * duration_s
                approximated = True
                notes.append(
                    f"GPU {gpu.index}: power x time ({watts:.0f} W), the {duration_s:.3f} s window being "
                    f"shorter than its energy counter's {period:.2f} s period"
                )
            else:
                energy_j += (b - a) / 1000.0
        source = "nvml_power" if approximated and self.source == "nvml_counter" else self.source
        return Measurement(energy_j, source, duration_s, {"gpu": energy_j}, note="; ".join(notes))

    def _peek(
        self, token: tuple[list[int | None] | str, _PowerPoller | None, int], duration_s: float
    ) -> Measurement | None:
        start, poller, _ = token
        now = self._read_counters()
        if isinstance(start, str) or isinstance(now, str):
            return None
        energy_j = sum(
            (b - a) / 1000.0 for a, b in zip(start, now, strict=True) if a is not None and b is not None
        )
        if poller is not None:
            t = time.perf_counter()
            energy_j += sum(integrate(list(points), t - duration_s, t) for points in poller.samples)
        return Measurement(energy_j, self.source, duration_s, {"gpu": energy_j})

    def describe(self) -> dict[str, Any]:
        return {
            "gpu_names": [g.name for g in self.gpus],
            "gpu_power_limits_w": [g.power_limit_w for g in self.gpus],
            "gpu_energy": ["nvml_counter" if g.has_counter else "nvml_power" for g in self.gpus],
            "gpu_power_field": ["instant" if g.instant_power else "average" for g in self.gpus],
        }

    def close(self) -> None:
        if self.nvml is not None:
            self.nvml.nvmlShutdown()
            self.nvml = None
