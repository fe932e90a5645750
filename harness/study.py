"""The round loop: ask the strategy, train under an energy window, tell, record.

Optuna storage is the source of truth. The study name comes from the configuration, so running the
same command again resumes: finished rounds stay as they are, a round that was running when the
process died is marked interrupted and run again with the same hyperparameters, and the study stops
at exactly ``study.rounds`` rounds. trials.csv is rebuilt from storage at start, then appended.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import torch
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from harness.atomic import write_atomic
from harness.config import ROUND_PARAMS, Config, StudySettings
from harness.config.meter import MeterUse
from harness.config.options import ModelConfig
from harness.data import Dataset, split_validation
from harness.energy import Meter
from harness.energy.concurrency import ActiveJobs
from harness.errors import ConfigError, HarnessError, Interrupted
from harness.machine import machine_info
from harness.records import (
    FACTS_ATTR,
    RECORD_ATTR,
    ROW_FACTS,
    TRIALS_FILE,
    TrialRecord,
    TrialsWriter,
    is_round,
)
from harness.rounds import CANDIDATE_ATTR, TRACE_ATTR, LiveRounds, RoundBackend, round_settings
from harness.search.space import distributions
from harness.search.strategies import derive_seed
from harness.signals import ignore_further
from harness.signals import requested as stop_requested
from harness.storage import close_storage, open_storage
from harness.train import (
    EpochReport,
    StackPlan,
    TensorData,
    plan_stacking,
    prepare,
    warm_up,
)
from harness.workers import (
    WORKER_ATTR,
    Worker,
    Workers,
    interrupted_joules,
    requeue_stale,
    say_rerun,
)

STUDY_FILE = "study.json"
FLAT_ATTRS = ("energy_j", "energy_source", "train_s", "suggest_j", "accuracy_std")
FINAL_ATTR = "final"  # study attribute and study.json key: the picked configuration on the test set
SETTINGS_WAIT_S = 10.0  # how long a worker waits for a just-created study to carry its settings


@dataclass(frozen=True)
class StudyResult:
    name: str
    rounds: int
    best_accuracy: float | None
    best_round: int | None
    joules_to_best: float | None
    total_joules: float | None
    energy_sources: str
    run_dir: Path

    def line(self) -> str:
        if self.best_accuracy is None:
            return f"{self.name}: no round completed in {self.rounds} rounds"
        joules = "unmetered" if self.joules_to_best is None else f"{self.joules_to_best:,.1f} J"
        caveat = (
            ", estimated from CPU time, not a hardware reading" if "estimate" in self.energy_sources else ""
        )
        return (
            f"{self.name}: best accuracy {self.best_accuracy:.4f} first reached at round "
            f"{self.best_round} of {self.rounds}, {joules} to that round "
            f"(energy source: {self.energy_sources}{caveat})"
        )


# --------------------------------------------------------------------------------------------------
# Set-up: everything that can fail on bad input happens before the study is created


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("study.device=cuda but torch sees no CUDA device; use study.device=cpu")
    return torch.device(name)


def cuda_uuid(index: int) -> str | None:
    """The UUID CUDA gives device ``index`` (NVML's, without its GPU-/MIG- prefix); None where torch
    does not say. The NVML meter finds the GPU by it, whatever order CUDA numbers the devices in."""
    try:
        uuid = torch.cuda.get_device_properties(index).uuid
    except (AttributeError, AssertionError, RuntimeError):
        return None
    return str(uuid) if uuid is not None else None


def meter_use(device: torch.device) -> MeterUse:
    """What the meter needs to know of the device a study trains on: for CUDA, its ordinal, the UUID
    that finds it in NVML, and how to wait for its queued kernels (the GPU path's seam: tests drive
    it with a CUDA device object on a CPU-only machine)."""
    if device.type != "cuda":
        return MeterUse()
    ordinal = device.index or 0
    return MeterUse(
        cuda_indices=(ordinal,),
        cuda_uuids=(cuda_uuid(ordinal),),
        synchronize=lambda: torch.cuda.synchronize(device),
    )


def load_data(cfg: Config, device: torch.device) -> tuple[TensorData, Dataset | None]:
    """The data the rounds train and score on, and (with dataset.validation) the final split:
    the same training images scored on the test set, prepared only when the search is done."""
    d = cfg.dataset
    data = d.load(progress=cfg.study.progress)
    if d.validation > 0:
        search, final = split_validation(data, d.validation, seed=d.seed)
        return prepare(search, device), final
    return prepare(data, device), None


def _load(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def _open_study(cfg: Config, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Resume the configuration's study, or create it.

    A study made before names carried every setting (epochs, layers, ...) is found under its older,
    shorter name when its settings match, so it keeps resuming where it is.
    """
    name = cfg.study_name
    digest = cfg.fingerprint_digest()
    study = _load(name, storage)
    if study is None and not cfg.study.name and cfg.legacy_name != name:
        legacy = _load(cfg.legacy_name, storage)
        if legacy is not None and cfg.matches(
            legacy.user_attrs.get("fingerprint"), legacy.user_attrs.get("config")
        ):
            return legacy
    if study is None:
        # Two objectives for the multi-objective strategies: accuracy up, the round's joules down.
        two = cfg.strategy.objectives == 2
        directions: list[Literal["maximize", "minimize"]] = ["maximize", "minimize"] if two else ["maximize"]
        try:
            study = optuna.create_study(study_name=name, storage=storage, directions=directions)
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=name, storage=storage)  # another worker was first
        else:
            # What optuna-dashboard and other Optuna tools call the objectives ("Objective 0" else).
            with warnings.catch_warnings():  # experimental in Optuna since 3.2, and what the dashboard reads
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(["accuracy", "energy_j"] if two else ["accuracy"])
            study.set_user_attr("fingerprint", digest)
            study.set_user_attr("config", cfg.fingerprint())
            study.set_user_attr(FACTS_ATTR, cfg.facts())  # studies made before it are read by name
            return study
    # Another worker may have created the study an instant ago and not yet stamped its settings.
    deadline = time.monotonic() + SETTINGS_WAIT_S
    while "fingerprint" not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.2)
        study = optuna.load_study(study_name=name, storage=storage)
    if not cfg.matches(study.user_attrs.get("fingerprint"), study.user_attrs.get("config")):
        raise ConfigError(
            f"study {name!r} already exists in {cfg.study.storage} with other settings; "
            f"give a new study.name or another study.storage to start afresh"
        )
    return study


