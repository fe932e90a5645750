"""Studies into MLflow, as its users expect: a run per study, a nested run per round, real times.

``harness-report ... --mlflow sqlite:///mlflow.db`` writes into the experiment ``--mlflow-experiment``
(``harness``):

- **one parent run per study**, named after it: the study's recorded settings as parameters
  (``study.epochs``, ``dataset.name``, ``strategy.xi``, ... from study.json or the storage; the group
  choices and seed where a table carries no settings), the energy sources, machine and split scored
  on as tags; per round (step = round) accuracy, joules, cumulative joules, best-so-far accuracy and
  the search's own joules; the study's summary (rounds and joules to its best, total joules, test
  accuracy of the pick) as ``study_*`` metrics; its rows as the artifact ``trials.csv``;
- **one nested run per round** (``round 7``), its hyperparameters as parameters and its accuracy,
  joules and seconds as metrics, started and ended when the round was (``finished_at`` minus its
  ``duration_s``); rounds recorded before the harness kept their time are stamped with the export's;
- **one run ``report``** holding the report's figures and tables as artifacts.

Exporting again updates in place: a study's runs are found by their tags, so run IDs (and links to
them) stay stable, and only rounds not exported before are added. Needs MLflow
(``pip install -e '.[mlflow]'``: mlflow-skinny).
"""

from __future__ import annotations

import datetime
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError

STUDY_TAG = "harness.study"
ROUND_TAG = "harness.round"
EXPORTED_TAG = "harness.rounds_exported"
REPORT_TAG = "harness.report"
KIND_TAG = "harness.kind"  # study, round or report: how an export finds its own runs again
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag for a nested run
PARAMS = ("dataset", "model", "strategy", "space", "seed", "settings")
TAGS = ("machine", "scored_on")
ROUND_METRICS = ("accuracy", "energy_j", "suggest_j")
CHILD_METRICS = ("accuracy", "energy_j", "suggest_j", "duration_s", "train_s")
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
MAX_PARAM = 6000  # MLflow's longest parameter value


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _millis(value: Any, default: int) -> int:
    """An ISO 8601 time (``finished_at``) in milliseconds since the epoch; ``default`` without one."""
    if not isinstance(value, str) or not value:
        return default
    try:
        stamp = datetime.datetime.fromisoformat(value)
    except ValueError:
        return default
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return int(stamp.timestamp() * 1000)


def flat_settings(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A study's recorded configuration as MLflow parameters: ``study.epochs`` -> ``25``."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_settings(value, f"{name}."))
        elif value is not None:
            out[name] = str(value)[:MAX_PARAM]
    return out


def round_metrics(rows: pd.DataFrame, now: int | None = None) -> list[tuple[str, float, int, int]]:
    """(key, value, step, time in ms) of every round of one study, in round order; no value where none
    was read. The time is the round's ``finished_at`` (``now`` where it has none)."""
    default = int(time.time() * 1000) if now is None else now
    rows = rows.sort_values("round")
    out: list[tuple[str, float, int, int]] = []
    cumulative = 0.0
    best: float | None = None
    for _, r in rows.iterrows():
        step = int(r["round"])
        stamp = _millis(r.get("finished_at"), default)
        joules = _number(r.get("energy_j"))
        if joules is not None:
            cumulative += joules
            out.append(("cumulative_j", cumulative, step, stamp))
        accuracy = _number(r.get("accuracy"))
        if accuracy is not None:
            best = accuracy if best is None else max(best, accuracy)
        if best is not None:
            out.append(("best_accuracy_so_far", best, step, stamp))
        for key in ROUND_METRICS:
            value = _number(r.get(key))
            if value is not None:
                out.append((key, value, step, stamp))
    return out


def _client(tracking_uri: str, experiment: str) -> tuple[Any, str]:
    try:
        from mlflow.entities import Metric, Param  # noqa: F401 - what export and _round_run log
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
    return client, str(experiment_id)


def _log(client: Any, run_id: str, metrics: list[Any], params: list[Any] | None = None) -> None:
    client.log_batch(run_id, metrics=metrics[:BATCH], params=params or [], tags=[])
    for start in range(BATCH, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])


