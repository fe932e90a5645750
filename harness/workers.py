"""Several workers on one study: who runs which round, who is alive, and what a dead worker left.

Each round is one Optuna trial carrying two user attributes: ``round`` (the round it runs, set once,
right after the trial is created) and ``worker`` (host, pid and process start time of the process
running it). The rules, for any number of workers on one storage:

- **Claims.** A worker takes the lowest round that no finished record, no queued trial and no running
  trial holds, asks its strategy for that round, and writes the claim on the new trial. Trial numbers
  follow creation order, so when two workers claim one round the lower-numbered trial keeps it and the
  other gives its trial up (state FAIL, attribute ``surplus``) and claims again. A worker waits for a
  lower-numbered trial that has not written its claim yet, so a claim it kept is never taken from it.
  Before a finished round is recorded the worker checks once more that nobody recorded it first.
- **Liveness.** A running round shows it is alive every ``heartbeat_interval`` seconds: through
  Optuna's heartbeat on an RDB storage (SQLite, PostgreSQL), and through a ``heartbeat`` time on the
  trial on a journal file (Optuna's journal storage has no heartbeat of its own).
- **Stale rounds.** A running round is abandoned when its worker is a process of this host that no
  longer exists (found at once, so the same command resumes a killed study exactly), or when it has
  been silent for ``grace_period`` seconds (Optuna's ``fail_stale_trials`` on RDB storages). It is
  failed, marked interrupted, and its hyperparameters are queued again under the same round number.
  A round a signal stops is marked interrupted and queued the same way by its own worker.

The storage is reached through ``optuna.Study`` and ``Trial`` wherever Optuna's public API can do the
job. What it cannot do (a trial's id, Optuna's heartbeat outside ``optimize``, writing to a trial that
another process runs or that a sampler's ``before_trial`` sees as a frozen copy) goes through the
storage's own methods here, and only here, each call marked with the public API that is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from harness.energy.base import Measurement
from harness.records import INTERRUPTED_ATTR, RECORD_ATTR, SPENT_ATTR, SURPLUS_ATTR, is_round

ROUND_ATTR = "round"
WORKER_ATTR = "worker"
HEARTBEAT_ATTR = "heartbeat"  # journal storage: time.time() of the worker's last sign of life
Cost = TypeVar("Cost")  # what asking the strategy for a round cost (the study meters it)


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot), or "" where /proc is missing:
    with the pid it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class Worker:
    host: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> Worker:
        return cls(socket.gethostname(), os.getpid(), _process_start(os.getpid()))

    @classmethod
    def of(cls, trial: FrozenTrial) -> Worker | None:
        data = trial.user_attrs.get(WORKER_ATTR)
        if not isinstance(data, dict):
            return None
        return cls(str(data.get("host", "")), int(data.get("pid", 0)), str(data.get("started", "")))

    def attrs(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    def gone(self) -> bool:
        """True only when this worker surely no longer runs: a process of this host that is gone."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return bool(self.started) and _process_start(self.pid) not in ("", self.started)

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _round_of(trial: FrozenTrial) -> int | None:
    value = trial.user_attrs.get(ROUND_ATTR)
    return int(value) if value is not None else None


def _recorded(trial: FrozenTrial) -> bool:
    """Its record was written (by a worker that may have died before telling): the round stands."""
    return is_round(trial.user_attrs)


def was_interrupted(trial: FrozenTrial) -> bool:
    """An abandoned attempt at a claimed round: failed before its record was written (killed, stopped
    by a signal, or silent past the grace period) and queued again. Optuna's heartbeat rule fails such
    a trial without the ``interrupted`` attribute when it is first to see it; it is the same fact."""
    return (
        trial.state == TrialState.FAIL
        and _round_of(trial) is not None
        and not trial.user_attrs.get(SURPLUS_ATTR)
        and (bool(trial.user_attrs.get(INTERRUPTED_ATTR)) or RECORD_ATTR not in trial.user_attrs)
    )


def is_record(trial: FrozenTrial) -> bool:
    return trial.state.is_finished() and _recorded(trial)