# --------------------------------------------------------------------------------------------------
# Records kept in storage


def _record_of(trial: FrozenTrial) -> TrialRecord | None:
    if not is_round(trial.user_attrs):
        return None
    return TrialRecord.from_attrs(trial.user_attrs[RECORD_ATTR], trial.params)


def finished_records(study: optuna.Study) -> list[TrialRecord]:
    """The study's rounds, once each (the earliest trial of a round, should two ever record it)."""
    by_round: dict[int, TrialRecord] = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        record = _record_of(trial)
        if record is not None:
            by_round.setdefault(record.round, record)
    return [by_round[r] for r in sorted(by_round)]


def _records_for_dir(study: optuna.Study, run_dir: Path, me: Worker) -> list[TrialRecord]:
    """What this run directory's trials.csv holds: its own rounds and those of finished workers on this
    host (an earlier run of the same command), not the rounds of workers still running or elsewhere,
    which their own run directories hold (read them all, or the storage, for the whole study)."""
    here = str(run_dir.resolve())
    verdicts: dict[Worker, bool] = {}
    kept: dict[int, TrialRecord] = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        record = _record_of(trial)
        if record is None:
            continue
        worker = Worker.of(trial)
        if worker is not None and trial.user_attrs.get(WORKER_ATTR, {}).get("run_dir") != here:
            if worker not in verdicts:
                verdicts[worker] = worker.gone() and worker.host == me.host
            if not verdicts[worker]:
                continue
        kept.setdefault(record.round, record)
    return [kept[r] for r in sorted(kept)]


def _check_same_storage(run_dir: Path, storage: str) -> None:
    """A run directory holds one study's rows: trials.csv is rebuilt from the storage at each start,
    so a study of the same name in another storage would replace them. Refused in one line."""
    try:
        recorded = json.loads((run_dir / STUDY_FILE).read_text()).get("storage")
    except (OSError, ValueError, AttributeError):
        return
    trials = run_dir / TRIALS_FILE
    if not recorded or recorded == storage or not trials.is_file():
        return
    with trials.open() as fh:
        rows = max(sum(1 for _ in fh) - 1, 0)
    if rows:
        raise HarnessError(
            f"{run_dir} holds {rows} rounds of this study from study.storage={recorded}, and this run uses "
            f"study.storage={storage}, which would replace them: give the same storage to resume, or "
            f"hydra.run.dir=<another directory>"
        )


