"""The trials.csv contract: one row per search round (column names are an interface; see README).

This module imports neither torch nor the training code, so the reducer can read tables anywhere.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.atomic import append_whole, write_atomic

TRIALS_FILE = "trials.csv"
# Optuna user attributes under which each trial keeps its record.
RECORD_ATTR = "record"
INTERRUPTED_ATTR = "interrupted"
# The energy an interrupted attempt had spent: {energy_j, energy_source, duration_s, until}, written at
# each heartbeat while a round trains and once more when a signal stops it ("until": heartbeat, signal).
SPENT_ATTR = "spent"
SURPLUS_ATTR = "surplus"  # a trial that lost its round to another worker: not a round of the study
# The study attribute (and study.json key) with what the report groups a study by: its strategy,
# pruner, what its rounds are scored on and its settings (harness/config: Config.facts).
FACTS_ATTR = "facts"


def is_round(user_attrs: Mapping[str, Any]) -> bool:
    """The kept-round rule, the one place it is written: a trial is one of its study's recorded rounds
    when it carries its record and is neither an attempt a signal or a death interrupted nor a
    trial that lost its round to another worker (the report's SQL reader applies the same rule to
    the attributes' rows)."""
    return (
        user_attrs.get(RECORD_ATTR) is not None
        and not user_attrs.get(INTERRUPTED_ATTR)
        and not user_attrs.get(SURPLUS_ATTR)
    )


# Fixed columns, in order; p_<name> hyperparameter columns follow them.
COLUMNS = (
    "study",
    "dataset",
    "model",
    "strategy",
    "space",
    "seed",
    "round",
    "status",
    "accuracy",
    "accuracy_std",
    "energy_j",
    "energy_source",
    "energy_net_j",
    "shared_counters",
    "contended",
    "others_cores",
    "steal_frac",
    "energy_note",
    "gpu_j",
    "cpu_j",
    "dram_j",
    "duration_s",
    "train_s",
    "eval_s",
    "suggest_s",
    "suggest_j",
    "interrupted_j",
    "samples_per_s",
    "repetitions",
    "stack",
    "reason",
    "table",
    "finished_at",
    "host",
    "pruner",
    "scored_on",
    "settings",
)
# The study's facts (Config.facts) that each row carries, so that a row read without its study.json or
# storage (trials.csv files concatenated, a Parquet export) is grouped and labelled as its study is.
ROW_FACTS = ("pruner", "scored_on", "settings")
# What an outside table must have to be reduced (status, when absent, means complete).
REQUIRED = ("study", "dataset", "model", "strategy", "seed", "round", "accuracy", "energy_j")
STATUSES = ("complete", "failed", "pruned")


@dataclass(frozen=True)
class TrialRecord:
    study: str
    dataset: str
    model: str
    strategy: str
    space: str
    seed: int
    round: int
    status: str
    accuracy: float | None
    accuracy_std: float | None
    energy_j: float | None
    energy_source: str
    duration_s: float
    train_s: float
    eval_s: float
    suggest_s: float
    samples_per_s: float | None
    repetitions: int
    stack: int = 1  # repetitions trained together as one stacked model (1: one after another)
    reason: str = ""
    energy_net_j: float | None = None  # energy_j minus the idle baseline power x window duration
    shared_counters: bool = False  # another job was metering on this machine during the round
    # Other processes' CPU use (mean cores) and the hypervisor's steal over the round's window, and
    # whether either reached the contention threshold (harness/energy/load.py); empty when unknown.
    contended: bool | None = None
    others_cores: float | None = None
    steal_frac: float | None = None
    energy_note: str = ""  # why energy_j is empty, when it is
    gpu_j: float | None = None
    cpu_j: float | None = None
    dram_j: float | None = None
    suggest_j: float | None = None  # the strategy's ask, in its own window (not part of energy_j)
    # Spent by earlier, interrupted attempts at this round (not part of energy_j): measured to the
    # signal that stopped an attempt, or to the last heartbeat of one killed without warning.
    interrupted_j: float | None = None
    # A replayed round: the digest of the table it was looked up in (empty for a trained round).
    table: str = ""
    # When the round was recorded (ISO 8601, UTC): what MLflow and other trackers stamp it with.
    finished_at: str = ""
    # The machine the round ran on (its hostname): on a cluster, the node of the job that trained it.
    host: str = ""
    # The study's facts (ROW_FACTS): its pruner ("" for none), what the rounds are scored on
    # (validation or test) and its settings (the name's tokens after the seed, the pruner's aside).
    # Empty in rows written before rows carried them.
    pruner: str = ""
    scored_on: str = ""
    settings: str = ""
    params: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        params = data.pop("params")
        row = {k: _cell(data[k]) for k in COLUMNS}
        row.update({f"p_{k}": _cell(v) for k, v in sorted(params.items())})
        return row

    def to_attrs(self) -> dict[str, Any]:
        """A JSON-safe dict for Optuna's user attributes (params live in the trial itself)."""
        data = asdict(self)
        data.pop("params")
        return data

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], params: Mapping[str, float]) -> TrialRecord:
        return cls(**attrs, params=dict(params))


# The columns are the record's fields in trials.csv's order: a field added to one and not the other
# fails here, at import, rather than being dropped from every row.
_FIELDS = {f.name for f in fields(TrialRecord)} - {"params"}
if set(COLUMNS) != _FIELDS:
    raise RuntimeError(f"trials.csv COLUMNS and TrialRecord disagree on {sorted(_FIELDS ^ set(COLUMNS))}")


# What a stored record holds: its fields, the ones every record has, and the others' defaults.
RECORD_FIELDS = frozenset(_FIELDS)
RECORD_DEFAULTS = {f.name: f.default for f in fields(TrialRecord) if f.default is not MISSING}
RECORD_REQUIRED = frozenset(
    f.name for f in fields(TrialRecord) if f.default is MISSING and f.default_factory is MISSING
)


def row_of(attrs: Mapping[str, Any], params: Mapping[str, float]) -> dict[str, Any]:
    """``TrialRecord.from_attrs(attrs, params).row()`` without building the record: the report reads
    hundreds of thousands of stored rounds (3.4 s for 64,000 that way, here a fraction of it)."""
    if not attrs.keys() >= RECORD_REQUIRED or not attrs.keys() <= RECORD_FIELDS:
        TrialRecord.from_attrs(attrs, params)  # raises the record's own TypeError for it
    row = {k: _cell(attrs[k] if k in attrs else RECORD_DEFAULTS[k]) for k in COLUMNS}
    row.update({f"p_{k}": _cell(v) for k, v in sorted(params.items())})
    return row


def _cell(value: Any) -> Any:
    """Empty for None and NaN: a missing reading is never written as zero."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def fieldnames(param_names: Iterable[str]) -> list[str]:
    return [*COLUMNS, *(f"p_{n}" for n in sorted(param_names))]


class TrialsWriter:
    """trials.csv in a run directory: rewritten whole from storage at start, appended per round."""

    def __init__(self, run_dir: Path, param_names: Iterable[str]) -> None:
        self.path = run_dir / TRIALS_FILE
        self.fields = fieldnames(param_names)

    def rewrite(self, records: Iterable[TrialRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, self.fields)
        writer.writeheader()
        writer.writerows(r.row() for r in records)
        write_atomic(self.path, buffer.getvalue())

    def append(self, record: TrialRecord) -> None:
        """One whole line, on disk before the next round starts (or, on a full disk, none)."""
        buffer = io.StringIO(newline="")
        csv.DictWriter(buffer, self.fields).writerow(record.row())
        append_whole(self.path, buffer.getvalue())
