"""Gather trial tables from run directories, sweep directories, CSV/Parquet files and Optuna storages.

Reads tables only: no torch, no training code. Failed and pruned rounds keep their energy and lose
their accuracy. A table without a status column is taken as all complete.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.records import (
    COLUMNS,
    FACTS_ATTR,
    INTERRUPTED_ATTR,
    RECORD_ATTR,
    RECORD_DEFAULTS,
    RECORD_FIELDS,
    RECORD_REQUIRED,
    REQUIRED,
    ROW_FACTS,
    STATUSES,
    SURPLUS_ATTR,
    TRIALS_FILE,
    is_round,
    row_of,
)

NUMERIC = ("seed", "round", "accuracy", "energy_j")
# No round of any study spends this much (a terawatt for a second; about 280 MWh): a larger value is
# a unit or parsing error, and sums of such values overflow to infinity in the cumulative curves.
MAX_ROUND_J = 1e12
# What identifies one study: the same name on two machines is two studies.
STUDY_KEY = ["origin", "machine", "study"]


def study_slices(trials: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows ordered study by study (in order of each study's first row) and by round within
    each, with each study's [start, end) row positions: whole-table arrays sliced per study, instead
    of a DataFrame per study (a report of thousands of studies spends its time there otherwise)."""
    codes = trials.groupby(STUDY_KEY, sort=False).ngroup().to_numpy()
    order = np.lexsort((trials["round"].to_numpy(), codes))
    ordered = trials.iloc[order].reset_index(drop=True)
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], int)
    ends = np.r_[starts[1:], len(codes)].astype(int)
    return ordered, starts, ends


@dataclass
class Loaded:
    trials: pd.DataFrame
    sources: list[str] = field(default_factory=list)
    # Each study's recorded configuration (study.json, or its storage), where the input had one.
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_jobs: list[Path] = field(default_factory=list)  # sweep jobs with no trials yet


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except ImportError as exc:
        raise HarnessError(f"{path}: reading Parquet needs pyarrow ({exc}); pip install pyarrow") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HarnessError(f"{path} is not a readable table ({first}); give a trials.csv") from exc


def machine_label(info: dict) -> str:
    """A short name of the machine a study ran on (hostname, CPU, GPUs) from its study.json."""
    parts = [info.get("hostname", ""), info.get("cpu_model", "")]
    gpus = info.get("gpu_names") or []
    if gpus:
        parts.append(" + ".join(gpus))
    return " / ".join(p for p in parts if p)


def _final_accuracy(final: dict | None) -> float:
    """The test accuracy of the configuration a validation-scored search picked (NaN: none)."""
    value = (final or {}).get("test_accuracy")
    return float(value) if value is not None else float("nan")