def _own_run_dir(run_dir: Path) -> tuple[Path, Any]:
    """Lock the run directory for this worker; a second worker of the same command on this machine
    gets a directory of its own inside it (worker-<host>-<pid>), so no trials.csv has two writers."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    for candidate in (run_dir, run_dir / f"worker-{socket.gethostname()}-{os.getpid()}"):
        candidate.mkdir(parents=True, exist_ok=True)
        handle = (candidate / ".worker.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        if candidate != run_dir:
            print(f"harness: another worker writes {run_dir}; this one writes {candidate}", file=sys.stderr)
        return candidate, handle
    raise HarnessError(f"cannot lock a run directory in {run_dir}")


# --------------------------------------------------------------------------------------------------
# One round


@dataclass(kw_only=True)
class _Session:
    """Everything a round needs, fixed for the study."""

    cfg: Config
    study: optuna.Study
    rounds: RoundBackend  # trains a round (live) or looks it up in a table (replay)
    meter: Meter
    dists: dict[str, optuna.distributions.BaseDistribution]
    idle_power_w: float | None
    jobs: ActiveJobs
    workers: Workers
    run_dir: Path
    facts: dict[str, str]  # the study's recorded facts that every row carries (records.ROW_FACTS)
    current_round: int = 0  # the round being run, for the message when a signal stops it


class _Stop(BaseException):
    """Raised in the main thread by a SIGINT or SIGTERM handler; carries the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """What ``_stoppable`` caught: the first signal's number (None: none yet)."""

    pending: int | None = None
    swallowed: bool = False  # its _Stop landed in a callback that swallowed it: raise it again

    def check(self) -> None:
        """Raise the caught signal as ``_Stop`` here, in the study's own code."""
        if self.pending is not None:
            raise _Stop(self.pending)


@contextlib.contextmanager
def _stoppable() -> Iterator[_Signals]:
    """Turn SIGINT and SIGTERM into ``_Stop`` for the duration of a study (main thread only).

    The handler's raise lands wherever the main thread is. While torch trains, that is often a
    garbage-collection callback (SQLAlchemy's weak references), where the interpreter swallows it;
    then the signal is sent again a moment later, to land in the study's own code, and ``check()``
    raises it at the next safe point in any case. A second signal is ignored, so that it cannot
    interrupt the clean-up of the first."""
    caught = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    if stop_requested:  # told to stop while the command started, its exit swallowed on the way
        raise _Stop(stop_requested[0])

    def handler(signum: int, _frame: object) -> None:
        if caught.pending is not None and not caught.swallowed:
            return
        caught.pending, caught.swallowed = signum, False
        raise _Stop(signum)

    default_hook = sys.unraisablehook

    def swallowed(unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, _Stop):
            default_hook(unraisable)
            return
        caught.swallowed = True
        again = threading.Timer(0.01, os.kill, args=(os.getpid(), unraisable.exc_value.signum))
        again.daemon = True
        again.start()

    sys.unraisablehook = swallowed
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    except _Stop:
        ignore_further()  # caught in the study's code: nothing may interrupt its clean-up now
        raise
    finally:
        sys.unraisablehook = default_hook
        if caught.pending is None:
            for sig, old in previous.items():
                signal.signal(sig, old)


@dataclass(frozen=True)
class _Asked:
    """A round's proposal and what asking for it cost."""

    trial: optuna.trial.Trial
    params: dict[str, float]
    start: float  # perf_counter at the round's start
    suggest_s: float
    suggest_j: float | None
    concurrent: int  # other metering jobs seen at the start


def costliest_round(cfg: Config, spec: ModelConfig) -> tuple[ModelConfig, int, int]:
    """The largest network, epochs and batch the space allows: what warm-up checks, stacking plans
    for and a pruner counts its steps up to."""
    most = {name: r.high for name, r in cfg.space.params.items() if name in ROUND_PARAMS}
    return round_settings(cfg, spec, most)


def _pruning(session: _Session, trial: optuna.trial.Trial) -> EpochReport | None:
    """With a pruner, each epoch's validation accuracy goes to the trial, and the pruner decides."""
    if session.cfg.strategy.pruner == "none":
        return None

    def report(epoch: int, accuracy: float) -> bool:
        trial.report(accuracy, epoch)
        return trial.should_prune()

    return report


