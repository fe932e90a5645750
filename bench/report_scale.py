"""How `harness-report` scales: wall time and peak memory over 1,000 and 10,000 synthetic studies.

Each study is 64 rounds of a replay-like search (3 strategies, seeds 0..N/3, 4 cells), written as one
Parquet file of rows, as one trials.csv folder per study, or as one SQLite Optuna storage holding
every study (``storage``; its writing is not timed). The report runs as a user runs it, in its
own process, with plots; peak memory is that process's maximum resident set.

    .venv/bin/python bench/report_scale.py [--studies 1000,10000] [--kinds parquet,csv] [--no-plots]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROUNDS = 64
STRATEGIES = ("grid", "random", "bayes_pi")
CELLS = (
    ("digits", "dense_poly"),
    ("digits", "dense_linear"),
    ("digits", "simple_cnn"),
    ("fashion_mnist", "dense_poly"),
)


def synthetic_rows(studies: int, seed: int = 0) -> pd.DataFrame:
    """``studies`` studies of ROUNDS rounds: accuracies that climb with noise, joules per round that
    vary with the configuration, the search's own joules, three hyperparameters."""
    rng = np.random.default_rng(seed)
    n = studies * ROUNDS
    index = np.arange(studies)
    cell = index % len(CELLS)
    strategy = (index // len(CELLS)) % len(STRATEGIES)
    seeds = index // (len(CELLS) * len(STRATEGIES))
    names = [
        f"{CELLS[c][0]}-{CELLS[c][1]}-{STRATEGIES[s]}-paper3-s{k}-replay"
        for c, s, k in zip(cell, strategy, seeds, strict=True)
    ]
    accuracy = np.clip(0.5 + 0.45 * rng.beta(2, 2, n) + rng.normal(0, 0.02, n), 0, 1)
    return pd.DataFrame(
        {
            "study": np.repeat(names, ROUNDS),
            "dataset": np.repeat([CELLS[c][0] for c in cell], ROUNDS),
            "model": np.repeat([CELLS[c][1] for c in cell], ROUNDS),
            "strategy": np.repeat([STRATEGIES[s] for s in strategy], ROUNDS),
            "space": "paper3",
            "seed": np.repeat(seeds, ROUNDS),
            "round": np.tile(np.arange(1, ROUNDS + 1), studies),
            "status": "complete",
            "accuracy": accuracy.round(4),
            "energy_j": rng.uniform(0.5, 2.0, n).round(3),
            "energy_source": "replay:estimate",
            "suggest_j": rng.uniform(0.001, 0.05, n).round(4),
            "duration_s": rng.uniform(0.01, 0.05, n).round(4),
            "p_lr": rng.uniform(1e-5, 0.1, n),
            "p_beta1": rng.uniform(0.1, 1.0, n),
            "p_beta2": rng.uniform(0.8, 1.0, n),
        }
    )


def write_storage(rows: pd.DataFrame, where: Path) -> str:
    """The rows as the harness records them: one Optuna study per study in one SQLite file, each
    round a finished trial carrying its record."""
    import optuna

    from harness.records import RECORD_ATTR, TrialRecord

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{where / 'studies.db'}"
    storage = optuna.storages.RDBStorage(url)
    space = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in ("lr", "beta1", "beta2")}
    for study_name, study_rows in rows.groupby("study", sort=False):
        study = optuna.create_study(study_name=str(study_name), storage=storage, direction="maximize")
        trials = []
        for r in study_rows.itertuples(index=False):
            record = TrialRecord(
                study=r.study, dataset=r.dataset, model=r.model, strategy=r.strategy, space=r.space,
                seed=int(r.seed), round=int(r.round), status=r.status, accuracy=float(r.accuracy),
                accuracy_std=None, energy_j=float(r.energy_j), energy_source=r.energy_source,
                duration_s=float(r.duration_s), train_s=0.0, eval_s=0.0, suggest_s=0.0,
                samples_per_s=None, repetitions=2, suggest_j=float(r.suggest_j),
            )  # fmt: skip
            params = {"lr": r.p_lr / 0.1, "beta1": r.p_beta1, "beta2": r.p_beta2}
            trials.append(
                optuna.trial.create_trial(
                    value=float(r.accuracy),
                    params=params,
                    distributions=space,
                    user_attrs={RECORD_ATTR: record.to_attrs(), "round": int(r.round)},
                )
            )
        study.add_trials(trials)
    return url


def write_input(rows: pd.DataFrame, kind: str, where: Path) -> list[str]:
    if kind == "storage":
        return [write_storage(rows, where)]
    if kind == "parquet":
        path = where / "trials.parquet"
        rows.to_parquet(path, index=False)
        return [str(path)]
    for study, study_rows in rows.groupby("study", sort=False):
        folder = where / "runs" / str(study)
        folder.mkdir(parents=True)
        study_rows.to_csv(folder / "trials.csv", index=False)
    return [str(where / "runs")]


def measure(inputs: list[str], out: Path, plots: bool) -> tuple[float, float]:
    """Seconds and peak resident memory (MiB) of one harness-report process."""
    args = [str(BIN / "harness-report"), *inputs, "--out", str(out)]
    if not plots:
        args.append("--no-plots")
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak memory
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"harness-report failed on {inputs}: {proc.stderr.read() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024  # kB on Linux


HEADER = ["| studies | rows | input | plots | seconds | peak memory (MiB) |", "|---:|---:|---|---|---:|---:|"]


def table(cases: list[tuple[int, str]], plots: bool = True) -> list[str]:
    """A Markdown table of (studies, input kind) cases, one harness-report process each."""
    lines = [
        "| studies | rows | input | plots | seconds | peak memory (MiB) |",
        "|---:|---:|---|---|---:|---:|",
    ]
    made: dict[int, pd.DataFrame] = {}
    for studies, kind in cases:
        rows = made.setdefault(studies, synthetic_rows(studies))
        with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
            inputs = write_input(rows, kind, Path(tmp))
            seconds, peak = measure(inputs, Path(tmp) / "report", plots=plots)
        drawn = "yes" if plots else "no"
        lines.append(f"| {studies:,} | {len(rows):,} | {kind} | {drawn} | {seconds:.1f} | {peak:,.0f} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", default="1000,10000")
    p.add_argument("--kinds", default="parquet,csv")
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args()
    cases = [(int(n), kind) for n in args.studies.split(",") for kind in args.kinds.split(",")]
    print("\n".join(HEADER))
    table(cases, plots=not args.no_plots)  # prints each row as it is measured


if __name__ == "__main__":
    main()