def _with_machine(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Label the rows with the machine (and any final test accuracy) in the study.json beside them."""
    sidecar = _sidecar(path)
    if sidecar is None:
        return table
    columns, config = sidecar
    table = table.assign(**{k: v for k, v in columns.items() if k not in table.columns})
    if config is not None and "study" in table:
        table.attrs["configs"] = {str(s): config for s in table["study"].unique()}
    return table


def _sidecar(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The columns the study.json beside a trials table gives its rows (machine, final test accuracy,
    the recorded configuration's), and that configuration; None without a study.json."""
    sidecar = path.parent / "study.json"
    if not sidecar.is_file():
        return None
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        info = {}
    machine = info.get("machine") if isinstance(info, dict) else None
    final = info.get("final") if isinstance(info, dict) else None
    if not isinstance(info, dict) or not all(isinstance(v, dict) for v in (machine or {}, final or {})):
        raise HarnessError(
            f"{sidecar} is not a study's record (a JSON object with a machine and final object); "
            f"restore the study.json the harness wrote, or remove it to report the rows without it"
        )
    try:
        final_accuracy = _final_accuracy(final)
    except (TypeError, ValueError):
        raise HarnessError(
            f"{sidecar}: final.test_accuracy={(final or {}).get('test_accuracy')!r} is not a number; "
            f"restore the study.json the harness wrote, or remove it"
        ) from None
    config = info.get("config")
    columns = {
        "machine": machine_label(machine or {}),
        "final_test_accuracy": final_accuracy,
        **from_config(config),
        **from_facts(info.get(FACTS_ATTR)),
    }
    return columns, config if isinstance(config, dict) else None


LAYER_COLUMNS = ("linear_layers", "conv_layers", "relu")


def from_config(config: object) -> dict[str, object]:
    """Columns from a study's recorded configuration (study.json, or the storage's study attribute):
    the architecture factors of the RQ2 ablation, and what the rounds were scored on (``scored_on``:
    the validation split the study carved, or the test set)."""
    if not isinstance(config, dict):
        return {}
    model = config.get("model") or {}
    dataset = config.get("dataset") or {}
    out: dict[str, object] = {c: model[c] for c in LAYER_COLUMNS if c in model}
    out["scored_on"] = "validation" if float(dataset.get("validation") or 0.0) > 0 else "test"
    return out


def from_facts(facts: object) -> dict[str, object]:
    """Columns from what a study recorded it is grouped and drawn by (Config.facts): its settings and
    its pruner, read here instead of parsed from its name, and its strategy's look in the figures
    (``look_order``, ``look_colour``); none for a study recorded before them."""
    if not isinstance(facts, dict):
        return {}
    out: dict[str, object] = {
        "settings": str(facts.get("settings", "")),
        "pruner": str(facts.get("pruner", "")),
    }
    look = facts.get("look")
    if isinstance(look, dict) and isinstance(look.get("order"), int) and isinstance(look.get("colour"), str):
        out |= {"look_order": look["order"], "look_colour": look["colour"]}
    return out


def read_storage(url: str) -> pd.DataFrame:
    """Every recorded round of every study in an Optuna storage: a database's tables read in bulk
    where its schema is the one known here, else study by study through Optuna's API."""
    if url.split(":", 1)[0].startswith(("sqlite", "postgresql", "mysql")):
        _storage_file(url)
        frame = _read_tables(url)
        if frame is not None:
            return frame
    return _read_studies(url)


def _storage_file(url: str) -> None:
    for prefix in ("sqlite:///", "journal:///"):
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            path = Path(url.removeprefix(prefix))
            if not path.is_file():  # never create an empty database where a name was misspelt
                raise HarnessError(f"{url}: there is no file {path}; give the storage a study wrote")


# The schema of Optuna's RDB storage that _read_tables reads (its alembic_version table says which:
# Optuna 3.2 to 5.0 write this one).
KNOWN_SCHEMAS = ("v3.2.0.a",)


def _read_tables(url: str) -> pd.DataFrame | None:
    """The rounds of every study in one query per table. Optuna has no public call that returns
    every study's trials with their user attributes at once: study by study, its API took 77 s for
    1,000 studies of 64 rounds. Its tables are read only where their schema version is one known
    here (None otherwise: the caller then goes through the API); the result is the API path's, row
    for row (tests/test_report.py checks both on one storage)."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError):
        return None  # the API path says what is wrong with the URL
    try:
        with engine.connect() as db:
            try:
                version = db.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
            except sqlalchemy.exc.SQLAlchemyError:
                return None  # not an Optuna database (or an empty one): the API path says so
            if str(version) not in KNOWN_SCHEMAS:
                return None

            def table(query: str) -> pd.DataFrame:
                return pd.read_sql_query(sqlalchemy.text(query), db)

            def parts(query: str) -> Iterator[list[tuple[Any, ...]]]:
                """Rows a chunk at a time, from the driver's own cursor (SQLAlchemy's rows cost
                more than the query: 11.5 s of 640,000 records' 14)."""
                cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(query)
                    while part := cursor.fetchmany(CHUNK_ROWS):
                        yield part
                finally:
                    cursor.close()

            studies = table("SELECT study_id, study_name FROM studies ORDER BY study_id")
            study_attrs = table(
                "SELECT study_id, key, value_json FROM study_user_attributes "
                f"WHERE key IN ('machine', 'final', 'config', '{FACTS_ATTR}')"
            )
            # One pass over the trials' attributes: each round's record and the flags that exclude one
            # (records.is_round's rule, applied to the attributes' rows).
            excluded: set[int] = set()
            trial_ids, study_ids, completed, records = [], [], [], []
            for part in parts(
                "SELECT a.trial_id, t.study_id, t.datetime_complete, a.key, a.value_json "
                "FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
                f"WHERE a.key IN ('{RECORD_ATTR}', '{INTERRUPTED_ATTR}', '{SURPLUS_ATTR}') "
                "ORDER BY t.study_id, t.number"
            ):
                rounds = [row for row in part if row[3] == RECORD_ATTR]
                excluded |= {int(row[0]) for row in part if row[3] != RECORD_ATTR and json.loads(row[4])}
                trial_ids.append(np.array([row[0] for row in rounds], dtype=np.int64))
                study_ids += [row[1] for row in rounds]
                completed += [row[2] for row in rounds]
                records.append(_parse_records([row[4] for row in rounds]))
            params = _read_params(
                parts("SELECT trial_id, param_name, param_value, distribution_json FROM trial_params")
            )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise HarnessError(f"{url} cannot be read as an Optuna storage ({exc})") from exc
    finally:
        engine.dispose()
    per_study: dict[int, dict[str, Any]] = {int(i): {} for i in studies["study_id"]}
    for study_id, key, value in study_attrs.itertuples(index=False):
        per_study.setdefault(int(study_id), {})[key] = json.loads(value)
    configs: dict[str, Any] = {}
    columns = {
        int(study_id): _study_columns(per_study.get(int(study_id), {}), str(name), configs)
        for study_id, name in studies.itertuples(index=False)
    }

    def finished(rows: np.ndarray) -> list[str]:  # the database keeps UTC without a zone
        stamps = pd.Series(pd.to_datetime(pd.Series(kept_completed[rows])))
        whole = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")  # datetime.isoformat's, without microseconds
        precise = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        return whole.where(stamps.dt.microsecond == 0, precise).fillna("").tolist()

    # Attempts a signal interrupted and trials that lost their round to another worker are no rounds.
    out = np.fromiter(excluded, np.int64, len(excluded))
    masks = [~np.isin(ids, out) for ids in trial_ids]
    kept = np.concatenate(masks) if masks else np.array([], dtype=bool)
    index = {study_id: i for i, study_id in enumerate(columns)}
    kept_completed = np.asarray(completed, dtype=object)[kept]
    records = [r[m] if len(r) else r for r, m in zip(records, masks, strict=True)]
    frame = _rounds_frame(
        records,
        np.concatenate(trial_ids)[kept] if masks else np.array([], dtype=np.int64),
        params,
        finished,
        list(columns.values()),
        np.array([index[int(i)] for i in study_ids], dtype=np.int64)[kept],
    )
    frame.attrs["configs"] = configs
    return frame


CHUNK_ROWS = 50_000  # stored rows fetched and parsed at a time: memory stays near the parsed table's


def _parse_records(texts: list[str]) -> pd.DataFrame:
    """Stored JSON records parsed together by pyarrow (json.loads one by one spent 13 s on 640,000)."""
    import pyarrow as pa
    import pyarrow.json

    if not texts:
        return pd.DataFrame()
    try:
        frame = pyarrow.json.read_json(pa.py_buffer("\n".join(texts).encode())).to_pandas()
    except pa.ArrowInvalid:  # a field whose type changes between records: one by one
        frame = pd.DataFrame([json.loads(text) for text in texts])
    if not set(frame.columns) <= RECORD_FIELDS or not set(frame.columns) >= RECORD_REQUIRED:
        for text in texts:  # the record's own error, for the first that is not a record
            row_of(json.loads(text), {})
    return frame


def _read_params(parts: Iterable[list[tuple[Any, ...]]]) -> pd.DataFrame:
    """Stored hyperparameters (trial_id, name, internal value, distribution JSON) as (trial_id, name,
    value) with the trial's own values (a category, not its index), names and distributions coded as
    they stream in (1.9 million rows repeat a few)."""
    from optuna.distributions import json_to_distribution

    names: dict[str, int] = {}
    dists: dict[str, int] = {}
    trial_ids: list[np.ndarray] = []
    name_codes: list[np.ndarray] = []
    dist_codes: list[np.ndarray] = []
    internal: list[np.ndarray] = []
    for part in parts:
        if not part:
            continue
        ids, name, value, dist_text = zip(*part, strict=True)
        trial_ids.append(np.asarray(ids, dtype=np.int64))
        internal.append(np.asarray(value, dtype=float))
        for column, codes_of, out in ((name, names, name_codes), (dist_text, dists, dist_codes)):
            codes, uniques = pd.factorize(np.asarray(column, dtype=object))
            out.append(
                np.array([codes_of.setdefault(u, len(codes_of)) for u in uniques], dtype=np.int64)[codes]
            )
    if not trial_ids:
        return pd.DataFrame({"trial_id": [], "name": [], "value": []})
    values = np.concatenate(internal)
    dist_of = np.concatenate(dist_codes)
    # Stored values are Optuna's internal ones (a category's index): as the trial's params give them.
    external = np.empty(len(values), dtype=object)
    for dist_json, code in dists.items():
        where = np.flatnonzero(dist_of == code)
        dist = json_to_distribution(dist_json)
        external[where] = [dist.to_external_repr(v) for v in values[where]]
    return pd.DataFrame(
        {
            "trial_id": np.concatenate(trial_ids),
            "name": np.array(list(names), dtype=object)[np.concatenate(name_codes)],
            "value": external,
        }
    )


def _rounds_frame(
    records: list[pd.DataFrame],
    trial_ids: np.ndarray,
    params: pd.DataFrame,
    finished: Callable[[np.ndarray], list[str]],
    studies: list[dict[str, Any]],
    study_of: np.ndarray,
) -> pd.DataFrame:
    """Stored rounds as trials.csv's rows, built a column at a time: ``records`` the rounds' parsed
    records (chunks of _parse_records), ``params`` their hyperparameters (trial_id, name, value),
    ``finished(rows)`` the completion times of those rounds, for records written before the harness
    kept ``finished_at``, and round i's study columns ``studies[study_of[i]]``. A field a record lacks
    (an older harness's) takes the record's default, as TrialRecord.from_attrs would."""
    records = [r for r in records if len(r)]
    if not records:
        return pd.DataFrame()
    frame = pd.concat(records, ignore_index=True)
    records.clear()  # the chunks are the caller's list: freed here, not after the frame is built
    objects = [name for name, dtype in frame.dtypes.items() if pd.api.types.is_object_dtype(dtype)]
    for name in objects:  # a field empty in some chunks: its type
        frame[name] = frame[name].infer_objects()
    for name in COLUMNS:
        default = RECORD_DEFAULTS.get(name)
        if name not in frame.columns:
            frame[name] = np.nan if default is None else default
        elif default is not None and frame[name].isna().any():
            frame[name] = frame[name].astype(object).fillna(default)
    # A stored study's facts are its study attribute (the study columns below), not its records': a
    # record written before records carried them would read as facts recorded empty.
    stored = [name for name in COLUMNS if name not in ROW_FACTS]
    if list(frame.columns) != stored:
        frame = frame[stored]
    empty = np.flatnonzero(frame["finished_at"].fillna("").astype(str).to_numpy() == "")
    if len(empty):
        stamps = frame["finished_at"].to_numpy(dtype=object, copy=True)
        stamps[empty] = finished(empty)
        frame["finished_at"] = stamps
    for name, given in params.groupby("name", sort=True):
        by_trial = pd.Series(given["value"].to_numpy(), index=given["trial_id"].to_numpy())
        frame[f"p_{name}"] = by_trial.reindex(trial_ids).infer_objects().to_numpy()
    study = pd.DataFrame(studies)
    for name in study.columns:
        frame[name] = study[name].to_numpy()[study_of]
    return frame


def _study_columns(user_attrs: dict[str, Any], name: str, configs: dict[str, Any]) -> dict[str, Any]:
    """What every round row of a study carries from the study's own attributes (its recorded
    configuration also goes into ``configs``)."""
    if isinstance(user_attrs.get("config"), dict):
        configs[name] = user_attrs["config"]
    return {
        "machine": machine_label(user_attrs.get("machine", {})),
        "final_test_accuracy": _final_accuracy(user_attrs.get("final")),
        **from_config(user_attrs.get("config")),
        **from_facts(user_attrs.get(FACTS_ATTR)),
    }


def _read_studies(url: str) -> pd.DataFrame:
    """Every recorded round of every study, study by study through Optuna's API (a journal file, or
    a database whose schema _read_tables does not know)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _storage_file(url)
    storage: Any = url
    if url.startswith("journal:///"):
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal:///")))
    try:
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    except Exception as exc:  # sqlalchemy and optuna raise many kinds for a bad URL
        raise HarnessError(f"{url} cannot be opened as an Optuna storage ({exc})") from exc
    texts: list[str] = []
    params: list[tuple[int, str, Any]] = []
    completed: list[datetime.datetime | None] = []
    studies: list[dict[str, Any]] = []
    study_of: list[int] = []
    configs: dict[str, Any] = {}
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        studies.append(_study_columns(study.user_attrs, study.study_name, configs))
        for trial in study.get_trials(deepcopy=False):
            if is_round(trial.user_attrs):
                attrs = trial.user_attrs[RECORD_ATTR]
                params += [(len(texts), name, value) for name, value in trial.params.items()]
                texts.append(json.dumps(attrs))
                completed.append(trial.datetime_complete)
                study_of.append(len(studies) - 1)

    def finished(rows: np.ndarray) -> list[str]:  # Optuna gives local times without a zone
        return [
            "" if (at := completed[i]) is None else at.astimezone().astimezone(datetime.UTC).isoformat()
            for i in rows
        ]

    frame = _rounds_frame(
        [_parse_records(texts[i : i + CHUNK_ROWS]) for i in range(0, len(texts), CHUNK_ROWS)],
        np.arange(len(texts)),
        pd.DataFrame(  # values as objects: a whole-number hyperparameter stays an int
            {
                "trial_id": [t for t, _, _ in params],
                "name": [n for _, n, _ in params],
                "value": np.array([v for _, _, v in params], dtype=object),
            }
        ),
        finished,
        studies,
        np.array(study_of, dtype=np.int64),
    )
    frame.attrs["configs"] = configs
    return frame


class _Read(NamedTuple):
    """Rows read from one input, or from many files of one header parsed as one text (``files``:
    read again one by one when a check must name the file and row), and the studies' recorded
    configurations."""

    origin: str
    table: pd.DataFrame
    files: tuple[Path, ...]
    configs: dict[str, Any]


def _read(origin: str, table: pd.DataFrame, files: tuple[Path, ...] = ()) -> _Read:
    """The readers leave the configurations in ``table.attrs``; they leave the frame here: pandas
    deep-copies a frame's attrs at every operation (10,000 configurations made a report minutes long)."""
    return _Read(origin, table, files, table.attrs.pop("configs", {}))


def _read_file(path: Path) -> _Read:
    return _read(str(path), _with_machine(_read_table(path), path))


def _read_many(paths: list[Path]) -> list[_Read]:
    """Each file's rows, with its study.json's columns. A sweep's thousands of trials.csv files with
    one header are parsed as one text (one file at a time spent 2 ms each, most of a 10,000-study
    report). A file with quotes, carriage returns or no rows is read on its own."""
    texts: dict[bytes, list[tuple[Path, list[bytes]]]] = {}
    alone = []
    for path in paths:
        try:
            data = path.read_bytes() if path.suffix == ".csv" else b""
        except OSError:
            data = b""
        header, _, body = data.partition(b"\n")
        lines = [line for line in body.split(b"\n") if line]
        if not lines or b'"' in data or b"\r" in data:
            alone.append(path)  # read by pandas alone: its quoting, its errors
        else:
            texts.setdefault(header, []).append((path, lines))
    out = [_read_file(p) for p in alone]
    for header, files in texts.items():
        table = _one_text(header, files)
        if table is None:  # pandas saw other rows than the lines: each file on its own
            out += [_read_file(p) for p, _ in files]
        else:
            out.append(_read(f"{files[0][0]} and {len(files) - 1} more", table, tuple(p for p, _ in files)))
    return out


def _one_text(header: bytes, files: list[tuple[Path, list[bytes]]]) -> pd.DataFrame | None:
    """Files of one header parsed as one CSV text, each row given its file's study.json columns."""
    import io

    text = b"\n".join([header, *(line for _, lines in files for line in lines)])
    try:
        table = pd.read_csv(io.BytesIO(text))
    except (ValueError, pd.errors.ParserError):
        return None  # each file on its own says which is unreadable
    counts = np.array([len(lines) for _, lines in files])
    if len(table) != counts.sum():
        return None
    sidecars = [_sidecar(path) for path, _ in files]
    if any(sidecars):
        names = sorted({name for s in sidecars if s for name in s[0]} - set(table.columns))
        per_file = pd.DataFrame([s[0] if s else {} for s in sidecars], columns=names)
        for name in names:
            table[name] = np.repeat(per_file[name].to_numpy(object), counts)
            table[name] = table[name].infer_objects()
        configs: dict[str, Any] = {}
        if "study" in table:
            studies = table["study"].astype(str).to_numpy()
            edges = np.r_[0, np.cumsum(counts)]
            for i, s in enumerate(sidecars):
                if s and s[1] is not None:
                    configs.update(dict.fromkeys(np.unique(studies[edges[i] : edges[i + 1]]), s[1]))
        table.attrs["configs"] = configs
    return table


def _expand(item: str, loaded: Loaded) -> list[_Read]:
    if "://" in item:
        return [_read(item, read_storage(item))]
    path = Path(item)
    if path.is_file():
        return [_read_file(path)]
    if path.is_dir():
        tables = sorted(path.rglob(TRIALS_FILE))
        # A Hydra job directory (it has .hydra/) without a trials.csv has not recorded a round yet.
        for job in sorted(p.parent for p in path.rglob(".hydra")):
            if not (job / TRIALS_FILE).exists():
                loaded.missing_jobs.append(job)
        return _read_many(tables)
    raise HarnessError(
        f"{item} does not exist; give run or sweep directories, CSV/Parquet files or a storage URL"
    )


HARNESS_NAME = re.compile(
    r"^(?P<dataset>[^-]+)-(?P<model>[^-]+)-(?P<strategy>[^-]+)-(?P<space>[^-]+)-s\d+(?P<rest>-.+)?$"
)


PRUNE_TOKEN = "prune_"  # the study-name token of strategy.pruner (harness/config/__init__.py NAME_TOKENS)


def settings_of(study: str, dataset: str, model: str, strategy: str, space: str) -> str:
    """Every setting of a study but its seed and strategy, as the harness names them: the tokens after
    the seed in its name (``e1-r8-b512-n8000``; empty for the options' own settings). Studies of one
    panel and one target share them, and seeds pool only within them. A name the harness did not make
    (an outside table, a study.name) says nothing of its settings: empty, so such studies pool by
    their dataset, model, space and strategy columns alone."""
    match = HARNESS_NAME.match(study)
    if match and (match["dataset"], match["model"], match["strategy"], match["space"]) == (
        dataset,
        model,
        strategy,
        space,
    ):
        return (match["rest"] or "").lstrip("-")
    return ""


def _check_values(frame: pd.DataFrame, raw: pd.DataFrame, origin: str) -> None:
    """Refuse, in one line naming the file and row, values no round can have: text where a number
    belongs, a seed or round that is not a whole number (rounds count from 1), an accuracy outside
    [0, 1], joules that are negative or not finite, and one round of a study recorded twice with
    different values (identical copies are kept once)."""
    import numpy as np

    def bad(mask: pd.Series, column: str, why: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask.to_numpy())[0])
            value = raw[column].iloc[i] if column in raw else frame[column].iloc[i]
            value = value.item() if isinstance(value, np.generic) else value  # 1e+308, not np.float64(...)
            raise HarnessError(f"{origin}: row {i + 2} has {column}={value!r}: {why}; fix or drop that row")

    given = {c: raw[c].notna() & (raw[c].astype(str).str.strip() != "") for c in NUMERIC}
    for column in NUMERIC:
        bad(given[column] & frame[column].isna(), column, "not a number")
    for column in ("seed", "round"):
        values = frame[column]
        whole = values.notna() & np.isfinite(values) & (values == values.round())
        bad(given[column] & ~whole, column, "not a whole number")
        bad(~given[column], column, "missing")
    bad(frame["round"] < 1, "round", "rounds count from 1")
    bad(frame["seed"] < 0, "seed", "a seed is 0 or more")
    complete = frame["status"] == "complete"
    accuracy = frame["accuracy"]
    bad(complete & accuracy.notna() & ~accuracy.between(0.0, 1.0), "accuracy", "an accuracy lies in [0, 1]")
    energy = frame["energy_j"]
    bad(
        energy.notna() & ~np.isfinite(energy),
        "energy_j",
        "joules must be finite (leave it empty when unmetered)",
    )
    bad(energy < 0, "energy_j", "joules are never negative")
    bad(energy > MAX_ROUND_J, "energy_j", f"more than {MAX_ROUND_J:.0e} J (a terawatt-second) for one round")
    for column in ("suggest_j", "energy_net_j", "duration_s"):
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce")
            implausible = values.notna() & ~values.abs().le(MAX_ROUND_J)
            bad(implausible, column, "not a finite number of plausible size")
    key = [c for c in ("origin", "machine", "study", "round") if c in frame.columns]
    twice = frame.duplicated(key, keep=False)
    if twice.any():
        fields = [c for c in ("status", "accuracy", "energy_j") if c in frame.columns]
        differing = frame[twice].groupby(key)[fields].nunique(dropna=False).gt(1).any(axis=1)
        if differing.any():
            study, round_no = differing[differing].index[0][-2:]
            raise HarnessError(
                f"{origin}: round {int(round_no)} of study {study!r} appears twice with different values; "
                f"keep one copy of each round (give each study's rows once)"
            )


