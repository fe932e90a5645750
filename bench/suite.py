"""The benchmark suite behind `make bench`: every speed and memory figure of the harness, in one run.

Each figure is the median of --runs runs (default 5), measured side by side in the same process run so
that the ratios hold on any machine even where absolute timings differ. Sections:

  throughput   harness training loop against a plain PyTorch loop on the same tensors (R = 1)
  stacking     R = 2, 4, 8 repetitions stacked against one after another, and what auto picks
  ask          the strategy's ask time at rounds 16, 64 and 256 (5 hyperparameters)
  overhead     a 64-round bayes study of SimpleCNN on digits: wall time minus training, evaluation, ask
  meter        training throughput with meter=auto against meter=none
  memory       peak resident memory of full-size CIFAR-10-shaped data with 8 stacked repetitions
  help         `harness --help` latency beside a bare Hydra app with one YAML
  headroom     stacked training FLOPs per second against the CPU's peak
  report       harness-report over 1,000 and 10,000 synthetic studies: seconds and peak memory

    .venv/bin/python bench/suite.py [--runs 5] [--only stacking,ask] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.meter_overhead import measure as measure_meters  # noqa: E402
from harness.config.options import make  # noqa: E402
from harness.models import build_model  # noqa: E402
from harness.train import (  # noqa: E402
    Hyperparameters,
    ModelSpec,
    TensorData,
    plan_stacking,
    prepare,
    train_round,
    train_trial,
)

MODELS = ("dense_poly", "dense_linear", "simple_cnn")
BIN = Path(sys.executable).parent
HP = Hyperparameters(lr=1e-3)


def median(values: list[float]) -> float:
    return statistics.median(values)


def synthetic(shape: tuple[int, int, int], train_size: int, test_size: int = 512) -> TensorData:
    synthetic = {"shape": list(shape), "classes": 10, "train_size": train_size, "test_size": test_size}
    data = make("dataset", "synthetic", **synthetic).load()
    return prepare(data, torch.device("cpu"))


def digits() -> TensorData:
    return prepare(make("dataset", "digits").load(), torch.device("cpu"))


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# throughput: the harness's loop against a plain one


def plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> float:
    """What a researcher writes by hand: shuffle, slice, forward, backward, Adam. Returns seconds."""
    optimiser = torch.optim.Adam(model.parameters(), lr=HP.lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(y), generator=generator)
    for first in range(0, len(y), batch_size):
        index = order[first : first + batch_size]
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return time.perf_counter() - start


def bench_throughput(runs: int) -> list[str]:
    rows = []
    for shape in ((1, 28, 28), (3, 32, 32)):
        data = synthetic(shape, 2048)
        assert data.train_x.is_floating_point()  # both loops train on the same normalised tensors
        for name in MODELS:
            for batch in (64, 512):
                spec = make("model", name)
                ours, plain = [], []
                for run in range(runs):
                    out = train_trial(spec, data, HP, epochs=1, batch_size=batch, seed=run)
                    ours.append(out.samples / out.train_s)
                    torch.manual_seed(run)
                    model = build_model(name, shape, 10)
                    plain.append(
                        len(data.train_y) / plain_loop(model, data.train_x, data.train_y, batch, run)
                    )
                ratios = [a / b for a, b in zip(ours, plain, strict=True)]
                rows.append(
                    [
                        name,
                        "x".join(map(str, shape)),
                        str(batch),
                        f"{median(ours):,.0f}",
                        f"{median(plain):,.0f}",
                        f"{median(ratios):.2f}",
                    ]
                )
                progress(f"throughput {name} {shape} batch {batch}: {median(ratios):.2f}")
    return [
        "## Training throughput: harness against a plain PyTorch loop (R = 1)",
        "",
        "One epoch over 2,048 synthetic images, the same normalised float tensors for both. The plain loop "
        "is the textbook one (randperm, slice, forward, backward, torch's default Adam); the harness's is "
        "`train_trial` (the same, plus fused Adam and a per-epoch divergence check). Samples per second.",
        "",
        *table(["model", "image", "batch", "harness", "plain loop", "harness / plain"], rows),
    ]


# --------------------------------------------------------------------------------------------------
# stacking: R repetitions together against one after another


def time_round(spec: ModelSpec, data: TensorData, batch: int, copies: int, stack: int) -> float:
    out = train_round(spec, data, HP, epochs=1, batch_size=batch, seeds=list(range(copies)), stack=stack)
    assert not out.failed, out.reason
    return out.train_s


def bench_stacking(runs: int) -> list[str]:
    settings = [
        ("digits (1x8x8, 1,437 images)", digits(), 64),
        ("Fashion-MNIST-sized (1x28x28, 4,096 images)", synthetic((1, 28, 28), 4096), 512),
        ("Fashion-MNIST-sized (1x28x28, 2,048 images)", synthetic((1, 28, 28), 2048), 64),
    ]
    rows = []
    for label, data, batch in settings:
        for name in MODELS:
            spec = make("model", name)
            time_round(spec, data, batch, 2, 2)  # warm the kernels for both layouts
            plan = plan_stacking(spec, data, repetitions=8, batch_size=batch, setting="auto", memory_mb=768)
            cells = []
            for copies in (2, 4, 8):
                ratios = []
                for _ in range(runs):
                    sequential = time_round(spec, data, batch, copies, 1)
                    stacked = time_round(spec, data, batch, copies, copies)
                    ratios.append(sequential / stacked)
                cells.append(f"{median(ratios):.2f}x")
            auto_ratios = []
            for _ in range(runs):
                sequential = time_round(spec, data, batch, 8, 1)
                auto_ratios.append(sequential / time_round(spec, data, batch, 8, plan.stack))
            rows.append([name, label, str(batch), *cells, str(plan.stack), f"{median(auto_ratios):.2f}x"])
            progress(f"stacking {name} {label} batch {batch}: {cells}, auto {plan.stack}")
    return [
        "## Stacked against sequential repetitions",
        "",
        "Training time of R repetitions one after another divided by the time of the same R stacked (one "
        "epoch each; above 1x stacking is faster). `auto stack` is the chunk size `study.stack_repetitions="
        "auto` picks for R = 8 on this machine (1: sequential), and `auto` its speed-up over sequential. "
        "On this VM two timings of the same training differ by up to 1.7x from one second to the next, so "
        "cells within about 0.8x..1.25x of 1x do not tell stacking from sequential.",
        "",
        *table(["model", "data", "batch", "R = 2", "R = 4", "R = 8", "auto stack (R = 8)", "auto"], rows),
    ]


# --------------------------------------------------------------------------------------------------
# ask: the strategy's own time per round


def bench_ask(runs: int) -> list[str]:
    import optuna

    from harness.config import SpaceConfig
    from harness.search.space import distributions
    from harness.search.strategies import derive_seed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SpaceConfig(
        name="paper5",
        params={
            "lr": {"low": 1e-5, "high": 0.1},
            "beta1": {"low": 0.1, "high": 1.0},
            "beta2": {"low": 0.8, "high": 1.0},
            "epsilon": {"low": 1e-9, "high": 1e-7},
            "weight_decay": {"low": 0.0, "high": 0.1},
        },
        grid_points=5,
    )
    dists = distributions(space.params)
    work = Path(tempfile.mkdtemp(prefix="ask-bench-"))
    rows = []
    strategies = ("grid", "random", "qmc", "tpe", "bayes", "bayes_pi")
    for rounds in (16, 64, 256):
        storage = optuna.storages.RDBStorage(f"sqlite:///{work}/ask-{rounds}.db")  # cached by create_study
        for name in strategies:
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
            # Earlier rounds: the strategy's own proposals, scored by a smooth synthetic objective.
            for r in range(1, rounds):
                study.sampler = make("strategy", name).sampler(
                    space, study_seed=0, round_seed=derive_seed(0, 0, r)
                )
                trial = study.ask(dists)
                study.tell(
                    trial, 1.0 - abs(trial.params["lr"] - 0.003) - 0.1 * abs(trial.params["beta1"] - 0.9)
                )
            times = []
            for run in range(runs):
                start = time.perf_counter()
                study.sampler = make("strategy", name).sampler(
                    space, study_seed=0, round_seed=derive_seed(0, 0, rounds, run)
                )
                trial = study.ask(dists)
                times.append(time.perf_counter() - start)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)  # keep the history at rounds - 1
            rows.append([name, str(rounds), f"{median(times):.3f}"])
            progress(f"ask {name} at round {rounds}: {median(times):.3f} s")
    by = {(r[0], r[1]): r[2] for r in rows}
    return [
        "## The strategy's ask time",
        "",
        "Seconds for one ask (building the round's sampler and `study.ask` against a SQLite storage) at "
        "round 16, 64 and 256 of a study in the 5-hyperparameter paper space, the earlier rounds "
        "proposed by the strategy itself and scored by a smooth synthetic objective.",
        "",
        *table(
            ["strategy", "round 16", "round 64", "round 256"],
            [[s, by[(s, "16")], by[(s, "64")], by[(s, "256")]] for s in strategies],
        ),
    ]


# --------------------------------------------------------------------------------------------------
# overhead: what the harness adds to a study's wall time


def bench_overhead(runs: int, epochs: int) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="overhead-bench-"))
    shares, seconds, walls = [], [], []
    for run in range(runs):
        run_dir = work / f"run{run}"
        args = [
            str(BIN / "harness"),
            "strategy=bayes",
            f"study.epochs={epochs}",
            "study.repetitions=1",
            "study.progress=false",
            f"study.storage=sqlite:///{work}/o{run}.db",
            f"hydra.run.dir={run_dir}",
        ]
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=work)
        wall = time.perf_counter() - start
        with (run_dir / "trials.csv").open() as fh:
            rounds = list(csv.DictReader(fh))
        assert len(rounds) == 64
        work_s = sum(float(r["train_s"]) + float(r["eval_s"]) + float(r["suggest_s"]) for r in rounds)
        walls.append(wall)
        seconds.append(wall - work_s)
        shares.append((wall - work_s) / wall * 100)
        progress(f"overhead run {run + 1}/{runs}: {wall:.1f} s wall, {shares[-1]:.1f}% harness")
    return [
        "## The harness's own share of a study",
        "",
        f"`harness strategy=bayes study.epochs={epochs} study.repetitions=1` (SimpleCNN on digits, 64 "
        "rounds) as a process: wall time minus the rounds' training, evaluation and ask seconds, i.e. "
        "imports, data loading, warm-up, storage writes, trials.csv and the progress line.",
        "",
        *table(
            ["runs", "wall s (median)", "harness s (median)", "harness share (median)", "share range"],
            [
                [
                    str(runs),
                    f"{median(walls):.1f}",
                    f"{median(seconds):.2f}",
                    f"{median(shares):.1f}%",
                    f"{min(shares):.1f}% .. {max(shares):.1f}%",
                ]
            ],
        ),
    ]


# --------------------------------------------------------------------------------------------------
# meter: what metering costs


def bench_meter(runs: int) -> list[str]:
    results, sources = measure_meters(runs=runs, rounds=4, threads=1, meters=("none", "auto"))
    paired = [(1 - a / b) * 100 for a, b in zip(results["auto"], results["none"], strict=True)]
    return [
        "## Metering overhead",
        "",
        "A 4-round random-search study of SimpleCNN on digits, interleaved with and without a meter; "
        "throughput is the median over the rounds of training samples per second, the overhead the "
        "median over runs of 1 - auto/none within the same run. meter=auto here measures: "
        f"{sources['auto']}.",
        "",
        *table(
            ["meter", "samples/s (median)", "overhead vs none", "range"],
            [
                ["none", f"{median(results['none']):,.0f}", "", ""],
                [
                    "auto",
                    f"{median(results['auto']):,.0f}",
                    f"{median(paired):+.1f}%",
                    f"{min(paired):+.1f}% .. {max(paired):+.1f}%",
                ],
            ],
        ),
    ]


# --------------------------------------------------------------------------------------------------
# memory: peak RSS of a full-size CIFAR-10-shaped round

MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, torch
    from harness.config.options import make
    from harness.train import Hyperparameters, TensorData, plan_stacking, prepare, train_round
    name, repetitions, steps_images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cifar_shaped = make("dataset", "synthetic", shape=[3, 32, 32], classes=10, train_size=50_000,
                        test_size=10_000)
    data = prepare(cifar_shaped.load(), torch.device("cpu"))
    spec = make("model", name)
    plan = plan_stacking(spec, data, repetitions=repetitions, batch_size=512, setting=True, memory_mb=768)
    # Train over the first images only (a full epoch of 8 repetitions takes minutes); the whole data
    # set stays resident and evaluation covers all 10,000 test images.
    part = TensorData(data.train_x[:steps_images], data.train_y[:steps_images], data.test_x, data.test_y,
                      data.mean, data.std, data.shape, data.classes)
    out = train_round(spec, part, Hyperparameters(lr=1e-3), epochs=1, batch_size=512,
                      seeds=list(range(repetitions)), stack=plan.stack)
    assert not out.failed, out.reason
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak_mb, "stack": plan.stack}))
    """
)