def _train_and_record(session: _Session, round_no: int, asked: _Asked) -> TrialRecord | None:
    cfg, study, jobs = session.cfg, session.study, session.jobs
    st, s = cfg.study, cfg.strategy
    trial, params = asked.trial, asked.params
    # One energy window for all repetitions, stacked or not: the round's joules (or the table's).
    ran = session.rounds.run(params, round_no, _pruning(session, trial))
    outcome, m = ran.outcome, ran.measurement
    accuracies = outcome.accuracies
    concurrent = asked.concurrent + jobs.others()
    machine_wide = m.machine_wide
    net_j = None
    if m.energy_j is not None and session.idle_power_w is not None:
        net_j = m.energy_j - session.idle_power_w * m.duration_s
    failed = outcome.failed
    status = "pruned" if outcome.pruned else "failed" if failed else "complete"
    accuracy = outcome.mean_accuracy
    record = TrialRecord(
        study=study.study_name,
        dataset=cfg.dataset.name,
        model=cfg.model.name,
        strategy=s.name,
        space=cfg.space.name,
        seed=st.seed,
        round=round_no,
        status=status,
        accuracy=accuracy,
        accuracy_std=outcome.spread,
        energy_j=m.energy_j,
        energy_source=m.source,
        energy_net_j=net_j,
        # Another harness job metering on this machine, or another process on the metered GPU.
        shared_counters=bool(concurrent or m.others) and machine_wide,
        contended=m.load.contended if m.load else None,
        others_cores=m.load.others_cores if m.load else None,
        steal_frac=m.load.steal if m.load else None,
        energy_note=m.note,
        gpu_j=m.parts_j.get("gpu"),
        cpu_j=m.parts_j.get("cpu"),
        dram_j=m.parts_j.get("dram"),
        duration_s=time.perf_counter() - asked.start,
        finished_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        host=socket.gethostname(),
        **session.facts,
        train_s=outcome.train_s,
        eval_s=outcome.eval_s,
        suggest_s=asked.suggest_s,
        suggest_j=asked.suggest_j,
        interrupted_j=interrupted_joules(study.get_trials(deepcopy=False), round_no),
        samples_per_s=outcome.samples / outcome.train_s if outcome.train_s > 0 else None,
        repetitions=len(accuracies) if outcome.scored else len(accuracies) + 1,
        stack=outcome.stack,
        reason=outcome.reason,
        table=ran.table,
        params=params,
    )
    if session.workers.lost(trial, round_no):
        return None
    trial.set_user_attr(RECORD_ATTR, record.to_attrs())
    if ran.trace is not None:
        trial.set_user_attr(TRACE_ATTR, ran.trace)
    if ran.candidate is not None:
        trial.set_user_attr(CANDIDATE_ATTR, ran.candidate)
    # Flat copies for Optuna's own tools (optuna-dashboard, trials_dataframe, optuna.visualization),
    # which show and sort by top-level attributes.
    for key in FLAT_ATTRS:
        trial.set_user_attr(key, getattr(record, key))
    if outcome.pruned:
        study.tell(trial, state=TrialState.PRUNED)
    elif failed or accuracy is None:
        study.tell(trial, state=TrialState.FAIL)
    elif len(study.directions) == 1:
        study.tell(trial, accuracy)
    elif m.energy_j is None:  # two objectives need the joules as well: the strategy learns nothing
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, [accuracy, m.energy_j])
    return record


def _claim(session: _Session) -> tuple[int, _Asked] | None:
    """Claim the lowest round nobody holds (harness/workers.py) with the strategy's proposal for it,
    and what asking cost; None when every round is recorded.

    The search's own energy is metered here: building the sampler and asking it, which is where every
    strategy fits its model and maximises its acquisition (bayes_pi: a GP and 10,000 candidates). The
    tell after training is a storage write."""
    cfg, study = session.cfg, session.study
    st, s = cfg.study, cfg.strategy

    def ask(
        round_no: int, claiming: Callable[[BaseSampler], BaseSampler]
    ) -> tuple[optuna.trial.Trial, tuple[float, float, float | None]]:
        start = time.perf_counter()
        with session.meter.window() as search:
            strategy = session.rounds.sampler(
                s.sampler(cfg.space, study_seed=st.seed, round_seed=derive_seed(st.seed, 0, round_no)),
                session.dists,
            )
            study.sampler = claiming(strategy)
            with warnings.catch_warnings():
                # Optuna's advice for its own optimize loop; this loop beats the heart itself.
                warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used")
                trial = study.ask(session.dists)
        assert search.measurement is not None
        return trial, (start, time.perf_counter() - start, search.measurement.energy_j)

    claimed = session.workers.claim(st.rounds, str(session.run_dir.resolve()), ask)
    if claimed is None:
        return None
    round_no, trial, (start, suggest_s, suggest_j) = claimed
    return round_no, _Asked(trial, dict(trial.params), start, suggest_s, suggest_j, session.jobs.others())