def _text(column: pd.Series) -> pd.Series:
    """A text column with empty cells as "" (a column whose cells are all empty reads as floats)."""
    return column.astype(object).fillna("").astype(str)


def normalise(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Check the required columns and coerce types; accuracy of unfinished rounds becomes NaN."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise HarnessError(
            f"{origin} lacks the column(s) {', '.join(missing)}; a trial table needs {', '.join(REQUIRED)}"
        )
    # No copy: with pandas' copy-on-write (the default from pandas 3) the caller's frame never sees
    # these changes, and a copy of a 640,000-row storage frame was the report's peak memory.
    if "status" not in frame.columns:
        frame["status"] = "complete"
    frame["status"] = frame["status"].fillna("complete").astype(str)
    unknown = sorted(set(frame["status"].unique()) - set(STATUSES))
    if unknown:
        raise HarnessError(
            f"{origin} has status {unknown[0]!r}; a round's status is one of {', '.join(STATUSES)}"
        )
    raw = frame[list(NUMERIC)].copy()
    for column in NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    _check_values(frame, raw, origin)
    key = [c for c in ("origin", "machine", "study", "round") if c in frame.columns]
    frame = frame.drop_duplicates(key)  # identical copies of a round (the same file given twice)
    frame.loc[frame["status"] != "complete", "accuracy"] = float("nan")
    for column in ("space", "energy_source", "machine"):
        if column not in frame.columns:
            frame[column] = ""
        frame[column] = _text(frame[column])
    if "origin" not in frame.columns:
        frame["origin"] = "harness"
    for column in ("study", "dataset", "model", "strategy"):
        frame[column] = frame[column].astype(str)
    recorded = frame["settings"].notna() if "settings" in frame.columns else pd.Series(False, frame.index)
    if not recorded.all():
        # Studies that did not record their settings (Config.facts): read from their names, per study
        # (a study's rows share the five fields its settings come from).
        fields = ["study", "dataset", "model", "strategy", "space"]
        named = frame.loc[~recorded, fields]
        codes = named.groupby(fields, sort=False).ngroup().to_numpy()
        first = named.drop_duplicates()
        per_study = np.array([settings_of(*key) for key in first.itertuples(index=False)], dtype=object)
        given = frame["settings"] if "settings" in frame else pd.Series("", index=frame.index)
        settings = given.to_numpy(dtype=object, copy=True)
        settings[~recorded.to_numpy()] = per_study[codes] if len(codes) else []
        frame["settings"] = settings
    frame["settings"] = _text(frame["settings"])
    return _pruner_in_strategy(frame)


