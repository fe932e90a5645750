"""A stand-in for nvidia-ml-py's ``pynvml`` module: the functions the harness calls, nothing more.

Configure ``DEVICES`` before use: each a dict with name, uuid, power_w, counter (Volta and newer
have the total-energy counter) and limit_w. Energy and power follow the wall clock. Optional, to
behave as real boards do: ``update_ms`` (the counter advances in steps, every so many milliseconds,
as real counters do), ``lost`` (every read raises NVMLError "GPU is lost", as after a driver fault),
``mig`` (MIG mode on) with ``mig_devices`` (the instances' dicts: name, uuid), and ``power_at`` (a
function of the seconds since the module loaded, giving watts: the instant power field reads it, and
the plain power reading is its average over the last second, as on Ampere and newer boards; set
``instant`` False for a driver without the instant field; such a device has no energy counter).
"""

from __future__ import annotations

import time
from typing import Any

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_DEVICE_MIG_ENABLE = 1


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        self.value = value
        super().__init__(
            {
                1: "Uninitialized",
                3: "Not Supported",
                6: "Not Found",
                12: "NVML Shared Library Not Found",
                15: "GPU is lost",
            }[value]
        )


class NVMLError_NotSupported(NVMLError):  # the real module names it so
    def __init__(self) -> None:
        super().__init__(NVML_ERROR_NOT_SUPPORTED)


DEVICES: list[dict[str, Any]] = []
STATE = {"initialised": 0, "init_calls": 0, "shutdown_calls": 0, "fail_init": False}
_T0 = time.perf_counter()


def reset(devices: list[dict[str, Any]], *, fail_init: bool = False) -> None:
    DEVICES[:] = devices
    STATE.update(initialised=0, init_calls=0, shutdown_calls=0, fail_init=fail_init)


def _check() -> None:
    if not STATE["initialised"]:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)


def nvmlInit() -> None:
    STATE["init_calls"] += 1
    if STATE["fail_init"]:
        raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
    STATE["initialised"] += 1


def nvmlShutdown() -> None:
    _check()
    STATE["shutdown_calls"] += 1
    STATE["initialised"] -= 1


def nvmlDeviceGetCount() -> int:
    _check()
    return len(DEVICES)


def nvmlDeviceGetHandleByIndex(index: int) -> dict[str, Any]:
    _check()
    return DEVICES[index]


NVML_ERROR_NOT_FOUND = 6


def nvmlDeviceGetHandleByUUID(uuid: str) -> dict[str, Any]:
    _check()
    for d in DEVICES:
        if d["uuid"] == uuid:
            return d
    raise NVMLError(NVML_ERROR_NOT_FOUND)  # as the real library does (a shortened UUID, a MIG-... id)


def nvmlDeviceGetName(handle: dict[str, Any]) -> str:
    return handle["name"]


def _lost(handle: dict[str, Any]) -> None:
    if handle.get("lost"):
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)


def nvmlDeviceGetTotalEnergyConsumption(handle: dict[str, Any]) -> int:
    _check()
    _lost(handle)
    if not handle["counter"]:
        raise NVMLError_NotSupported()
    if "stuck_at_mj" in handle:  # a board whose counter answers but never advances
        return int(handle["stuck_at_mj"])
    elapsed = time.perf_counter() - _T0
    if "update_ms" in handle:  # the counter moves in steps, as a real one does
        step = handle["update_ms"] / 1000.0
        elapsed = (elapsed // step) * step
    return int(handle.get("offset_mj", 1) + handle["power_w"] * elapsed * 1000)


def nvmlDeviceGetUUID(handle: dict[str, Any]) -> str:
    _check()
    return handle["uuid"]


def nvmlDeviceGetMigMode(handle: dict[str, Any]) -> tuple[int, int]:
    _check()
    if "mig" not in handle:
        raise NVMLError_NotSupported()  # a board without MIG
    return (handle["mig"], handle["mig"])


def nvmlDeviceGetMaxMigDeviceCount(handle: dict[str, Any]) -> int:
    _check()
    return len(handle.get("mig_devices", []))


def nvmlDeviceGetMigDeviceHandleByIndex(handle: dict[str, Any], index: int) -> dict[str, Any]:
    _check()
    devices = handle.get("mig_devices", [])
    if index >= len(devices):
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return devices[index]


def _now() -> float:
    return time.perf_counter() - _T0


def nvmlDeviceGetPowerUsage(handle: dict[str, Any]) -> int:
    _check()
    _lost(handle)
    if "power_at" in handle:  # the documented 1-s average: it lags a change by about half a second
        now = _now()
        return int(sum(handle["power_at"](now - k / 100) for k in range(100)) / 100 * 1000)
    return int(handle["power_w"] * 1000)


def nvmlDeviceGetEnforcedPowerLimit(handle: dict[str, Any]) -> int:
    _check()
    return int(handle["limit_w"] * 1000)


NVML_SUCCESS = 0
NVML_FI_DEV_POWER_INSTANT = 186


class _Value:
    def __init__(self, milliwatts: int) -> None:
        self.uiVal = milliwatts


class _FieldValue:
    def __init__(self, ret: int, milliwatts: int = 0) -> None:
        self.nvmlReturn = ret
        self.value = _Value(milliwatts)


def nvmlDeviceGetFieldValues(handle: dict[str, Any], field_ids: list[int]) -> list[_FieldValue]:
    """The instant power field where the device has one ("instant_w"); NOT_SUPPORTED otherwise, as
    older drivers answer per field rather than raising."""
    _check()
    out = []
    for field in field_ids:
        if field == NVML_FI_DEV_POWER_INSTANT and "power_at" in handle and handle.get("instant", True):
            out.append(_FieldValue(NVML_SUCCESS, int(handle["power_at"](_now()) * 1000)))
        elif field == NVML_FI_DEV_POWER_INSTANT and "instant_w" in handle:
            out.append(_FieldValue(NVML_SUCCESS, int(handle["instant_w"] * 1000)))
        else:
            out.append(_FieldValue(NVML_ERROR_NOT_SUPPORTED))
    return out


class _Process:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.usedGpuMemory = 1 << 20


def nvmlDeviceGetComputeRunningProcesses(handle: dict[str, Any]) -> list[_Process]:
    """The processes on the GPU ("processes": their PIDs, as the host's namespace numbers them)."""
    _check()
    return [_Process(pid) for pid in handle.get("processes", [])]
