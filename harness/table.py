"""harness-table: train every candidate of a space once, for real, and write a replay table.

A table build is a study (strategy=table) whose round r trains candidate r with all its
repetitions, recording after every epoch each repetition's accuracy on the split the study scores on
and on the test split, and the joules and seconds of the epoch's training and scoring. So it resumes
after a kill, splits over several workers on one storage, stops cleanly on a signal and shows its
progress, as any study does. When every candidate is recorded, the rounds are written as one Parquet
table (one row per candidate, repetition and epoch) with a JSON manifest: the protocol's fingerprint,
the machine, the meter and the table's digest.

    harness-table [--out DIR] dataset=digits model=dense_poly space=paper3 strategy.candidates=256 \\
        study.epochs=25 study.repetitions=8 dataset.validation=0.2

Replay it with ``harness study.backend=replay study.table=DIR`` and the same dataset, model and space.
"""

from __future__ import annotations

from harness.signals import stop_with_one_line

stop_with_one_line(
    "harness-table", "stopped before the build began; run the same command to build (or resume) it"
)

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.config import TABLE_MANIFEST, Config
from harness.errors import ConfigError, HarnessError
from harness.replay import TABLE_FILE, protocol

FORMAT = 1
USAGE = "usage: harness-table [--out DIR] OVERRIDES... (the overrides of harness; see harness --help)"


