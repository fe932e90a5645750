"""Does the CPU-time estimate hold still when other work shares the CPU? The same 4-round SimpleCNN
study on digits (same seed), quietly and beside two busy-looping processes, with torch's default
threads (two here), the same with OMP_WAIT_POLICY=PASSIVE, and the harness's default (one thread
under the estimate); prints the mean joules per round and their ratio.

    .venv/bin/python bench/estimate_load.py
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
BASE = [
    "dataset=digits",
    "model=simple_cnn",
    "strategy=grid",
    "study.rounds=4",
    "study.epochs=5",
    "study.repetitions=2",
    "study.progress=false",
    "meter=estimate",
]
SETTINGS = {
    "2 threads": (["study.threads=2"], {}),
    "2 passive": (["study.threads=2"], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "default": ([], {}),  # one thread under the estimate
}


def joules_per_round(where: Path, extra: list[str], env: dict[str, str]) -> tuple[float, float]:
    args = [
        str(BIN / "harness"),
        *BASE,
        *extra,
        f"study.storage=sqlite:///{where}.db",
        f"hydra.run.dir={where}",
    ]
    subprocess.run(args, env={**os.environ, **env}, capture_output=True, check=True, cwd=where.parent)
    rows = list(csv.DictReader((where / "trials.csv").open()))
    return statistics.mean(float(r["energy_j"]) for r in rows), statistics.mean(
        float(r["train_s"]) for r in rows
    )


def main() -> None:
    results: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="estimate-load-") as tmp:
        for condition in ("quiet", "load"):
            busy = (
                [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
                if condition == "load"
                else []
            )
            try:
                for name, (extra, env) in SETTINGS.items():
                    joules, train_s = joules_per_round(
                        Path(tmp) / f"{condition}-{name}".replace(" ", ""), extra, env
                    )
                    results[condition, name] = joules
                    print(
                        f"{condition:5s} {name:9s} {joules:6.2f} J per round, training {train_s:.2f} s",
                        flush=True,
                    )
            finally:
                for process in busy:
                    process.kill()
    for name in SETTINGS:
        print(f"{name}: under load / quiet = {results['load', name] / results['quiet', name]:.2f}")


if __name__ == "__main__":
    main()
