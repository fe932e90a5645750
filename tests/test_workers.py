"""Several real worker processes on one study: SQLite, a journal file and a PostgreSQL server.

Each test starts the same command twice, as an Optuna user scales a study out, and checks that
together the workers record every round exactly once, that each worker's trials.csv holds its own
rounds, and that a worker killed with SIGKILL loses nothing: the survivor runs its round again.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import optuna
import pytest

from harness.records import INTERRUPTED_ATTR, RECORD_ATTR, SURPLUS_ATTR
from harness.report.load import load
from tests.conftest import TINY

ROUNDS = 16
KILLED_ROUNDS = 6  # rounds of about two seconds in the killed-worker test
pytestmark = pytest.mark.slow


def worker_args(storage: str, run_dir: Path, epochs: int = 25, rounds: int = ROUNDS) -> list[str]:
    return [
        *TINY,
        "strategy=random",
        f"study.rounds={rounds}",
        f"study.epochs={epochs}",  # 25: a round of a few hundred milliseconds, so the workers overlap
        "study.heartbeat_interval=1",
        "study.grace_period=5",
        f"study.storage={storage}",
        f"hydra.run.dir={run_dir}",
    ]


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    exe = str(Path(sys.executable).parent / "harness")
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.Popen(
        [exe, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def csv_rounds(run_dir: Path) -> dict[Path, list[int]]:
    """Rounds in each trials.csv under run_dir (the first worker's, and the second's subdirectory)."""
    out = {}
    for path in sorted(run_dir.rglob("trials.csv")):
        with path.open() as fh:
            out[path] = [int(row["round"]) for row in csv.DictReader(fh)]
    return out


def storage_rounds(
    url: str, storage: object | None = None
) -> tuple[list[int], list[optuna.trial.FrozenTrial]]:
    target = storage if storage is not None else url
    summaries = optuna.get_all_study_summaries(target)  # type: ignore[arg-type]
    if not summaries:  # no worker has created the study yet
        return [], []
    (summary,) = summaries
    study = optuna.load_study(study_name=summary.study_name, storage=target)  # type: ignore[arg-type]
    trials = study.get_trials(deepcopy=False)
    recorded = [
        int(t.user_attrs["round"])
        for t in trials
        if RECORD_ATTR in t.user_attrs
        and not t.user_attrs.get(INTERRUPTED_ATTR)
        and not t.user_attrs.get(SURPLUS_ATTR)
    ]
    return sorted(recorded), trials


def run_two_workers(tmp_path: Path, storage: str) -> tuple[list[subprocess.Popen[str]], Path]:
    run_dir = tmp_path / "run"
    procs = [start(worker_args(storage, run_dir), tmp_path) for _ in range(2)]
    for proc in procs:
        proc.wait(timeout=600)
    return procs, run_dir


def check_every_round_once(procs: list[subprocess.Popen[str]], run_dir: Path, recorded: list[int]) -> None:
    for proc in procs:
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert recorded == list(range(1, ROUNDS + 1))  # none twice, none lost, never more
    per_worker = csv_rounds(run_dir)
    assert len(per_worker) == 2  # run/trials.csv and run/worker-<host>-<pid>/trials.csv
    own = list(per_worker.values())
    assert all(own), f"a worker ran no round: {per_worker}"  # both did work
    assert sorted(own[0] + own[1]) == list(range(1, ROUNDS + 1))  # each round in one worker's file
    # The reducer reading both workers' directories sees each round once.
    trials = load([str(run_dir)]).trials
    assert sorted(trials["round"].astype(int)) == list(range(1, ROUNDS + 1))


def test_two_workers_on_one_sqlite_file_run_each_round_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    procs, run_dir = run_two_workers(tmp_path, url)
    recorded, trials = storage_rounds(url)
    check_every_round_once(procs, run_dir, recorded)
    workers = {t.user_attrs["worker"]["pid"] for t in trials if RECORD_ATTR in t.user_attrs}
    assert workers == {p.pid for p in procs}


def test_two_workers_on_one_journal_file_run_each_round_once(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "journal.log"
    procs, run_dir = run_two_workers(tmp_path, f"journal:///{path}")
    recorded, _ = storage_rounds("", optuna.storages.JournalStorage(JournalFileBackend(str(path))))
    check_every_round_once(procs, run_dir, recorded)


def test_a_worker_killed_mid_round_leaves_its_round_to_the_other(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    run_dir = tmp_path / "run"
    # Rounds of about two seconds, so that the victim's round has beaten its heart (every second),
    # with its energy so far, and is still running when it is killed. At 150 epochs a round took about
    # as long as a heartbeat, and the victim could finish the round between its sighting and the kill.
    survivor = start(worker_args(url, run_dir, epochs=300, rounds=KILLED_ROUNDS), tmp_path)
    time.sleep(0.5)
    victim = start(worker_args(url, tmp_path / "victim", epochs=300, rounds=KILLED_ROUNDS), tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline:
        _, trials = storage_rounds(url)
        victims = [t for t in trials if t.user_attrs.get("worker", {}).get("pid") == victim.pid]
        mine = [t for t in victims if t.state == optuna.trial.TrialState.RUNNING and "spent" in t.user_attrs]
        if mine:  # the victim is a heartbeat or more into a round
            break
        time.sleep(0.05)
    else:
        pytest.fail("the second worker never got going")
    killed_round = int(mine[0].user_attrs["round"])
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    survivor.wait(timeout=600)
    assert survivor.returncode == 0, survivor.stderr.read() if survivor.stderr else ""

    recorded, trials = storage_rounds(url)
    assert recorded == list(range(1, KILLED_ROUNDS + 1))
    rerun = [t for t in trials if RECORD_ATTR in t.user_attrs and int(t.user_attrs["round"]) == killed_round]
    assert len(rerun) == 1 and rerun[0].user_attrs["worker"]["pid"] == survivor.pid
    assert rerun[0].params == mine[0].params  # the same hyperparameters, run again
    abandoned = next(t for t in trials if t.number == mine[0].number)
    assert abandoned.state == optuna.trial.TrialState.FAIL and abandoned.user_attrs.get(INTERRUPTED_ATTR)
    # The energy the killed attempt had spent, to its last heartbeat, is charged to the re-run.
    spent = abandoned.user_attrs["spent"]
    assert spent["until"] == "heartbeat" and spent["energy_j"] > 0
    assert rerun[0].user_attrs["record"]["interrupted_j"] == pytest.approx(spent["energy_j"])


def test_two_workers_on_a_postgresql_server_run_each_round_once(tmp_path, postgres):
    procs, run_dir = run_two_workers(tmp_path, postgres)
    recorded, _ = storage_rounds(postgres)
    check_every_round_once(procs, run_dir, recorded)


def test_a_silent_worker_on_another_machine_loses_its_round_after_the_grace_period(make_config, tmp_path):
    """Optuna's heartbeat: a round whose worker elsewhere has not beaten for grace_period is run
    again, with the same hyperparameters, under its round number."""
    from harness import study as study_mod
    from harness.storage import open_storage

    settings = ("strategy=random", "study.heartbeat_interval=1", "study.grace_period=2")
    cfg3 = make_config(*settings, "study.rounds=3")
    study_mod.run(cfg3, tmp_path / "run")
    storage = open_storage(cfg3.study.storage, heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name=cfg3.study_name, storage=storage)
    with warnings.catch_warnings():  # Optuna's advice to use its optimize loop with heartbeats
        warnings.simplefilter("ignore")
        orphan = study.ask(study_mod.distributions(cfg3.space.params))
    orphan.set_user_attr("round", 4)
    orphan.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "started": "1"})
    study_id = storage.get_study_id_from_name(cfg3.study_name)
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, orphan.number))
    time.sleep(3)  # past the grace period: that worker is gone

    result = study_mod.run(make_config(*settings, "study.rounds=5"), tmp_path / "run")
    assert result.rounds == 5
    trials = optuna.load_study(study_name=cfg3.study_name, storage=cfg3.study.storage).trials
    abandoned = next(t for t in trials if t.number == orphan.number)
    assert abandoned.state == optuna.trial.TrialState.FAIL
    rerun = [t for t in trials if RECORD_ATTR in t.user_attrs and t.user_attrs["round"] == 4]
    assert len(rerun) == 1 and rerun[0].params == orphan.params


def test_a_round_killed_before_its_claim_is_drawn_afresh_and_said(make_config, tmp_path, capsys):
    """A worker killed between the trial's creation and its claim leaves a RUNNING trial with no round
    and no worker; after the grace period it is failed, not queued (nothing had been drawn), and the
    resuming worker says it re-runs an interrupted round."""
    from harness import study as study_mod

    settings = ("strategy=random", "study.heartbeat_interval=1", "study.grace_period=2")
    cfg = make_config(*settings, "study.rounds=2")
    study_mod.run(cfg, tmp_path / "run")
    study = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage)
    orphan = study.ask()  # no claim, no worker, no params: killed inside the ask
    capsys.readouterr()

    result = study_mod.run(make_config(*settings, "study.rounds=4"), tmp_path / "run")
    assert result.rounds == 4
    trials = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).trials
    abandoned = next(t for t in trials if t.number == orphan.number)
    assert abandoned.state == optuna.trial.TrialState.FAIL
    assert abandoned.user_attrs.get(INTERRUPTED_ATTR)
    assert not any(t.state == optuna.trial.TrialState.WAITING for t in trials)
    rounds = sorted(t.user_attrs["round"] for t in trials if RECORD_ATTR in t.user_attrs)
    assert rounds == [1, 2, 3, 4]
    assert "re-running 1 interrupted round" in capsys.readouterr().err


def test_a_study_another_worker_has_just_created_is_joined_once_its_settings_are_stamped(
    make_config, tmp_path
):
    """Two workers starting together: the second finds the study created but not yet stamped with its
    settings, and waits for the stamp instead of calling it a study with other settings."""
    import threading

    from harness import study as study_mod
    from harness.storage import open_storage

    cfg = make_config("strategy=random", "study.rounds=1")
    storage = open_storage(cfg.study.storage)
    first = optuna.create_study(study_name=cfg.study_name, storage=storage, direction="maximize")

    def stamp() -> None:
        time.sleep(0.5)
        first.set_user_attr("fingerprint", cfg.fingerprint_digest())
        first.set_user_attr("config", cfg.fingerprint())

    thread = threading.Thread(target=stamp)
    thread.start()
    joined = study_mod._open_study(cfg, storage)
    thread.join()
    assert joined.study_name == cfg.study_name
    assert joined.user_attrs["fingerprint"] == cfg.fingerprint_digest()