def _rows(
    rounds: list[tuple[int, dict[str, float], dict[str, Any], list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """One row per candidate, repetition and epoch, with per-repetition shares of each epoch's cost.

    A stacked chunk's epoch is metered once for all its repetitions: each gets an equal share. Where
    the meter could not be read mid-round (None marks), the round's joules are apportioned by seconds
    and the rows say so (``energy_apportioned``).
    """
    rows: list[dict[str, Any]] = []
    for round_no, params, record, trace in rounds:
        total_j, total_s = record.get("energy_j"), float(record.get("duration_s") or 0.0)
        base = {
            "candidate": round_no - 1,
            **{f"p_{k}": float(v) for k, v in sorted(params.items())},
            "status": record["status"],
            "reason": record.get("reason", ""),
            "round_j": total_j,
            "round_s": total_s,
            "energy_source": record["energy_source"],
        }
        if not trace:  # failed before its first epoch ended
            rows.append({**base, "repetition": 0, "epoch": 0})
            continue
        chunk_end_j: dict[int, float | None] = {}
        chunk_end_s: dict[int, float] = {}
        previous_j: float | None = 0.0
        previous_s = 0.0
        apportion = any(m is None for e in trace for m in e["marks_j"])
        for entry in trace:
            first, epoch = int(entry["repetition"]), int(entry["epoch"])
            scores, tests = entry["score"], entry["test"]
            (trained_j, scored_j, done_j), (trained_s, scored_s, done_s) = entry["marks_j"], entry["marks_s"]
            if epoch == 1:  # a chunk starts where the previous one (or the round) left off
                previous_j = chunk_end_j.get(first, previous_j)
                previous_s = chunk_end_s.get(first, previous_s)
            copies = len(scores)
            train_s, eval_s = trained_s - previous_s, scored_s - trained_s
            if apportion or trained_j is None or scored_j is None or previous_j is None:
                per_s = (total_j / total_s) if (total_j is not None and total_s > 0) else None
                train_j = None if per_s is None else per_s * train_s
                eval_j = None if per_s is None else per_s * eval_s
            else:
                train_j, eval_j = trained_j - previous_j, scored_j - trained_j
            for i in range(copies):
                rows.append(
                    {
                        **base,
                        "repetition": first + i,
                        "epoch": epoch,
                        "score": float(scores[i]),
                        "test": float(tests[i]) if tests is not None else None,
                        "train_j": None if train_j is None else train_j / copies,
                        "eval_j": None if eval_j is None else eval_j / copies,
                        "train_s": train_s / copies,
                        "eval_s": eval_s / copies,
                        "energy_apportioned": apportion,
                    }
                )
            previous_j, previous_s = done_j, done_s
            chunk_end_j[first + copies] = done_j
            chunk_end_s[first + copies] = done_s
    return rows


def export(cfg: Config, out: Path) -> Path:
    """Write the table of the study ``cfg`` names (every candidate recorded) into ``out``."""
    import optuna
    import pandas as pd

    from harness.records import RECORD_ATTR
    from harness.rounds import TRACE_ATTR
    from harness.storage import close_storage, open_storage
    from harness.study import finished_records
    from harness.workers import ROUND_ATTR, is_record

    storage = open_storage(cfg.study.storage)
    try:
        study = optuna.load_study(study_name=cfg.study_name, storage=storage)
        records = finished_records(study)
        if len(records) < cfg.study.rounds:
            raise HarnessError(
                f"{len(records)} of {cfg.study.rounds} candidates are built; run the same command to go on"
            )
        traces: dict[int, Any] = {}
        for trial in study.get_trials(deepcopy=False):
            if is_record(trial):
                traces.setdefault(int(trial.user_attrs[ROUND_ATTR]), trial)
        rounds = [
            (r, dict(t.params), t.user_attrs[RECORD_ATTR], t.user_attrs.get(TRACE_ATTR) or [])
            for r, t in sorted(traces.items())
        ]
        machine = study.user_attrs.get("machine", {})
    finally:
        close_storage(storage)
    frame = pd.DataFrame(_rows(rounds))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{TABLE_FILE}.{os.getpid()}.tmp"
    frame.to_parquet(tmp, index=False)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:12]
    os.replace(tmp, out / TABLE_FILE)
    fingerprint = cfg.fingerprint()
    best_candidate, best_score = best_mean(frame)
    manifest = {
        "format": FORMAT,
        "digest": digest,
        "study": cfg.study_name,
        "storage": cfg.study.storage,
        "protocol": protocol(cfg),
        "fingerprint": fingerprint,
        "candidates": cfg.study.rounds,
        "repetitions": cfg.study.repetitions,
        "epochs": cfg.study.epochs,
        "scored_on": cfg.scored_on,
        "energy_source": "+".join(sorted(set(frame["energy_source"]))),
        "energy_apportioned": bool(frame.get("energy_apportioned", pd.Series([False])).fillna(False).any()),
        "machine": machine,
        "build_s": float(frame.drop_duplicates("candidate")["round_s"].sum()),
        "build_j": float(frame.drop_duplicates("candidate")["round_j"].sum(min_count=1)),
        "rows": len(frame),
        # The best candidate's expected accuracy: the mean over all repetitions after the last epoch.
        "best_candidate": best_candidate,
        "best_mean_score": best_score,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_atomic(out / TABLE_MANIFEST, json.dumps(manifest, indent=2, default=str))
    return out


def best_mean(frame: Any) -> tuple[int | None, float | None]:
    """The candidate with the highest mean score over its repetitions at its last epoch, and that mean."""
    done = frame[(frame["status"] == "complete") & (frame["epoch"] > 0)]
    if done.empty:
        return None, None
    last = done[done["epoch"] == done.groupby("candidate")["epoch"].transform("max")]
    means = last.groupby("candidate")["score"].mean()
    return int(means.idxmax()), float(means.max())


def _split(argv: list[str]) -> tuple[Path | None, list[str]]:
    out: Path | None = None
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--out":
            value = next(args, None)
            if value is None:
                raise ConfigError("--out needs a folder: harness-table --out tables/NAME OVERRIDES...")
            out = Path(value)
        elif arg.startswith("--out="):
            out = Path(arg.removeprefix("--out="))
        elif arg in ("-h", "--help"):
            print(USAGE)
            print(__doc__)
            raise SystemExit(0)
        else:
            rest.append(arg)
    return out, rest


def _build(args: list[str]) -> int:
    """Run the build's study in a child process. A signal is handed on to it, to stop its round and
    say so in its own line; this process then leaves with the child's status, saying nothing more."""
    child = subprocess.Popen([sys.executable, "-m", "harness", *args])

    def hand_on(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, hand_on)
    return child.wait()


def fail(message: str) -> None:
    print(f"harness-table: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    try:
        out, overrides = _split(sys.argv[1:])
        candidates = next(  # the last one given wins, as it does for Hydra
            (int(o.split("=", 1)[1]) for o in reversed(overrides) if o.startswith("strategy.candidates=")),
            512,
        )
    except ValueError:
        fail("strategy.candidates must be a whole number, such as strategy.candidates=256")
    except ConfigError as exc:
        fail(str(exc))
    fixed = ["strategy=table", f"study.rounds={candidates}"]
    chosen = [o for o in overrides if not o.startswith(("strategy=", "study.rounds="))]
    if len(chosen) != len(overrides):
        print("harness-table: strategy and study.rounds are the table's own; ignoring yours", file=sys.stderr)
    args = [*fixed, *chosen]
    try:
        cfg = compose(args)
    except HarnessError as exc:
        fail(str(exc))
    out = out or Path("tables") / cfg.study_name
    if not any(o.startswith("hydra.run.dir=") for o in args):
        args.append(f"hydra.run.dir={out}/build")
    # The build is a study: the harness runs it (resumable, shared by workers, stopped by signals).
    returncode = _build(args)
    if returncode != 0:
        raise SystemExit(returncode)
    try:
        written = export(cfg, out)
    except HarnessError as exc:
        fail(str(exc))
    print(f"harness-table: wrote {written / TABLE_FILE} and {written / TABLE_MANIFEST}")
    raise SystemExit(0)


def compose(overrides: list[str]) -> Config:
    """The configuration ``harness OVERRIDES`` would run, validated."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from harness.config import conf_dir, from_container, register_configs

    register_configs()
    kept = [o for o in overrides if not o.startswith("hydra.")]
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=kept)
    except Exception as exc:  # Hydra's override and composition errors
        raise ConfigError(str(exc).strip().splitlines()[0]) from None
    return from_container(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
