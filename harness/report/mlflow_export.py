"""Studies into MLflow: one run per study, each round a step, every joule with its source.

``harness-report ... --mlflow sqlite:///mlflow.db`` writes, per study, a run named after it in the
experiment ``--mlflow-experiment`` (``harness``): the group choices, seed and settings as parameters;
per round (step = round) its accuracy, joules, cumulative joules, best-so-far accuracy and the
search's own joules; the study's summary (rounds and joules to its best, total joules, test accuracy
of the pick) as run metrics; the energy sources, machine and split scored on as tags. Exporting again
replaces a study's run, since a study may have grown since. MLflow's UI then sorts and plots studies by
energy beside accuracy. Needs MLflow (``pip install -e '.[mlflow]'``: mlflow-skinny).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from harness.errors import HarnessError

STUDY_TAG = "harness.study"
PARAMS = ("dataset", "model", "strategy", "space", "seed", "settings")
TAGS = ("machine", "scored_on")
ROUND_METRICS = ("accuracy", "energy_j", "suggest_j")
SUMMARY_METRICS = (
    "rounds",
    "best_accuracy",
    "test_accuracy",
    "rounds_to_best",
    "joules_to_best",
    "total_joules",
    "search_joules",
    "joules_to_target",
    "accuracy_per_kj",
)
BATCH = 1000  # MLflow takes at most 1,000 metrics in one log_batch


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def round_metrics(rows: pd.DataFrame) -> list[tuple[str, float, int]]:
    """(key, value, step) of every round of one study, in round order; no value where none was read."""
    rows = rows.sort_values("round")
    out: list[tuple[str, float, int]] = []
    cumulative = 0.0
    best: float | None = None
    for _, r in rows.iterrows():
        step = int(r["round"])
        joules = _number(r.get("energy_j"))
        if joules is not None:
            cumulative += joules
            out.append(("cumulative_j", cumulative, step))
        accuracy = _number(r.get("accuracy"))
        if accuracy is not None:
            best = accuracy if best is None else max(best, accuracy)
        if best is not None:
            out.append(("best_accuracy_so_far", best, step))
        for key in ROUND_METRICS:
            value = _number(r.get(key))
            if value is not None:
                out.append((key, value, step))
    return out


def export(
    trials: pd.DataFrame,
    summary: pd.DataFrame,
    tracking_uri: str,
    experiment: str = "harness",
    say: Callable[[str], None] = print,
) -> list[str]:
    """Write each study as one MLflow run; returns the run ids, in study order."""
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise HarnessError(
            f"--mlflow needs MLflow ({exc.name} is missing): pip install -e '.[mlflow]'"
        ) from None
    try:
        client = MlflowClient(tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    except Exception as exc:  # MLflow raises many kinds for a bad URI
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(
            f"--mlflow {tracking_uri} cannot be opened as an MLflow tracking store ({first})"
        ) from None
    by_study = summary.drop_duplicates("study").set_index("study")
    run_ids = []
    for study, rows in trials.groupby("study", sort=True):
        for old in client.search_runs([experiment_id], filter_string=f"tags.`{STUDY_TAG}` = '{study}'"):
            client.delete_run(old.info.run_id)  # replaced: the study may have more rounds by now
        first = rows.iloc[0]
        sources = sorted({s for s in rows["energy_source"].astype(str) if s})
        tags = {STUDY_TAG: str(study), "energy_source": "+".join(sources) or "none"}
        tags |= {k: str(first[k]) for k in TAGS if k in rows and pd.notna(first[k])}
        run = client.create_run(experiment_id, run_name=str(study), tags=tags)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value, step in round_metrics(rows)]
        if study in by_study.index:
            summary_row = by_study.loc[study]
            for key in SUMMARY_METRICS:
                value = _number(summary_row.get(key))
                if value is not None:
                    metrics.append(Metric(f"study_{key}", value, now, 0))
        params = [Param(k, str(first[k])) for k in PARAMS if k in rows and pd.notna(first[k])]
        client.log_batch(run_id, metrics=metrics[:BATCH], params=params, tags=[])
        for start in range(BATCH, len(metrics), BATCH):
            client.log_batch(run_id, metrics=metrics[start : start + BATCH])
        client.set_terminated(run_id)
        run_ids.append(run_id)
    say(f"mlflow: {len(run_ids)} run(s) in experiment {experiment!r} at {tracking_uri}")
    return run_ids