def _run_round(session: _Session) -> TrialRecord | None:
    """Claim a round, train it and record it; None when the study has all its rounds."""
    claim = _claim(session)
    if claim is None:
        return None
    round_no, asked = claim
    session.current_round = round_no
    try:
        with session.workers.alive(asked.trial, session.rounds.spent):
            record = _train_and_record(session, round_no, asked)
    except _Stop:
        session.workers.interrupt(asked.trial, asked.params, round_no, session.rounds.spent())
        raise
    session.current_round = 0  # recorded: a signal from here on stops the study between rounds
    return record


# --------------------------------------------------------------------------------------------------
# The study


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a study.json."""
    write_atomic(path, json.dumps(data, indent=2))


def _check_failures(name: str, records: list[TrialRecord], limit: float | None) -> None:
    """Stop a study that fails too often: ``limit`` rounds (1 or more) or that fraction of its rounds."""
    if limit is None:
        return
    failed = [r for r in records if r.status == "failed"]
    allowed = limit if limit >= 1 else limit * len(records)
    if len(failed) > allowed:
        raise HarnessError(
            f"{name}: {len(failed)} of {len(records)} rounds failed, more than study.max_failures={limit:g} "
            f"allows (last: round {failed[-1].round}, {failed[-1].reason}); fix the cause, or raise "
            f"study.max_failures, and run the same command to go on"
        )


def stop_reason(records: list[TrialRecord], st: StudySettings) -> str | None:
    """Why the study should stop before its next round (study.patience, study.energy_budget_j), or None."""
    ordered = sorted(records, key=lambda r: r.round)
    if st.patience is not None and len(ordered) > st.patience:

        def best(rs: list[TrialRecord]) -> float:
            scores = [r.accuracy for r in rs if r.status == "complete" and r.accuracy is not None]
            return max(scores, default=-math.inf)

        before, recent = best(ordered[: -st.patience]), best(ordered[-st.patience :])
        if before > -math.inf and recent <= before + st.min_delta:
            return (
                f"the best accuracy ({before:.4f}) has not risen by more than "
                f"study.min_delta={st.min_delta:g} in the last {st.patience} rounds (study.patience)"
            )
    if st.energy_budget_j is not None and ordered:
        spent = [r.energy_j for r in ordered]
        if any(j is None for j in spent):
            return "a round has no energy reading, so study.energy_budget_j cannot be kept; stopped"
        costs = [(r.energy_j or 0.0) + (r.suggest_j or 0.0) for r in ordered]
        total = sum(costs) + sum(r.interrupted_j or 0.0 for r in ordered)
        estimate = total / len(ordered)
        if total + estimate > st.energy_budget_j:
            return (
                f"{total:,.1f} J spent in {len(ordered)} rounds; the next (about {estimate:,.1f} J, the mean "
                f"so far) would pass study.energy_budget_j={st.energy_budget_j:g}"
            )
    return None


def summarise(name: str, records: list[TrialRecord], run_dir: Path) -> StudyResult:
    best_accuracy = best_round = joules_to_best = None
    scored = [r for r in records if r.status == "complete" and r.accuracy is not None]
    if scored:
        best_accuracy = max(r.accuracy for r in scored if r.accuracy is not None)
        best_round = min(r.round for r in scored if r.accuracy == best_accuracy)
    energies = [r.energy_j for r in records]
    metered = all(e is not None for e in energies) and bool(energies)
    total = sum(e for e in energies if e is not None) if metered else None
    if metered and best_round is not None:
        joules_to_best = sum(r.energy_j for r in records if r.round <= best_round and r.energy_j)
    sources = "+".join(sorted({r.energy_source for r in records})) or "none"
    return StudyResult(name, len(records), best_accuracy, best_round, joules_to_best, total, sources, run_dir)


def measure_idle_power(meter: Meter, seconds: float) -> float | None:
    """Mean power while this process sleeps: the baseline subtracted for net joules."""
    with meter.window() as window:
        time.sleep(seconds)
    m = window.measurement
    return None if m is None or m.energy_j is None else m.energy_j / m.duration_s


def _row_facts(facts: object) -> dict[str, str]:
    """The study's recorded facts (Config.facts) that its rows carry; empty for a study recorded
    before it kept them (a study resumed under an older name), whose rows are then read as its
    earlier rows are, by its name."""
    recorded = facts if isinstance(facts, dict) else {}
    return {key: str(recorded.get(key, "")) for key in ROW_FACTS}


@dataclass
class _Opened:
    """A study opened for this worker: what its round loop and its finish share."""

    study: optuna.Study
    name: str
    session: _Session
    summary: dict[str, Any]  # study.json's content
    writer: TrialsWriter
    lock: Any  # this run directory's lock, held while rounds are added
    records: list[TrialRecord]  # every worker's rounds so far


def _open(
    cfg: Config,
    storage: optuna.storages.BaseStorage,
    rounds: RoundBackend,
    meter: Meter,
    device: torch.device,
    jobs: ActiveJobs,
    stacking: StackPlan | None,
    run_dir: Path,
    max_epochs: int,
) -> _Opened:
    """Open (or resume) the study: its pruner, the machine and idle baseline it records, the attempts
    interrupted before, study.json and trials.csv as the storage has them."""
    st = cfg.study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(cfg, storage)
    study.pruner = cfg.strategy.make_pruner(max_epochs)
    name = study.study_name  # the configuration's name, or the older name it resumes under
    info = machine_info(meter, device)
    study.set_user_attr("machine", info)
    idle_power_w = study.user_attrs.get("idle_power_w")
    # The baseline belongs to the machine and meter it was measured with: a study resumed elsewhere
    # measures its own rather than subtracting another machine's idle power.
    here = {k: info.get(k) for k in ("hostname", "cpu_model", "meter", "device")}
    measured_on = study.user_attrs.get("idle_machine")
    if idle_power_w is not None and measured_on is not None and measured_on != here:
        print(
            f"{name}: the idle baseline was measured on another machine; measuring this one's",
            file=sys.stderr,
        )
        idle_power_w = None
    if cfg.meter.idle_seconds > 0 and idle_power_w is None:
        print(f"{name}: measuring idle power for {cfg.meter.idle_seconds:g} s", file=sys.stderr)
        idle_power_w = measure_idle_power(meter, cfg.meter.idle_seconds)
        study.set_user_attr("idle_power_w", idle_power_w)
        study.set_user_attr("idle_machine", here)
    workers = Workers(study, storage, interval=st.heartbeat_interval, grace=st.grace_period)
    queued = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) + workers.recover()
    records = finished_records(study)
    run_dir, lock = _own_run_dir(run_dir)
    summary = {
        "study": name,
        "storage": st.storage,
        "config": cfg.fingerprint(),
        **({FACTS_ATTR: study.user_attrs[FACTS_ATTR]} if FACTS_ATTR in study.user_attrs else {}),
        "machine": info,
        "idle_power_w": idle_power_w,
    }
    if stacking is not None:
        summary["stacking"] = {"setting": stacking.setting, "stack": stacking.stack, "why": stacking.why}
    if isinstance(table := getattr(rounds, "table", None), str):
        summary["replay"] = {"table": table, "path": cfg.study.table}
    _write_json(run_dir / STUDY_FILE, summary)
    writer = TrialsWriter(run_dir, cfg.space.params)
    writer.rewrite(_records_for_dir(study, run_dir, workers.me))
    if queued:
        say_rerun(name, queued)
    if stacking is not None and stacking.stacked and st.progress:
        print(f"{name}: repetitions stacked ({stacking.why})", file=sys.stderr)
    elif stacking is not None and "cannot be stacked" in stacking.why:
        print(f"{name}: repetitions one after another, {stacking.why}", file=sys.stderr)
    session = _Session(
        cfg=cfg,
        study=study,
        rounds=rounds,
        meter=meter,
        dists=distributions(cfg.space.params),
        idle_power_w=idle_power_w,
        jobs=jobs,
        workers=workers,
        run_dir=run_dir,
        facts=_row_facts(study.user_attrs.get(FACTS_ATTR)),
    )
    return _Opened(study, name, session, summary, writer, lock, records)


def _loop(opened: _Opened) -> str | None:
    """Claim, train and record rounds until the study has them all or its stop rule holds (the
    reason then); a signal ends it with Interrupted, saying where it landed."""
    from tqdm import tqdm

    study, name, session, summary = opened.study, opened.name, opened.session, opened.summary
    st = session.cfg.study
    records = opened.records
    # A bar on a terminal; in a log file (stderr not a terminal) one plain line per round instead of
    # carriage-return redraws.
    terminal = sys.stderr.isatty()
    bar = tqdm(
        total=st.rounds,
        initial=min(len(records), st.rounds),
        desc=name,
        unit="round",
        disable=not (st.progress and terminal),
        file=sys.stderr,
        dynamic_ncols=True,
    )
    stopped = None
    # A signal may land anywhere in the loop (the stop rule, the trials.csv append, the summary), not
    # only inside a round: every _Stop from it ends here.
    try:
        with opened.lock, bar, _stoppable() as signals:
            while True:
                stopped = stop_reason(records, st)
                if stopped is not None and len(records) < st.rounds:
                    print(
                        f"{name}: stopped after {len(records)} of {st.rounds} rounds: {stopped}",
                        file=sys.stderr,
                    )
                    study.set_user_attr("stopped", {"rounds": len(records), "reason": stopped})
                    summary["stopped"] = {"rounds": len(records), "reason": stopped}
                    _write_json(session.run_dir / STUDY_FILE, summary)
                    break
                signals.check()
                record = _run_round(session)
                signals.check()  # a signal whose raise was swallowed: the round is recorded, stop here
                if record is None:
                    if len(finished_records(study)) >= st.rounds:
                        break
                    continue  # this worker's training lost its round to another worker: claim another
                opened.writer.append(record)
                records = finished_records(study)  # every worker's rounds so far
                _check_failures(name, records, st.max_failures)
                result = summarise(name, records, session.run_dir)
                best = "-" if result.best_accuracy is None else f"{result.best_accuracy:.4f}"
                joules = "-" if result.total_joules is None else f"{result.total_joules:,.0f}"
                bar.set_postfix_str(f"best {best}, {joules} J ({record.energy_source})")
                bar.update(min(len(records), st.rounds) - bar.n)
                if st.progress and not terminal:
                    print(
                        f"{name}: round {record.round}/{st.rounds}, best {best}, {joules} J "
                        f"({record.energy_source})",
                        file=sys.stderr,
                        flush=True,
                    )
    except _Stop as stop:
        signame = signal.Signals(stop.signum).name
        recorded = finished_records(study)
        kept = len(recorded)
        # A signal just after a round's record was written finds the round still current: it is kept,
        # so the stop was between rounds (seen under SLURM's time limit: "in round 182; 182 kept").
        if session.current_round and session.current_round not in {r.round for r in recorded}:
            where = f"in round {session.current_round} of {st.rounds}"
            resume = f"resume from round {session.current_round}"
        else:  # between rounds: the last one is recorded, the next not yet begun
            where, resume = f"between rounds ({kept} of {st.rounds} done)", "resume"
        raise Interrupted(
            f"{signame}: stopped {name} {where}; {kept} rounds are kept, run the same command to {resume}",
            128 + stop.signum,
        ) from None
    return stopped


def _final_evaluation(session: _Session, best: TrialRecord) -> dict[str, Any]:
    """Train the configuration the search picked (its best round on the validation split) once more
    with that round's seeds on the same training images, and score it on the test set: the study's
    outcome under the corrected protocol. Its energy is metered and kept apart. A replay reads the
    picked candidate's test accuracy from its table."""
    ran = session.rounds.final(best.params, best.round)
    assert ran is not None
    m = ran.measurement
    return {
        "round": best.round,
        "params": best.params,
        "validation_accuracy": best.accuracy,
        "test_accuracy": ran.outcome.mean_accuracy,
        "test_accuracy_std": ran.outcome.spread,
        "reason": ran.outcome.reason,
        "energy_j": m.energy_j,
        "energy_source": m.source,
    }