class ClaimingSampler(BaseSampler):
    """A strategy's sampler that first writes the new trial's claim and worker (``on_trial``), at the
    trial's creation, before the strategy spends any time on it: other workers then never wait long
    for a claim to appear."""

    def __init__(self, inner: BaseSampler, on_trial: Callable[[FrozenTrial], None]) -> None:
        self.inner = inner
        self.on_trial = on_trial

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.on_trial(trial)
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class Workers:
    """This process's view of the study's workers: its claims, heartbeats, interruptions and clean-up.

    ``storage`` is the storage the study was loaded from, for the few calls Optuna's public API lacks.
    """

    def __init__(
        self, study: optuna.Study, storage: optuna.storages.BaseStorage, *, interval: int, grace: int
    ) -> None:
        self.study = study
        self.storage = storage
        self.interval = interval
        self.grace = grace
        self.me = Worker.current()
        self.claimed: tuple[int, int | None] = (-1, None)
        # Optuna has no public study id: its storage maps a trial number to the id its writes need.
        self._study_id = storage.get_study_id_from_name(study.study_name)
        # Optuna has no public way to ask whether an RDB storage's heartbeat is on; journals have none.
        interval_of = getattr(storage, "get_heartbeat_interval", None)
        self._rdb_heartbeat = interval_of is not None and interval_of() is not None

    def _trial_id(self, number: int) -> int:
        # Optuna has no public trial id (Trial and FrozenTrial keep it private).
        return self.storage.get_trial_id_from_study_id_trial_number(self._study_id, number)

    # -- claims --------------------------------------------------------------------------------

    def claim(
        self,
        rounds: int,
        run_dir: str,
        ask: Callable[[int, Callable[[BaseSampler], BaseSampler]], tuple[optuna.trial.Trial, Cost]],
    ) -> tuple[int, optuna.trial.Trial, Cost] | None:
        """Claim the lowest round nobody holds, by the rules above: (round, its trial, what the ask
        cost), or None when every one of ``rounds`` rounds is recorded. Waits while the only rounds
        left run on other workers.

        ``ask(round_no, claiming)`` asks the strategy for a trial, with the study's sampler set to
        ``claiming(strategy)``: that writes the claim (``round_no``; 0 when only queued rounds are
        left) and this worker on the trial as it is created."""
        name = self.study.study_name
        waiting_said = False
        while True:
            if taken_over := self.recover():
                say_rerun(name, taken_over)
            trials = self.study.get_trials(deepcopy=False)
            if len(recorded_rounds(trials)) >= rounds:
                return None
            queued = any(t.state == TrialState.WAITING for t in trials)
            taken = self.taken(trials)
            free = [r for r in range(1, rounds + 1) if r not in taken]
            if not queued and not free:
                if not waiting_said:
                    running = sorted(
                        str(Worker.of(t) or "an unknown worker") for t in self.others_running(trials)
                    )
                    print(
                        f"{name}: the last rounds run on other workers ({', '.join(running)}); "
                        f"waiting for them (a silent one is replaced after {self.grace} s)",
                        file=sys.stderr,
                        flush=True,
                    )
                    waiting_said = True
                time.sleep(min(1.0, self.interval))
                continue
            round_no = free[0] if free else 0
            trial, cost = ask(round_no, self._claiming(round_no, run_dir))
            params = dict(trial.params)
            # A queued round (interrupted, or abandoned by a dead worker) carries its own number.
            number, claimed = self.claimed
            assert number == trial.number
            if claimed is None:  # a queued trial of an older harness, without a number, and no free round
                self._give_up(trial)
                continue
            from_queue = claimed != round_no
            while (keeps := self.keeps(trial.number, claimed)) is None:
                time.sleep(0.05)  # a lower-numbered trial is writing its claim
            if not keeps:
                self._give_up(trial, requeue=params if from_queue else None)
                continue
            return claimed, trial, cost

    def _claiming(self, round_no: int, run_dir: str) -> Callable[[BaseSampler], BaseSampler]:
        """A strategy's sampler wrapped to write, on the new trial, who runs it and, unless it is a
        queued round with its own number, ``round_no`` (0: no free round). ``self.claimed`` then holds
        (trial number, round or None)."""

        def on_trial(trial: FrozenTrial) -> None:
            trial_id = self._trial_id(trial.number)
            claimed = trial.user_attrs.get(ROUND_ATTR)
            if claimed is None and round_no:
                # Optuna has no public write to the trial a sampler's before_trial sees (a frozen copy).
                self.storage.set_trial_user_attr(trial_id, ROUND_ATTR, round_no)
                claimed = round_no
            # Optuna has no public write to the trial a sampler's before_trial sees (a frozen copy).
            self.storage.set_trial_user_attr(trial_id, WORKER_ATTR, {**self.me.attrs(), "run_dir": run_dir})
            self.claimed = (trial.number, None if claimed is None else int(claimed))

        return lambda strategy: ClaimingSampler(strategy, on_trial)

    def taken(self, trials: list[FrozenTrial]) -> set[int]:
        """Rounds recorded, queued or running (whoever runs them)."""
        held = set()
        for t in trials:
            r = _round_of(t)
            if r is None or t.user_attrs.get(SURPLUS_ATTR):
                continue
            if is_record(t) or t.state in (TrialState.RUNNING, TrialState.WAITING):
                held.add(r)
        return held

    def keeps(self, number: int, round_no: int) -> bool | None:
        """Whether trial ``number`` keeps its claim on ``round_no``: False if a record or a lower-numbered
        running trial holds the round, None while a lower-numbered trial has yet to write its claim."""
        for t in self.study.get_trials(deepcopy=False):
            if t.number == number or t.user_attrs.get(SURPLUS_ATTR):
                continue
            r = _round_of(t)
            if r == round_no and is_record(t):
                return False
            if t.state == TrialState.RUNNING and t.number < number:
                if r is None and not self.stale(t):
                    return None
                if r == round_no:
                    return False
        return True

    def _give_up(self, trial: optuna.trial.Trial, requeue: dict[str, float] | None = None) -> None:
        """Leave a claimed trial untrained (surplus: not a round of the study); with ``requeue``, a
        queued round's hyperparameters, the round is queued again."""
        round_no = trial.user_attrs.get(ROUND_ATTR)
        trial.set_user_attr(SURPLUS_ATTR, True)
        self.study.tell(trial, state=TrialState.FAIL)
        if requeue is not None and round_no is not None:
            _queue_again(self.study, requeue, int(round_no))

    def lost(self, trial: optuna.trial.Trial, round_no: int) -> bool:
        """Checked before a trained round is recorded: whether another worker recorded ``round_no``
        first (a claim race the rules above should prevent). Then this training is not a round of the
        study: it is said, and the trial is left as surplus, not counted twice."""
        if self.keeps(trial.number, round_no):
            return False
        print(
            f"{self.study.study_name}: round {round_no} was recorded by another worker; not kept",
            file=sys.stderr,
        )
        self._give_up(trial)
        return True

    def others_running(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        return [
            t
            for t in trials
            if t.state == TrialState.RUNNING
            and Worker.of(t) != self.me
            and not t.user_attrs.get(SURPLUS_ATTR)
        ]

    # -- liveness ------------------------------------------------------------------------------

    def beat(self, trial: optuna.trial.Trial) -> None:
        if self._rdb_heartbeat:
            # Optuna has no public heartbeat outside Study.optimize (this loop asks and tells itself).
            self.storage.record_heartbeat(self._trial_id(trial.number))  # type: ignore[attr-defined]
        else:
            trial.set_user_attr(HEARTBEAT_ATTR, time.time())

    @contextlib.contextmanager
    def alive(
        self, trial: optuna.trial.Trial, spent: Callable[[], Measurement | None] | None = None
    ) -> Iterator[None]:
        """Show ``trial`` alive every heartbeat interval while the block runs, and record the energy
        ``spent()`` so far with each beat (what a killed worker's round had cost)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.interval):
                with contextlib.suppress(Exception):  # a finished trial, a storage hiccup: try again
                    self.beat(trial)
                    so_far = spent() if spent is not None else None
                    if so_far is not None and so_far.energy_j is not None:
                        trial.set_user_attr(SPENT_ATTR, spent_attrs(so_far, "heartbeat"))

        self.beat(trial)
        thread = threading.Thread(target=loop, name=f"heartbeat-{trial.number}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def interrupt(
        self, trial: optuna.trial.Trial, params: dict[str, float], round_no: int, spent: Measurement | None
    ) -> None:
        """A signal stopped this worker's ``round_no``: the same command (or another worker) runs it
        again with the same hyperparameters, and the energy this attempt spent is kept with it (the
        re-run's interrupted_j). A signal during the round's last writes may find it already told:
        then it is kept."""
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if spent is not None and spent.energy_j is not None:
                trial.set_user_attr(SPENT_ATTR, spent_attrs(spent, "signal"))
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            self.study.tell(trial, state=TrialState.FAIL)
            _queue_again(self.study, params, round_no)

    # -- rounds other workers left -------------------------------------------------------------

    def _silent_since(self, trial: FrozenTrial) -> float | None:
        """Seconds since a running trial last showed life (journal storage), or None if unknown.
        Harness versions before this one kept the time as a system attribute."""
        beat = trial.user_attrs.get(HEARTBEAT_ATTR, trial.system_attrs.get(HEARTBEAT_ATTR))
        if isinstance(beat, (int, float)):
            return time.time() - float(beat)
        return None

    def stale(self, trial: FrozenTrial) -> bool:
        worker = Worker.of(trial)
        if worker == self.me:
            return False
        if worker is not None and worker.gone():
            return True
        silent = self._silent_since(trial)
        if silent is None and worker is None and trial.datetime_start is not None:
            # Made by a worker killed before it wrote who it is, or by a harness without workers.
            silent = (datetime.now() - trial.datetime_start).total_seconds()
        return silent is not None and silent > self.grace

    def recover(self) -> int:
        """Fail the rounds whose workers are gone and queue them again (a round killed before its claim
        was written is simply drawn afresh); returns how many rounds this call took over.

        A worker of this host that is gone is found first, by its process, and its round is marked
        interrupted; only then does Optuna's heartbeat rule fail rounds silent for the grace period
        (on a loaded machine both can see one killed round, and the first keeps the fuller record).
        A round whose record was written before its worker died (killed, or a full disk, while
        telling) is finished from that record: it is a round of the study, not one to run again."""
        taken_over = 0
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not self.stale(trial):
                continue
            # Another worker got there first: its tell is the one that counts.
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError):
                if _recorded(trial):
                    self._finish_from_record(trial)
                    continue
                # Optuna has no public write to a trial that another process runs.
                self.storage.set_trial_user_attr(self._trial_id(trial.number), INTERRUPTED_ATTR, True)
                # Only the worker whose tell succeeds queues the round again.
                requeue_stale(self.study, self.study.tell(trial.number, state=TrialState.FAIL))
                taken_over += 1
        if self._rdb_heartbeat:
            running = [t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)  # Optuna's rule; requeue_stale is its callback
            if running:
                failed = self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                taken_over += sum(
                    t.number in running and not t.user_attrs.get(SURPLUS_ATTR) and not _recorded(t)
                    for t in failed
                )
        return taken_over

    def _finish_from_record(self, trial: FrozenTrial) -> None:
        """Tell the study what a recorded round's record says (its worker died before telling)."""
        record = trial.user_attrs[RECORD_ATTR]
        accuracy, energy_j = record.get("accuracy"), record.get("energy_j")
        status = record.get("status")
        if status == "pruned":
            self.study.tell(trial.number, state=TrialState.PRUNED)
        elif status != "complete" or accuracy is None:
            self.study.tell(trial.number, state=TrialState.FAIL)
        elif len(self.study.directions) == 1:
            self.study.tell(trial.number, float(accuracy))
        elif energy_j is None:
            self.study.tell(trial.number, state=TrialState.FAIL)
        else:
            self.study.tell(trial.number, [float(accuracy), float(energy_j)])


def recorded_rounds(trials: list[FrozenTrial]) -> set[int]:
    """The rounds the study has recorded (by ``is_round``, the one kept-round rule)."""
    return {int(t.user_attrs[RECORD_ATTR]["round"]) for t in trials if is_round(t.user_attrs)}


def say_rerun(name: str, rounds: int) -> None:
    print(f"{name}: re-running {rounds} interrupted round(s)", file=sys.stderr, flush=True)


def spent_attrs(m: Measurement, until: str) -> dict[str, Any]:
    return {"energy_j": m.energy_j, "energy_source": m.source, "duration_s": m.duration_s, "until": until}


def interrupted_joules(trials: list[FrozenTrial], round_no: int) -> float | None:
    """Joules spent by the interrupted attempts at ``round_no`` (None: there were none, or none measured)."""
    spent = [
        t.user_attrs[SPENT_ATTR]["energy_j"]
        for t in trials
        if was_interrupted(t)
        and _round_of(t) == round_no
        and isinstance(t.user_attrs.get(SPENT_ATTR), dict)
        and t.user_attrs[SPENT_ATTR].get("energy_j") is not None
    ]
    return float(sum(spent)) if spent else None


def requeue_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue an abandoned round again with its hyperparameters, under its round number.

    Also Optuna's ``heartbeat_stale_trial_callback``: it runs once per trial, in the one worker whose
    state change failed it. A trial without a claim was killed inside the ask (nothing trained: the
    round is simply claimed afresh); one whose record was written was killed while telling, and its
    record stands.
    """
    round_no = _round_of(trial)
    if round_no is None or _recorded(trial) or trial.user_attrs.get(SURPLUS_ATTR):
        return
    _queue_again(study, trial.params, round_no)


def _queue_again(study: optuna.Study, params: dict[str, Any], round_no: int) -> None:
    """Queue a round to run again with the same hyperparameters, under its own round number."""
    study.enqueue_trial(params, user_attrs={ROUND_ATTR: round_no})