def _pruner_in_strategy(frame: pd.DataFrame) -> pd.DataFrame:
    """A pruner is part of how a strategy searches, not of the cell it searches: ``prune_median`` moves
    from the settings to the strategy (``bayes_pi+median``), so that pruned and unpruned searches of
    one cell share their target and are compared side by side."""
    if "pruner" in frame.columns:  # recorded (Config.facts): the label, without parsing a name
        recorded = _text(frame["pruner"])
        frame = frame.drop(columns="pruner")
        if (recorded != "").any():
            frame["strategy"] = np.where(
                recorded != "", frame["strategy"] + "+" + recorded, frame["strategy"]
            )
    # Studies that did not record it: the pruner token in their settings. Per distinct settings
    # string, not per row.
    pruners = {
        value: next((t[len(PRUNE_TOKEN) :] for t in value.split("-") if t.startswith(PRUNE_TOKEN)), "")
        for value in frame["settings"].unique()
    }
    if not any(pruners.values()):
        return frame
    kept = {
        value: "-".join(t for t in value.split("-") if not t.startswith(PRUNE_TOKEN)) for value in pruners
    }
    pruner = frame["settings"].map(pruners)
    frame["settings"] = frame["settings"].map(kept)
    frame["strategy"] = [f"{s}+{p}" if p else s for s, p in zip(frame["strategy"], pruner, strict=True)]
    return frame