def _finish(opened: _Opened, stopped: str | None, has_test: bool) -> StudyResult:
    """The study's result line and, for a validation-scored search that is done, its picked
    configuration scored once on the test set (kept in the storage: a rerun does not score again)."""
    study, name, session, summary = opened.study, opened.name, opened.session, opened.summary
    st = session.cfg.study
    run_dir = session.run_dir
    records = finished_records(study)
    result = summarise(name, records[: st.rounds], run_dir)
    print(result.line(), flush=True)
    done = len(records) >= st.rounds or stopped is not None
    if has_test and result.best_round is not None and done:
        final = study.user_attrs.get(FINAL_ATTR)
        if final is None:
            # The round summarise found best (the earliest on a tie).
            picked = next(r for r in records if r.round == result.best_round)
            try:
                with _stoppable() as signals:
                    final = _final_evaluation(session, picked)
                    signals.check()
                    study.set_user_attr(FINAL_ATTR, final)
            except _Stop as stop:
                raise Interrupted(
                    f"{signal.Signals(stop.signum).name}: stopped {name} while it scored the picked "
                    f"configuration (round {picked.round}) on the test set; all {len(records)} rounds are "
                    f"kept, run the same command to score it",
                    128 + stop.signum,
                ) from None
        summary[FINAL_ATTR] = final
        _write_json(run_dir / STUDY_FILE, summary)
        test = final["test_accuracy"]
        scored = f"scores {test:.4f} on the test set" if test is not None else f"failed: {final['reason']}"
        print(
            f"{name}: the picked configuration (round {final['round']}, validation accuracy "
            f"{final['validation_accuracy']:.4f}) {scored}",
            flush=True,
        )
    return result


