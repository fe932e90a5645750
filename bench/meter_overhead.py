"""What metering costs: training throughput of the same study with and without a meter.

Runs one small study (digits, SimpleCNN, random search) several times per meter, interleaved so that
drift of the machine hits every meter alike, and compares the median training throughput
(samples per second, from trials.csv). Meters: none, auto (whatever this machine has), and rapl on a
powercap tree written to a temporary directory (its poller reads real files, as on hardware).

    .venv/bin/python bench/meter_overhead.py [--runs 5] [--rounds 8] [--out studies/meter_overhead.md]
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.__main__ import CONF_DIR
from harness.config import from_container
from harness.study import run


def make_powercap(root: Path) -> None:
    for path, name in (
        (root / "intel-rapl:0", "package-0"),
        (root / "intel-rapl:0" / "intel-rapl:0:0", "dram"),
    ):
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text("1000000\n")
        (path / "max_energy_range_uj").write_text("262143328850\n")


def throughput(run_dir: Path) -> float:
    with (run_dir / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return statistics.median(float(r["samples_per_s"]) for r in rows)


def measure(
    *, runs: int, rounds: int, threads: int, meters: tuple[str, ...] = ("none", "auto", "rapl")
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Throughput of each meter's runs (interleaved, rotating order) and each meter's energy source."""
    work = Path(tempfile.mkdtemp(prefix="meter-bench-"))
    make_powercap(work / "powercap")
    overrides_of = {
        "none": ["meter=none"],
        "auto": ["meter=auto"],
        "rapl": ["meter=rapl", f"meter.powercap_root={work}/powercap"],
    }
    results: dict[str, list[float]] = {name: [] for name in meters}
    sources: dict[str, str] = {}
    names = list(meters)
    for i in range(runs):
        order = names[i % len(names) :] + names[: i % len(names)]  # rotate: no meter always goes first
        for name in order:
            over = [
                "strategy=random",
                f"study.rounds={rounds}",
                "study.progress=false",
                f"study.storage=sqlite:///{work}/optuna.db",
                f"study.name={name}-{i}",
                f"study.threads={threads}",
                *overrides_of[name],
            ]
            with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
                cfg = from_container(OmegaConf.to_container(compose("config", overrides=over), resolve=True))
            result = run(cfg, work / f"{name}-{i}")
            results[name].append(throughput(work / f"{name}-{i}"))
            sources[name] = result.energy_sources
            print(f"run {i + 1}/{runs} meter={name}: {results[name][-1]:,.0f} samples/s", flush=True)
    return results, sources


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps the comparison quiet)")
    p.add_argument("--out", type=Path, default=Path("studies/meter_overhead.md"))
    args = p.parse_args()
    results, sources = measure(runs=args.runs, rounds=args.rounds, threads=args.threads)
    lines = [
        "# Metering overhead",
        "",
        f"Command: `.venv/bin/python bench/meter_overhead.py --runs {args.runs} --rounds {args.rounds} "
        f"--threads {args.threads}`; "
        f"machine: {platform.processor() or platform.machine()}, {platform.node()}.",
        "Study: digits, SimpleCNN, random search, default epochs and batch size; a run's throughput is the "
        "median over its rounds of training samples per second. Runs are interleaved, the order rotating "
        "from run to run; the overhead is the median over runs of 1 - meter/none within the same run index, "
        "with the range of those paired figures.",
        "",
        "| meter | energy source | median samples/s | runs | overhead vs none (median) | range |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, values in results.items():
        paired = [(1 - v / b) * 100 for v, b in zip(values, results["none"], strict=True)]
        lines.append(
            f"| {name} | {sources[name]} | {statistics.median(values):,.0f} | {len(values)} "
            f"| {statistics.median(paired):+.2f}% | {min(paired):+.1f}% .. {max(paired):+.1f}% |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
