"""Faults that must not lose a round: a full disk under each file storage, a read-only storage, a
storage that keeps nothing, and a worker that died between writing its record and telling Optuna.

Real processes on real file systems: each storage lives on a small tmpfs (mounting needs root; these
tests skip elsewhere) that fills up, is freed, and the same command resumes.
"""

from __future__ import annotations

import csv
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from harness.records import INTERRUPTED_ATTR, RECORD_ATTR
from harness.storage import open_storage, repair_journal
from harness.workers import ROUND_ATTR, WORKER_ATTR, Workers
from tests.conftest import TINY, run_cli, tmpfs


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of the size asked for; ``resize(size)`` remounts it (``"ro"`` makes it read-only)."""
    with tmpfs(tmp_path / "disk", "40k") as mount:

        def remount(option: str) -> None:
            subprocess.run(["mount", "-o", f"remount,{option}", str(mount)], check=True)

        yield mount, remount


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def recorded_rounds(url: str) -> list[int]:
    storage = open_storage(url) if url.startswith("journal") else url
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    return sorted(
        int(t.user_attrs[ROUND_ATTR])
        for t in study.get_trials(deepcopy=False)
        if RECORD_ATTR in t.user_attrs and not t.user_attrs.get(INTERRUPTED_ATTR) and t.state.is_finished()
    )


def study_args(url: str, run_dir: Path, rounds: int) -> list[str]:
    return [
        "harness",
        *TINY,
        "strategy=random",
        f"study.rounds={rounds}",
        f"study.storage={url}",
        f"hydra.run.dir={run_dir}",
        "hydra.output_subdir=null",
    ]


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("harness: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
def test_a_journal_filled_to_the_last_byte_resumes_with_every_round_it_had(tmp_path, small_disk):
    mount, remount = small_disk
    url = f"journal:///{mount}/j.log"  # a fourth slash: an absolute path
    args = study_args(url, tmp_path / "run", rounds=30)
    out = run_cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    assert "No space left on device" in one_error_line(out.stderr)
    assert not (mount / "j.log").read_bytes().endswith(b"\n")  # the write that failed left a torn record
    before = [int(r["round"]) for r in rows(tmp_path / "run" / "trials.csv")]
    assert before, "the disk filled before any round: make the tmpfs larger"

    remount("size=4m")
    again = run_cli(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "ended in a torn record" in again.stderr and "Traceback" not in again.stderr
    assert recorded_rounds(url) == list(range(1, 31))
    after = rows(tmp_path / "run" / "trials.csv")
    # Each round once; rows are in the order rounds finished, and the round the full disk interrupted
    # may finish after the next one.
    assert sorted(int(r["round"]) for r in after) == list(range(1, 31))


@pytest.mark.slow
def test_sqlite_on_a_full_disk_stops_in_one_line_and_resumes_with_storage_and_records_agreeing(
    tmp_path, small_disk
):
    mount, remount = small_disk
    remount("size=600k")
    url = f"sqlite:///{mount}/s.db"
    args = study_args(url, tmp_path / "run", rounds=300)
    out = run_cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    assert "disk is full" in one_error_line(out.stderr)
    remount("size=8m")
    again = run_cli(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert recorded_rounds(url) == list(range(1, 301))
    (name,) = optuna.get_all_study_names(url)
    for trial in optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False):
        record = trial.user_attrs.get(RECORD_ATTR)
        if record is not None and not trial.user_attrs.get(INTERRUPTED_ATTR):
            # What Optuna (and so the strategy) holds is what the round's record says.
            assert trial.state.name.lower() == record["status"], (trial.number, trial.state, record["status"])


def test_resuming_on_a_read_only_storage_is_one_line_and_exit_2(tmp_path, small_disk):
    mount, remount = small_disk
    remount("size=4m")
    url = f"sqlite:///{mount}/s.db"
    args = study_args(url, tmp_path / "run", rounds=2)
    assert run_cli(args, tmp_path).returncode == 0
    remount("ro")
    out = run_cli(study_args(url, tmp_path / "run", rounds=4), tmp_path)
    assert out.returncode == 2, out.stderr
    assert "read-only" in one_error_line(out.stderr)
    assert recorded_rounds(url) == [1, 2]


def test_a_finished_sqlite_study_lives_in_the_db_file_alone(tmp_path):
    db = tmp_path / "s.db"
    out = run_cli(study_args(f"sqlite:///{db}", tmp_path / "run", rounds=3), tmp_path)
    assert out.returncode == 0, out.stderr
    wal = tmp_path / "s.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy" / "s.db"
    copy.parent.mkdir()
    shutil.copy(db, copy)  # the .db alone, as users copy it
    assert recorded_rounds(f"sqlite:///{copy}") == [1, 2, 3]
    report = run_cli(["harness-report", f"sqlite:///{copy}", "--out", str(tmp_path / "rep")], tmp_path)
    assert report.returncode == 0, report.stderr
    assert len(rows(tmp_path / "rep" / "summary.csv")) == 1


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://"])
def test_a_storage_that_keeps_nothing_is_refused_and_the_run_directory_is_untouched(tmp_path, url):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "trials.csv").write_text("study,round\nkept,1\n")
    out = run_cli(study_args(url, run_dir, rounds=2), tmp_path)
    assert out.returncode == 2, out.stderr
    assert "keeps nothing" in one_error_line(out.stderr)
    assert (run_dir / "trials.csv").read_text() == "study,round\nkept,1\n"


def test_a_torn_journal_tail_is_cut_back_to_its_last_whole_record(tmp_path):
    log = tmp_path / "j.log"
    log.write_bytes(b'{"op_code":0}\n{"op_code":1}\n{"op_co')
    assert repair_journal(log) == len(b'{"op_co')
    assert log.read_bytes() == b'{"op_code":0}\n{"op_code":1}\n'
    assert repair_journal(log) == 0  # whole: left alone
    log.write_bytes(b'{"torn')
    assert repair_journal(log) == 6 and log.read_bytes() == b""


def test_a_round_recorded_by_a_worker_that_died_before_telling_stands_and_is_not_run_again(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    # A process of this host that no longer exists wrote its claim and its record, then died.
    gone = subprocess.Popen(["true"])
    gone.wait()
    trial.set_user_attr(ROUND_ATTR, 1)
    trial.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": gone.pid, "started": ""})
    trial.set_user_attr(RECORD_ATTR, {"status": "complete", "accuracy": 0.75, "energy_j": 2.0})
    workers = Workers(study, storage, interval=1, grace=2)
    assert workers.recover() == 0  # nothing taken over: the round is recorded
    (frozen,) = study.get_trials(deepcopy=False)
    assert frozen.state == TrialState.COMPLETE and frozen.value == 0.75
    assert not frozen.user_attrs.get(INTERRUPTED_ATTR)
    assert not study.get_trials(deepcopy=False, states=(TrialState.WAITING,))  # not queued again


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("space.params.lr.high=inf", "space.params.lr.high=inf must be a finite number"),
        ("+meter.watts_per_core=nan", "must be a finite number"),
        ("study.energy_budget_j=nan", "study.energy_budget_j=nan must be a finite number"),
        ("study.stack_memory_mb=nan", "must be a finite number"),
        ("study.rounds=1000000000", "split the search into studies"),
        ("dataset.validation=0.9999", "leaves none to train on"),
        ("study.name=../../../x", "one plain name"),
        ("study.name=" + "x" * 300, "give at most 200"),
    ],
)
def test_values_that_make_no_sense_are_refused_in_one_line(tmp_path, override, words):
    args = study_args(f"sqlite:///{tmp_path}/s.db", tmp_path / "run", rounds=2)
    if override.startswith("+meter"):
        args += ["meter=estimate", override.removeprefix("+")]
    else:
        args.append(override)
    out = run_cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    assert words in one_error_line(out.stderr)
    assert not (tmp_path.parent / "x").exists()


def test_the_report_reads_a_journal_and_never_creates_a_misspelt_database(tmp_path):
    log = tmp_path / "j.log"
    assert run_cli(study_args(f"journal:///{log}", tmp_path / "run", rounds=2), tmp_path).returncode == 0
    out = run_cli(
        ["harness-report", f"journal:///{log}", "--out", str(tmp_path / "rep"), "--no-plots"], tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert len(rows(tmp_path / "rep" / "summary.csv")) == 1
    typo = tmp_path / "typo.db"
    out = run_cli(["harness-report", f"sqlite:///{typo}", "--out", str(tmp_path / "rep2")], tmp_path)
    assert out.returncode == 2 and "there is no file" in out.stderr
    assert not typo.exists()


@pytest.mark.parametrize("given", ["run_dir", "cwd", "sweep_dir"])
def test_a_run_directory_on_a_read_only_file_system_is_one_line_before_anything_runs(tmp_path, given):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        args = ["harness", *TINY, "study.rounds=2", f"study.storage=sqlite:///{tmp_path}/o.db"]
        cwd = tmp_path
        if given == "run_dir":
            args.append(f"hydra.run.dir={ro}/run")
        elif given == "sweep_dir":
            args += ["-m", "study.seed=0,1", f"hydra.sweep.dir={ro}/sweep"]
        else:
            cwd = ro  # the default runs/... under a read-only working directory
        out = run_cli(args, cwd)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert "is not writable (a read-only file system?); give hydra." in lines[0]
        assert not (tmp_path / "o.db").exists()  # refused before any storage was created


# --------------------------------------------------------------------------------------------------
# The signal matrix: each storage kind × each moment of a study, with SIGINT, SIGTERM and SIGKILL
# spread over them as a Latin square (every signal meets every storage and every moment once).

STORAGES = ("sqlite", "journal", "postgresql")
MOMENTS = ("start-up", "mid-round", "final evaluation")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
MATRIX = [
    (storage, moment, SIGNALS[(i + j) % 3])
    for i, storage in enumerate(STORAGES)
    for j, moment in enumerate(MOMENTS)
]
MATRIX_ROUNDS = 3


@pytest.fixture
def storage_url(request, tmp_path):
    kind = request.param
    if kind == "postgresql":
        return request.getfixturevalue("postgres")
    return f"sqlite:///{tmp_path}/o.db" if kind == "sqlite" else f"journal:///{tmp_path}/j.log"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("storage_url", "moment", "signum"),
    MATRIX,
    indirect=["storage_url"],
    ids=[f"{s}-{m.replace(' ', '_')}-{signal.Signals(g).name}" for s, m, g in MATRIX],
)
def test_a_signal_at_any_moment_under_any_storage_loses_no_round(tmp_path, storage_url, moment, signum):
    run_dir = tmp_path / "run"
    args = [
        "harness",
        "dataset=digits",
        "dataset.validation=0.2",
        "model=dense_poly",
        "strategy=random",
        f"study.rounds={MATRIX_ROUNDS}",
        "study.epochs=30",  # rounds, and the final scoring of the pick, long enough to land a signal in
        "study.repetitions=1",
        "study.progress=false",
        "study.threads=1",
        f"study.storage={storage_url}",
        f"hydra.run.dir={run_dir}",
    ]
    exe = str(Path(sys.executable).parent / "harness")
    proc = subprocess.Popen(
        [exe, *args[1:]], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    trials = run_dir / "trials.csv"
    if moment == "start-up":
        time.sleep(0.5)
    elif moment == "mid-round":
        deadline = time.time() + 120
        while time.time() < deadline and not (trials.exists() and rows(trials)):
            time.sleep(0.02)
        time.sleep(0.05)
    else:
        assert proc.stdout is not None
        assert "best accuracy" in proc.stdout.readline()  # the rounds are done; the pick is scored next
        time.sleep(0.1)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    kept = rows(trials) if trials.exists() else []

    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + signum, stderr
        lines = [ln for ln in stderr.strip().splitlines() if "RAPL" not in ln]
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        assert lines[0].startswith(f"harness: {signal.Signals(signum).name}: stopped ")
        assert "run the same command" in lines[0]
        if moment == "final evaluation":
            assert "on the test set" in lines[0] and len(kept) == MATRIX_ROUNDS

    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    resumed = rows(trials)
    assert [int(r["round"]) for r in resumed] == list(range(1, MATRIX_ROUNDS + 1))
    assert resumed[: len(kept)] == kept  # every round recorded before the signal stands as it was
    assert recorded_rounds(storage_url) == list(range(1, MATRIX_ROUNDS + 1))
    assert "on the test set" in out.stdout  # the pick is scored, whatever the signal interrupted


def test_a_study_of_the_same_name_in_another_storage_does_not_replace_a_run_directorys_rounds(tmp_path):
    run_dir = tmp_path / "run"
    first = study_args(f"sqlite:///{tmp_path}/o.db", run_dir, 3)
    assert run_cli(first, tmp_path).returncode == 0
    kept = rows(run_dir / "trials.csv")
    journal = tmp_path / "j.log"
    out = run_cli(study_args(f"journal:///{journal}", run_dir, 2), tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert f"holds 3 rounds of this study from study.storage=sqlite:///{tmp_path}/o.db" in line
    assert rows(run_dir / "trials.csv") == kept  # untouched
    assert not journal.exists()  # and nothing created in the other storage