def export(
    trials: pd.DataFrame,
    summary: pd.DataFrame,
    tracking_uri: str,
    experiment: str = "harness",
    say: Callable[[str], None] = print,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Write each study as a parent run with a nested run per round; returns the parent run ids, in
    study order. Runs exported before are found by their tags and extended in place."""
    client, experiment_id = _client(tracking_uri, experiment)
    from mlflow.entities import Metric, Param

    by_study = summary.drop_duplicates("study").set_index("study")
    configs = configs or {}
    run_ids = []
    now = int(time.time() * 1000)
    for study, rows in trials.groupby("study", sort=True):
        rows = rows.sort_values("round")
        first = rows.iloc[0]
        wanted = f"tags.`{STUDY_TAG}` = '{study}' and tags.`{KIND_TAG}` = 'study'"
        found = client.search_runs([experiment_id], filter_string=wanted, max_results=1)
        started = _millis(first.get("finished_at"), now) - int(1000 * (_number(first.get("duration_s")) or 0))
        if found:
            run_id, done = found[0].info.run_id, int(found[0].data.tags.get(EXPORTED_TAG, "0"))
            client.update_run(run_id, status="RUNNING")
        else:
            tags = {STUDY_TAG: str(study), KIND_TAG: "study"}
            tags |= {k: str(first[k]) for k in TAGS if k in rows and pd.notna(first[k])}
            run_id = client.create_run(
                experiment_id, start_time=started, run_name=str(study), tags=tags
            ).info.run_id
            done = 0
            settings = flat_settings(configs[str(study)]) if str(study) in configs else {}
            settings |= {
                k: str(first[k]) for k in PARAMS if k in rows and pd.notna(first[k]) and k not in settings
            }
            _log(client, run_id, [], [Param(k, v) for k, v in sorted(settings.items())])
        sources = sorted({s for s in rows["energy_source"].astype(str) if s and s != "nan"})
        client.set_tag(run_id, "energy_source", "+".join(sources) or "none")
        new = rows[rows["round"] > done]
        # The study's curves: every round's metrics after those exported before (cumulative joules and
        # best-so-far are computed over all rounds, then cut).
        metrics = [Metric(k, v, t, s) for k, v, s, t in round_metrics(rows, now) if s > done]
        if str(study) in by_study.index:
            summary_row = by_study.loc[str(study)]
            for key in SUMMARY_METRICS:
                value = _number(summary_row.get(key))
                if value is not None:
                    metrics.append(Metric(f"study_{key}", value, now, int(rows["round"].max())))
        _log(client, run_id, metrics)
        for _, r in new.iterrows():
            _round_run(client, experiment_id, run_id, str(study), r, now)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trials.csv"
            rows.drop(columns=[c for c in ("origin",) if c in rows]).to_csv(path, index=False)
            client.log_artifact(run_id, str(path))
        ended = max((_millis(v, now) for v in rows.get("finished_at", pd.Series(dtype=object))), default=now)
        client.set_tag(run_id, EXPORTED_TAG, str(int(rows["round"].max())))
        client.set_terminated(run_id, end_time=ended)
        run_ids.append(run_id)
    say(f"mlflow: {len(run_ids)} run(s) in experiment {experiment!r} at {tracking_uri}")
    return run_ids


def _round_run(client: Any, experiment_id: str, parent: str, study: str, r: pd.Series, now: int) -> None:
    """A round as a nested run: its hyperparameters as parameters, its readings as metrics."""
    from mlflow.entities import Metric, Param

    end = _millis(r.get("finished_at"), now)
    start = end - int(1000 * (_number(r.get("duration_s")) or 0))
    round_no = int(r["round"])
    tags = {PARENT_TAG: parent, STUDY_TAG: study, KIND_TAG: "round", ROUND_TAG: str(round_no)}
    tags["status"] = str(r.get("status"))
    source = r.get("energy_source")
    if isinstance(source, str) and source:
        tags["energy_source"] = source
    run = client.create_run(experiment_id, start_time=start, run_name=f"round {round_no}", tags=tags)
    params = [
        Param(str(k).removeprefix("p_"), str(v))
        for k, v in r.items()
        if str(k).startswith("p_") and pd.notna(v)
    ]
    metrics = [
        Metric(key, value, end, round_no)
        for key in CHILD_METRICS
        if (value := _number(r.get(key))) is not None
    ]
    _log(client, run.info.run_id, metrics, params)
    client.set_terminated(
        run.info.run_id, status="FINISHED" if r.get("status") != "failed" else "FAILED", end_time=end
    )


def export_report(out: Path, tracking_uri: str, experiment: str = "harness") -> str:
    """The report's figures and tables as the artifacts of one run ``report`` (found again by the
    report's folder, so a re-export replaces its files in place)."""
    client, experiment_id = _client(tracking_uri, experiment)
    where = str(out.resolve())
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{REPORT_TAG}` = '{where}'", max_results=1
    )
    if found:
        run_id = found[0].info.run_id
    else:
        tags = {REPORT_TAG: where, KIND_TAG: "report"}
        run_id = client.create_run(experiment_id, run_name="report", tags=tags).info.run_id
    for path in sorted(out.iterdir()):
        if (
            path.is_file()
            and path.suffix in (".png", ".svg", ".csv", ".md")
            and not path.name.startswith(".")
        ):
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    return str(run_id)
