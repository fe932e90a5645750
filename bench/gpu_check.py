"""The GPU acceptance check (`make gpu-check`): on a machine with one NVIDIA GPU, does the harness give
joules one can publish? About 3 minutes. Prints PASS or FAIL per check with its figures, and writes them
to ``--out`` (studies/gpu_check/ by default) as JSON and Markdown.

1. The NVML meter against NVML's own energy counter, read around each window: idle, busy, a window
   whose kernels are still queued when it closes (the meter must drain them inside its span), and
   forced power polling (the path of GPUs without a counter).
2. ``harness-meter`` on the GPU.
3. Two 4-round studies on ``study.device=cuda`` with ``meter=nvml``, repetitions stacked and one by one:
   every round labelled ``nvml_counter``, its watts between idle and the power limit, and the run's
   metered joules (rounds plus the strategy's asks) no more than the counter's total over the run.
4. nvidia-smi's polled power, integrated, within 15% of the counter over a busy stretch.

Exit status 0 when every check passes, 1 when one fails, 2 when there is no GPU to check.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Check:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def record(self, name: str, ok: bool, **figures: Any) -> None:
        self.results.append({"check": name, "pass": bool(ok), **figures})
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        print(f"gpu-check: {'PASS' if ok else 'FAIL'}  {name}: {shown}", flush=True)

    @property
    def passed(self) -> bool:
        return all(r["pass"] for r in self.results)


def busy(torch: Any, seconds: float, *, sync: bool = True) -> int:
    """Matrix products on the GPU for about ``seconds``; returns how many were queued."""
    a = torch.randn(4096, 4096, device="cuda")
    b = torch.randn(4096, 4096, device="cuda")
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = (a @ b).clamp_(-1, 1)
        n += 1
        if sync and n % 8 == 0:
            torch.cuda.synchronize()
    if sync:
        torch.cuda.synchronize()
    return n


def counter_j(nvml: Any, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle)) / 1000.0


def meter_checks(check: Check, torch: Any) -> dict[str, float]:
    from harness.energy.nvml import NvmlMeter
    from harness.study import cuda_uuid

    meter = NvmlMeter([0], synchronize=torch.cuda.synchronize, cuda_uuids=[cuda_uuid(0)])
    gpu = meter.gpus[0]
    nvml, handle = meter.nvml, gpu.handle
    check.record(
        "the meter finds CUDA's device 0 in NVML",
        gpu.has_counter,
        gpu=gpu.name,
        counter=gpu.has_counter,
        counter_period_s=gpu.counter_period_s or float("nan"),
        power_limit_w=gpu.power_limit_w or float("nan"),
    )
    figures: dict[str, float] = {"power_limit_w": gpu.power_limit_w or float("inf")}

    def against_counter(name: str, work: Any, tolerance: float) -> float:
        before = counter_j(nvml, handle)
        with meter.window() as window:
            work()
        after = counter_j(nvml, handle)
        m = window.measurement
        assert m is not None
        raw = after - before  # spans the window and a little more on both sides
        watts = (m.energy_j or 0.0) / m.duration_s
        ok = m.energy_j is not None and raw * (1 - tolerance) <= m.energy_j <= raw * 1.001 + 0.5
        check.record(
            name, ok, meter_j=m.energy_j or float("nan"), counter_j=raw, watts=watts, seconds=m.duration_s
        )
        return watts

    figures["idle_w"] = against_counter("idle, 3 s: meter against the counter", lambda: time.sleep(3), 0.05)
    figures["busy_w"] = against_counter("busy, 3 s: meter against the counter", lambda: busy(torch, 3), 0.05)
    check.record(
        "busy draws more than idle, and no more than the power limit",
        figures["idle_w"] < figures["busy_w"] <= 1.05 * figures["power_limit_w"],
        idle_w=figures["idle_w"],
        busy_w=figures["busy_w"],
        limit_w=figures["power_limit_w"],
    )
    # Kernels still queued when the window's body returns: the meter drains them before its clock
    # stops, so its seconds cover them and its watts stay within the limit.
    torch.cuda.synchronize()
    start = time.perf_counter()
    with meter.window() as window:
        queued = busy(torch, 0.5, sync=False)
    m = window.measurement
    assert m is not None
    drained_s = time.perf_counter() - start
    check.record(
        "queued kernels are inside the window",
        m.energy_j is not None
        and m.duration_s >= 0.9 * drained_s
        and m.energy_j / m.duration_s <= 1.05 * figures["power_limit_w"],
        kernels=queued,
        window_s=m.duration_s,
        drained_s=drained_s,
        watts=(m.energy_j or 0.0) / m.duration_s,
    )
    # The polling path, forced on this GPU: integrated power against the counter.
    gpu.has_counter = False
    meter.source = meter._label()
    try:
        against_counter("forced power polling, busy 3 s, against the counter", lambda: busy(torch, 3), 0.10)
    finally:
        gpu.has_counter = True
        meter.source = meter._label()
    figures["nvidia_smi"] = nvidia_smi_check(check, torch, nvml, handle)
    meter.close()
    return figures


def nvidia_smi_check(check: Check, torch: Any, nvml: Any, handle: Any) -> float:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        check.record("nvidia-smi's polled energy against the counter", False, why="nvidia-smi not found")
        return float("nan")
    samples: list[tuple[float, float]] = []
    proc = subprocess.Popen(
        [smi, "--query-gpu=power.draw", "--format=csv,noheader,nounits", "-i", "0", "-lms", "100"],
        stdout=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                samples.append((time.perf_counter(), float(line.strip())))
            except ValueError:
                continue

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(1.0)  # nvidia-smi's own start-up
    before, t0 = counter_j(nvml, handle), time.perf_counter()
    busy(torch, 4)
    after, t1 = counter_j(nvml, handle), time.perf_counter()
    time.sleep(0.3)
    proc.terminate()
    proc.wait()
    from harness.energy.nvml import integrate

    polled = integrate(samples, t0, t1)
    raw = after - before
    ratio = polled / raw if raw > 0 else float("nan")
    check.record(
        "nvidia-smi's polled energy within 15% of the counter",
        abs(ratio - 1) <= 0.15,
        smi_j=polled,
        counter_j=raw,
        ratio=ratio,
        samples=len(samples),
    )
    return ratio


def harness_meter_check(check: Check) -> None:
    done = subprocess.run([str(BIN / "harness-meter"), "--seconds", "2"], capture_output=True, text=True)
    gpu_line = next((ln for ln in done.stdout.splitlines() if "NVML" in ln), "")
    check.record(
        "harness-meter reads the GPU", done.returncode == 0 and "J" in gpu_line, line=gpu_line.strip()
    )


def study_checks(check: Check, torch: Any, figures: dict[str, float], work: Path) -> None:
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    from harness.study import cuda_uuid

    uuid = cuda_uuid(0)
    if uuid:  # the NVML GPU that is CUDA's device 0
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            got = pynvml.nvmlDeviceGetUUID(h)
            got = got.decode() if isinstance(got, bytes) else str(got)
            if got.lower().removeprefix("gpu-") == uuid.lower().removeprefix("gpu-"):
                handle = h
    for stacked in ("true", "false"):
        run = work / f"stack-{stacked}"
        args = [
            str(BIN / "harness"),
            "dataset=digits",
            "model=simple_cnn",
            "strategy=random",
            "study.rounds=4",
            "study.epochs=25",
            "study.repetitions=8",
            "study.device=cuda",
            "meter=nvml",
            f"study.stack_repetitions={stacked}",
            "study.progress=false",
            f"study.storage=sqlite:///{work}/gpu-check.db",
            f"study.name=gpu-check-stack-{stacked}",
            f"hydra.run.dir={run}",
        ]
        before = counter_j(pynvml, handle)
        t0 = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, cwd=work)
        after, seconds = counter_j(pynvml, handle), time.perf_counter() - t0
        rows = list(csv.DictReader((run / "trials.csv").open())) if (run / "trials.csv").exists() else []
        labels = sorted({r["energy_source"] for r in rows})
        watts = [float(r["energy_j"]) / float(r["duration_s"]) for r in rows if r["energy_j"]]
        metered = sum(float(r["energy_j"] or 0) + float(r.get("suggest_j") or 0) for r in rows)
        ok = (
            done.returncode == 0
            and len(rows) == 4
            and labels == ["nvml_counter"]
            and all(0.9 * figures["idle_w"] <= w <= 1.05 * figures["power_limit_w"] for w in watts)
            and metered <= after - before
        )
        check.record(
            f"a 4-round study on cuda with meter=nvml, stacked={stacked}",
            ok,
            rounds=len(rows),
            labels="+".join(labels) or "-",
            watts_min=min(watts, default=float("nan")),
            watts_max=max(watts, default=float("nan")),
            metered_j=metered,
            counter_j=after - before,
            seconds=seconds,
            stderr_tail=done.stderr.strip().splitlines()[-1]
            if done.returncode and done.stderr.strip()
            else "",
        )
    pynvml.nvmlShutdown()


def main() -> None:
    p = argparse.ArgumentParser(prog="gpu-check", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "studies" / "gpu_check")
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(
            "gpu-check: error: torch sees no CUDA device; run it on a machine with an NVIDIA GPU",
            file=sys.stderr,
        )
        sys.exit(2)
    check = Check()
    started = time.perf_counter()
    name = torch.cuda.get_device_name(0)
    print(f"gpu-check: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    figures = meter_checks(check, torch)
    harness_meter_check(check)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        study_checks(check, torch, figures, Path(tmp))
    seconds = time.perf_counter() - started
    verdict = "PASS" if check.passed else "FAIL"
    passed = sum(r["pass"] for r in check.results)
    print(f"gpu-check: {verdict} ({passed}/{len(check.results)} checks, {seconds:.0f} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    record = {
        "gpu": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "verdict": verdict,
        "seconds": seconds,
        "checks": check.results,
    }
    (args.out / f"{stamp}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    lines = [
        f"# GPU check, {stamp}: {verdict}",
        "",
        f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}",
        "",
    ]
    lines += [
        f"- **{'PASS' if r['pass'] else 'FAIL'}** {r['check']}: "
        + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in r.items()
            if k not in ("check", "pass")
        )
        for r in check.results
    ]
    (args.out / f"{stamp}.md").write_text("\n".join(lines) + "\n")
    sys.exit(0 if check.passed else 1)


if __name__ == "__main__":
    main()
