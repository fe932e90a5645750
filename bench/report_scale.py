"""How `harness-report` scales: wall time and peak memory over 1,000 and 10,000 synthetic studies.

Each study is 64 rounds of a replay-like search (3 strategies, seeds 0..N/12, 4 cells), written as one
Parquet file of rows, as one trials.csv folder per study (with its study.json), or as one SQLite
Optuna storage holding every study (``storage``); writing the input is not timed. The report runs as
a user runs it, in its own process, with plots; peak memory is that process's maximum resident set.
``--phases`` runs each report once more with the time of each step printed (bench/report_phases.py).

    .venv/bin/python bench/report_scale.py [--studies 1000,10000] [--kinds parquet,csv,storage]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


MACHINE = {"hostname": "bench", "cpu_model": "synthetic", "gpu_names": []}


def write_storage(rows: pd.DataFrame, where: Path) -> str:
    """The rows as the harness records them: one Optuna study per study in one SQLite file, each
    round a finished trial carrying its record, each study its machine and configuration. Written
    through Optuna's own API this took over an hour for 10,000 studies, so the rows go into the
    tables Optuna created with one INSERT per table; tests/test_report.py checks that Optuna's API
    reads such a storage as it reads one written through the API (``write_storage_by_api``)."""
    import json
    import sqlite3

    import optuna

    from harness.records import RECORD_ATTR

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{where / 'studies.db'}"
    optuna.storages.RDBStorage(url).remove_session()  # creates Optuna's schema
    names = list(dict.fromkeys(rows["study"]))
    study_id = {name: i + 1 for i, name in enumerate(names)}
    first = rows.groupby("study", sort=False).first()
    now = "2026-12-02 00:00:00.000000"
    template = _record(next(rows.itertuples(index=False)))
    records, trials, values, params = [], [], [], []
    distribution = json.dumps(
        {"name": "FloatDistribution", "attributes": {"step": None, "low": 0.0, "high": 1.0, "log": False}}
    )
    for trial_id, r in enumerate(rows.itertuples(index=False), start=1):
        record = {**template, **_varying(r)}
        trials.append((trial_id, int(r.round) - 1, study_id[r.study], "COMPLETE", now, now))
        values.append((trial_id, trial_id, 0, float(r.accuracy), "FINITE"))
        records.append((2 * trial_id - 1, trial_id, RECORD_ATTR, json.dumps(record)))
        records.append((2 * trial_id, trial_id, "round", json.dumps(int(r.round))))
        for k, (name, value) in enumerate((("lr", r.p_lr / 0.1), ("beta1", r.p_beta1), ("beta2", r.p_beta2))):
            params.append((3 * trial_id - 2 + k, trial_id, name, float(value), distribution))
    study_attrs = []
    for name, i in study_id.items():
        config = {
            "dataset": {"name": first.loc[name, "dataset"], "validation": 0.0},
            "model": {"name": first.loc[name, "model"]},
        }
        study_attrs += [
            (2 * i - 1, i, "machine", json.dumps(MACHINE)),
            (2 * i, i, "config", json.dumps(config)),
        ]
    with sqlite3.connect(where / "studies.db") as db:
        db.executemany("INSERT INTO studies VALUES (?, ?)", [(i, n) for n, i in study_id.items()])
        db.executemany(
            "INSERT INTO study_directions VALUES (?, 'MAXIMIZE', ?, 0)", [(i, i) for i in study_id.values()]
        )
        db.executemany("INSERT INTO study_user_attributes VALUES (?, ?, ?, ?)", study_attrs)
        db.executemany("INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?)", trials)
        db.executemany("INSERT INTO trial_values VALUES (?, ?, ?, ?, ?)", values)
        db.executemany("INSERT INTO trial_params VALUES (?, ?, ?, ?, ?)", params)
        db.executemany("INSERT INTO trial_user_attributes VALUES (?, ?, ?, ?)", records)
    return url


def _record(r: Any) -> dict[str, Any]:
    """A round's stored record (TrialRecord.to_attrs) for one synthetic row."""
    from harness.records import TrialRecord

    return TrialRecord(
        study=r.study, dataset=r.dataset, model=r.model, strategy=r.strategy, space=r.space,
        seed=int(r.seed), round=int(r.round), status=r.status, accuracy=float(r.accuracy),
        accuracy_std=None, energy_j=float(r.energy_j), energy_source=r.energy_source,
        duration_s=float(r.duration_s), train_s=0.0, eval_s=0.0, suggest_s=0.0,
        samples_per_s=None, repetitions=2, suggest_j=float(r.suggest_j),
    ).to_attrs()  # fmt: skip