def load(inputs: list[str], extra: list[pd.DataFrame] | None = None) -> Loaded:
    loaded = Loaded(pd.DataFrame())
    frames = []
    for item in inputs:
        reads = _expand(item, loaded)
        for read in reads:
            loaded.configs.update(read.configs)
        reads = [read for read in reads if len(read.table)]
        if len(reads) > 1 or any(read.files for read in reads):
            # A sweep's thousands of trials.csv files are checked as one table; where a check fails,
            # file by file below, so that the message names the file and row.
            try:
                frames.append(normalise(pd.concat([r.table for r in reads], ignore_index=True), item))
            except HarnessError:
                reads = [one for read in reads for one in ([_read_file(f) for f in read.files] or [read])]
            else:
                loaded.sources += [str(f) for read in reads for f in (read.files or [read.origin])]
                continue
        for read in reads:
            if len(read.table):
                frames.append(normalise(read.table, read.origin))
                loaded.sources.append(read.origin)
    frames += [normalise(f, "paper") for f in extra or []]
    if not frames:
        raise HarnessError(
            f"no trial rows found in {', '.join(inputs) or 'the inputs'}; give run directories, "
            f"sweep directories, trials.csv files or an Optuna storage URL"
        )
    trials = pd.concat(frames, ignore_index=True)
    trials = trials.sort_values([*STUDY_KEY, "round"], kind="stable")
    duplicated = trials.duplicated([*STUDY_KEY, "round"], keep="last")
    if duplicated.any():  # the same study read twice (a run dir and its storage): keep one copy
        trials = trials[~duplicated]
    loaded.trials = trials.reset_index(drop=True)
    for job in loaded.missing_jobs:
        print(f"harness-report: {job} has no trials yet (job missing or still running)", file=sys.stderr)
    return loaded