def bench_memory(runs: int) -> list[str]:
    rows = []
    for name in MODELS:
        for repetitions in (1, 8):
            peaks = []
            stack = 1
            for _ in range(1):  # deterministic to a few MB (compare the R = 1 rows)
                out = subprocess.run(
                    [sys.executable, "-c", MEMORY_SCRIPT, name, str(repetitions), "2048"],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                result = json.loads(out.stdout.strip().splitlines()[-1])
                peaks.append(result["peak_mb"])
                stack = result["stack"]
            rows.append([name, str(repetitions), str(stack), f"{median(peaks):,.0f}", f"{max(peaks):,.0f}"])
            progress(f"memory {name} R={repetitions}: {median(peaks):,.0f} MB")
    return [
        "## Peak memory on full-size CIFAR-10-shaped data",
        "",
        "A process that holds 50,000 + 10,000 synthetic 3x32x32 images (uint8, 184 MB), trains one round at "
        "batch 512 with `study.stack_repetitions=true` and the default `study.stack_memory_mb=768` over "
        "2,048 of them, and evaluates on all 10,000; peak resident set size (ru_maxrss), one run per row "
        "(a peak repeats to within a few MB). `stack` is the chunk the memory cap allowed. Target: below "
        "1,536 MB.",
        "",
        *table(["model", "R", "stack", "peak MB", "peak MB (max)"], rows),
    ]


# --------------------------------------------------------------------------------------------------
# help: start-up latency


def bench_help(runs: int) -> list[str]:
    bare = Path(tempfile.mkdtemp(prefix="bare-hydra-"))
    (bare / "config.yaml").write_text("lr: 0.001\nepochs: 5\n")
    (bare / "app.py").write_text(
        "import hydra\n"
        "@hydra.main(version_base='1.3', config_path='.', config_name='config')\n"
        "def app(cfg):\n    pass\n"
        "if __name__ == '__main__':\n    app()\n"
    )

    def timed(args: list[str], cwd: Path) -> float:
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=cwd)
        return time.perf_counter() - start

    ours, theirs = [], []
    for _ in range(runs):
        ours.append(timed([str(BIN / "harness"), "--help"], bare))
        theirs.append(timed([sys.executable, str(bare / "app.py"), "--help"], bare))
    progress(f"help: {median(ours):.2f} s, bare Hydra {median(theirs):.2f} s")
    return [
        "## Start-up: `harness --help`",
        "",
        *table(
            ["command", "seconds (median)", "range"],
            [
                ["harness --help", f"{median(ours):.2f}", f"{min(ours):.2f} .. {max(ours):.2f}"],
                [
                    "bare Hydra app, one YAML, --help",
                    f"{median(theirs):.2f}",
                    f"{min(theirs):.2f} .. {max(theirs):.2f}",
                ],
            ],
        ),
    ]