def _varying(r: Any) -> dict[str, Any]:
    """The fields of _record that differ from row to row (the rest are the template's)."""
    return {
        "study": r.study, "dataset": r.dataset, "model": r.model, "strategy": r.strategy,
        "space": r.space, "status": r.status, "energy_source": r.energy_source, "seed": int(r.seed),
        "round": int(r.round), "accuracy": float(r.accuracy),
        "energy_j": float(r.energy_j), "duration_s": float(r.duration_s), "suggest_j": float(r.suggest_j),
    }  # fmt: skip


def write_storage_by_api(rows: pd.DataFrame, where: Path) -> str:
    """write_storage's studies written through Optuna's API (slow: the reference it is checked against)."""
    import optuna

    from harness.records import RECORD_ATTR

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{where / 'studies.db'}"
    storage = optuna.storages.RDBStorage(url)
    space = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in ("lr", "beta1", "beta2")}
    for study_name, study_rows in rows.groupby("study", sort=False):
        study = optuna.create_study(study_name=str(study_name), storage=storage, direction="maximize")
        first = study_rows.iloc[0]
        study.set_user_attr("machine", MACHINE)
        study.set_user_attr(
            "config",
            {"dataset": {"name": first["dataset"], "validation": 0.0}, "model": {"name": first["model"]}},
        )
        trials = [
            optuna.trial.create_trial(
                value=float(r.accuracy),
                params={"lr": r.p_lr / 0.1, "beta1": r.p_beta1, "beta2": r.p_beta2},
                distributions=space,
                user_attrs={RECORD_ATTR: _record(r), "round": int(r.round)},
            )
            for r in study_rows.itertuples(index=False)
        ]
        study.add_trials(trials)
    return url


def write_input(rows: pd.DataFrame, kind: str, where: Path) -> list[str]:
    if kind == "storage":
        return [write_storage(rows, where)]
    if kind == "parquet":
        path = where / "trials.parquet"
        rows.to_parquet(path, index=False)
        return [str(path)]
    import json

    for study, study_rows in rows.groupby("study", sort=False):
        folder = where / "runs" / str(study)
        folder.mkdir(parents=True)
        study_rows.to_csv(folder / "trials.csv", index=False)
        first = study_rows.iloc[0]  # the study.json a run writes beside it (what the report reads of it)
        config = {"dataset": {"name": first["dataset"], "validation": 0.0}, "model": {"name": first["model"]}}
        (folder / "study.json").write_text(json.dumps({"study": study, "machine": MACHINE, "config": config}))
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


def phases(inputs: list[str], out: Path, plots: bool) -> str:
    """bench/report_phases.py's table for one report of these inputs."""
    args = [sys.executable, str(ROOT / "bench" / "report_phases.py"), *inputs, "--out", str(out)]
    done = subprocess.run(
        [*args, *([] if plots else ["--no-plots"])], capture_output=True, text=True, check=True
    )
    return "\n".join(line for line in done.stderr.splitlines() if line.startswith("|"))


def table(cases: list[tuple[int, str]], plots: bool = True, steps: bool = False) -> list[str]:
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
            if steps:
                print(
                    f"{studies:,} studies, {kind}:\n{phases(inputs, Path(tmp) / 'steps', plots)}", flush=True
                )
        drawn = "yes" if plots else "no"
        lines.append(f"| {studies:,} | {len(rows):,} | {kind} | {drawn} | {seconds:.1f} | {peak:,.0f} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", default="1000,10000")
    p.add_argument("--kinds", default="parquet,csv,storage")
    p.add_argument("--phases", action="store_true", help="also print where each report's time goes")
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args()
    cases = [(int(n), kind) for n in args.studies.split(",") for kind in args.kinds.split(",")]
    print("\n".join(HEADER))
    table(cases, plots=not args.no_plots, steps=args.phases)  # prints each row as it is measured


if __name__ == "__main__":
    main()