def _with_storage_and_meter(
    cfg: Config,
    device: torch.device,
    run_dir: Path,
    backend: Callable[[Meter], tuple[RoundBackend, StackPlan | None]],
    has_test: bool,
    max_epochs: int,
) -> StudyResult:
    st = cfg.study
    _check_same_storage(run_dir, st.storage)  # before the storage is opened (and a study created in it)
    storage = open_storage(
        st.storage,
        heartbeat_interval=st.heartbeat_interval,
        grace_period=st.grace_period,
        on_stale=requeue_stale,
    )
    try:
        meter = cfg.meter.build(meter_use(device))
        if st.threads is None and "estimate" in meter.source and torch.get_num_threads() > 1:
            # CPU seconds x watts bills every busy thread, spinning ones too: one thread keeps the
            # estimate steady under other load (2.6x a quiet run's with two threads; bench/estimate_load.py).
            torch.set_num_threads(1)
        try:
            rounds, stacking = backend(meter)
            with ActiveJobs() as jobs:
                opened = _open(cfg, storage, rounds, meter, device, jobs, stacking, run_dir, max_epochs)
                return _finish(opened, _loop(opened), has_test)
        finally:
            meter.close()
    finally:
        close_storage(storage)  # SQLite: the .db file alone then holds the study


def run(cfg: Config, run_dir: Path) -> StudyResult:
    """Run (or resume) one study and return its summary. Raises HarnessError on bad input."""
    st = cfg.study
    if st.threads is not None:
        torch.set_num_threads(st.threads)
    spec = cfg.model
    largest, max_epochs, batch_size = costliest_round(cfg, spec)
    if st.backend == "replay":
        from harness.replay import ReplayRounds

        # Nothing trains: no data, no warm-up, no stacking plan. The strategy's asks are still metered.
        replay = ReplayRounds.open(cfg)
        return _with_storage_and_meter(
            cfg,
            torch.device("cpu"),
            run_dir,
            lambda meter: (replay, None),
            replay.final_accuracies,
            max_epochs,
        )
    device = pick_device(st.device)
    data, final_data = load_data(cfg, device)
    try:
        warm_up(largest, data)
    except ValueError as exc:
        raise ConfigError(f"{exc} (dataset {cfg.dataset.name} is {data.shape})") from exc
    except (RuntimeError, TypeError) as exc:  # a custom network that does not fit the data
        if spec.name != "custom":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"model=custom ({getattr(spec, '_target_', '?')}) fails on one step with images of shape "
            f"{data.shape} and {data.classes} classes: {first}"
        ) from None
    stacking = plan_stacking(
        largest,
        data,
        repetitions=st.repetitions,
        batch_size=batch_size,
        setting=st.stack_repetitions,
        memory_mb=st.stack_memory_mb,
    )

    def live(meter: Meter) -> tuple[RoundBackend, StackPlan]:
        test = (lambda: prepare(final_data, device)) if final_data is not None else (lambda: None)
        return LiveRounds(cfg, spec, data, meter, stacking, test_data=test), stacking

    # A table build keeps every candidate's test accuracy already: no picked configuration to retrain.
    has_test = final_data is not None and not cfg.strategy.traces_epochs
    return _with_storage_and_meter(cfg, device, run_dir, live, has_test, max_epochs)


__all__ = ["HarnessError", "StudyResult", "finished_records", "run"]