# --------------------------------------------------------------------------------------------------
# headroom: how far from the CPU's peak


def training_flops_per_sample(name: str, shape: tuple[int, int, int]) -> float:
    """2 FLOPs per multiply-accumulate of the linear and convolution layers: the forward pass, the
    weight gradients (as many again), and the input gradients (as many again) of every such layer but
    the first, whose input is the data. Element-wise layers are not counted."""
    model = build_model(name, shape, 10)
    flops = 0.0
    first = True
    x = torch.zeros(1, *shape)
    for layer in model:
        y = layer(x)
        macs = 0
        if isinstance(layer, nn.Linear):
            macs = layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            macs = y[0].numel() * layer.in_channels // layer.groups * k
        if macs:
            flops += 2 * macs * (2 if first else 3)
            first = False
        x = y
    return flops


def cpu_peak_flops() -> tuple[float, str]:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    vendor_amd = "AuthenticAMD" in info
    if " avx512f" in flags:
        # Zen 4 runs AVX-512 on two 256-bit FMA pipes; Intel server cores have two 512-bit FMA units.
        per_cycle, unit = (
            (32, "AVX-512 on 2x256-bit FMA pipes") if vendor_amd else (64, "2 AVX-512 FMA units")
        )
    elif " avx2" in flags and " fma" in flags:
        per_cycle, unit = 32, "2 AVX2 FMA units"
    else:
        per_cycle, unit = 8, "SSE"
    cores = os.cpu_count() or 1
    clock = (median(mhz) if mhz else 2000.0) * 1e6
    what = f"{cores} cores x {clock / 1e9:.2f} GHz x {per_cycle} FP32 FLOPs per cycle ({unit})"
    return cores * clock * per_cycle, what


