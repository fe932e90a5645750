"""How fast a study replays against a table: seconds per 64-round study and studies per minute, per
strategy, in one process (the way a sweep over seeds runs them), on a journal storage.

It builds a small synthetic table first (or takes --table DIR, with --args giving the protocol the
table was built with), then replays --seeds seeds of each strategy and reports the median seconds per
study after the first (which pays the imports), and studies per minute.

    .venv/bin/python bench/replay.py [--seeds 5] [--strategies random,grid,bayes_pi]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import study  # noqa: E402
from harness.table import compose  # noqa: E402

# A synthetic table small enough to build in about a minute: the space=paper3 grid (125 cells).
PROTOCOL = [
    "dataset=synthetic",
    "dataset.train_size=256",
    "dataset.test_size=64",
    "dataset.validation=0.25",
    "model=dense_poly",
    "space=paper3",
    "study.epochs=3",
    "study.batch_size=32",
    "study.threads=1",
    "meter=estimate",
    "study.progress=false",
]


def build(where: Path) -> Path:
    out = where / "table"
    args = [
        *PROTOCOL,
        "study.repetitions=4",
        "strategy.candidates=128",
        f"study.storage=sqlite:///{where}/b.db",
    ]
    exe = Path(sys.executable).parent / "harness-table"
    subprocess.run([str(exe), "--out", str(out), *args], check=True, capture_output=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--strategies", default="random,grid,bayes_pi")
    parser.add_argument("--table", type=Path, help="a table folder (default: build a synthetic one)")
    parser.add_argument("--args", default="", help="the table's protocol overrides, space-separated")
    parser.add_argument("--rounds", type=int, default=64)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        table = options.table or build(where)
        protocol = options.args.split() if options.table else PROTOCOL
        print("| strategy | seconds per study (median) | studies per minute |")
        print("|---|---:|---:|")
        for strategy in options.strategies.split(","):
            seconds = []
            for seed in range(options.seeds + 1):
                cfg = compose(
                    [
                        *protocol,
                        "study.repetitions=2",
                        f"strategy={strategy}",
                        f"study.rounds={options.rounds}",
                        f"study.seed={seed}",
                        "study.backend=replay",
                        f"study.table={table}",
                        f"study.storage=journal:///{where}/{strategy}.log",
                        "study.progress=false",
                    ]
                )
                start = time.perf_counter()
                study.run(cfg, where / f"{strategy}-{seed}")
                seconds.append(time.perf_counter() - start)
            median = statistics.median(seconds[1:])  # the first pays the imports
            print(f"| {strategy} | {median:.2f} | {60 / median:.0f} |", flush=True)


if __name__ == "__main__":
    main()