def bench_headroom(runs: int) -> list[str]:
    peak, what = cpu_peak_flops()
    rows = []
    for label, data, shape, batch in (
        ("digits", digits(), (1, 8, 8), 64),
        ("1x28x28", synthetic((1, 28, 28), 4096), (1, 28, 28), 512),
    ):
        for name in MODELS:
            spec = make("model", name)
            plan = plan_stacking(spec, data, repetitions=8, batch_size=batch, setting="auto", memory_mb=768)
            rates = []
            for _ in range(runs):
                out = train_round(
                    spec, data, HP, epochs=1, batch_size=batch, seeds=list(range(8)), stack=plan.stack
                )
                rates.append(out.samples / out.train_s)
            flops = training_flops_per_sample(name, shape)
            achieved = median(rates) * flops
            rows.append(
                [
                    name,
                    label,
                    str(batch),
                    str(plan.stack),
                    f"{flops / 1e6:.2f}",
                    f"{median(rates):,.0f}",
                    f"{achieved / 1e9:.1f}",
                    f"{achieved / peak * 100:.1f}%",
                ]
            )
    return [
        "## Headroom: training FLOPs against the CPU's peak",
        "",
        f"Peak: {what} = {peak / 1e9:.0f} GFLOP/s at the reported (not the boost) clock. "
        "Training FLOPs per sample = 2 per multiply-accumulate of the linear and convolution layers, "
        "for the forward pass, the weight gradients and (all but the first layer) the input gradients; "
        "element-wise layers, Adam and data movement are not counted, so the share is a lower bound on "
        "the work done. "
        "R = 8 repetitions trained as `auto` chooses.",
        "",
        *table(
            ["model", "data", "batch", "stack", "MFLOP/sample", "samples/s", "GFLOP/s", "share of peak"],
            rows,
        ),
    ]


# --------------------------------------------------------------------------------------------------


def bench_report() -> list[str]:
    """harness-report over 1,000 and 10,000 synthetic 64-round studies: one process each (one run,
    not a median: writing the 10,000-study inputs alone takes minutes)."""
    from bench.report_scale import table as report_table

    progress("report: 1,000 and 10,000 synthetic studies, each as Parquet, trials.csv folders and a storage")
    cases = [(n, kind) for n in (1000, 10000) for kind in ("parquet", "csv", "storage")]
    return [
        "## The report at scale: `harness-report` over synthetic studies of 64 rounds",
        "",
        "One Parquet file of rows, one trials.csv folder (with study.json) per study, or one SQLite",
        "Optuna storage holding them all; plots included; peak memory is the report process's maximum",
        "resident set (bench/report_scale.py; one run each). Goal: 10,000 studies within 60 s and 2 GiB.",
        "",
        *report_table(cases),
    ]


SECTIONS: dict[str, Callable[[argparse.Namespace], list[str]]] = {
    "throughput": lambda a: bench_throughput(a.runs),
    "stacking": lambda a: bench_stacking(a.runs),
    "ask": lambda a: bench_ask(a.runs),
    "overhead": lambda a: bench_overhead(a.runs, a.overhead_epochs),
    "meter": lambda a: bench_meter(a.runs),
    "memory": lambda a: bench_memory(a.runs),
    "help": lambda a: bench_help(a.runs),
    "headroom": lambda a: bench_headroom(a.runs),
    "report": lambda a: bench_report(),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    p.add_argument("--overhead-epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = p.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    started = time.perf_counter()
    body: list[str] = []
    for name in chosen:
        section_start = time.perf_counter()
        body += [*SECTIONS[name](args), "", f"_{name}: {time.perf_counter() - section_start:.0f} s_", ""]
        torch.set_num_threads(threads)  # a study run in-process (meter) sets its own thread count
    command = f".venv/bin/python bench/suite.py --runs {args.runs}" + (
        f" --only {args.only}" if args.only != ",".join(SECTIONS) else ""
    )
    _, what = cpu_peak_flops()
    header = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`{command}`) on {time.strftime('%Y-%m-%d')}, in "
        f"{(time.perf_counter() - started) / 60:.1f} minutes. Machine: {platform.node()}, "
        f"{platform.processor() or platform.machine()}, {what}; torch {torch.__version__} with "
        f"{threads} threads; Python {platform.python_version()}. Every figure is the median "
        f"of {args.runs} runs measured in this one run; compare ratios, not absolute times, across machines.",
        "",
    ]
    args.out.write_text("\n".join(header + body).rstrip() + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
