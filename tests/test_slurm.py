"""Sweeps on a real SLURM cluster (one node on this machine, tests/slurm_cluster.py), as the README's
"Run on a SLURM cluster" gives them: array jobs as workers of shared studies, SIGTERM mid-round and
the resubmission that resumes, scontrol requeue, a job killed at its time limit, and a partition the
cluster does not have."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

HARNESS = str(ROOT / ".venv" / "bin" / "harness")
pytestmark = pytest.mark.slow


def settings(tmp_path: Path, *extra: str) -> list[str]:
    """A SLURM sweep of small studies whose rounds last about half a second."""
    return [
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "dataset=synthetic",
        "dataset.train_size=256",
        "dataset.test_size=64",
        "study.epochs=40",
        "study.repetitions=1",
        "study.batch_size=32",
        "study.progress=false",
        "study.threads=1",
        f"study.storage=sqlite:///{tmp_path}/optuna.db",
        f"hydra.sweep.dir={tmp_path}/sweep",
        *extra,
    ]


def env(conf: Path) -> dict[str, str]:
    return {**os.environ, "SLURM_CONF": str(conf)}


def run(conf: Path, tmp_path: Path, args: list[str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HARNESS, *args], cwd=tmp_path, env=env(conf), capture_output=True, text=True, timeout=timeout
    )


def rows(study_dir: Path) -> list[dict[str, str]]:
    """Every round recorded under a study's directory, by every worker."""
    found = []
    for path in sorted(study_dir.rglob("trials.csv")):
        with path.open() as fh:
            found += list(csv.DictReader(fh))
    return found


def ask(conf: Path, *command: str) -> str:
    out = subprocess.run(command, env=env(conf), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def wait_for(condition, what: str, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.2)


def start(conf: Path, tmp_path: Path, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HARNESS, *args],
        cwd=tmp_path,
        env=env(conf),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_array_jobs_work_as_workers_of_several_studies_and_log_where_the_readme_says(slurm, tmp_path):
    """Two studies, each given to two array jobs (the same study twice in the sweep): the jobs share
    each study's rounds, every round is recorded once, with the node it ran on."""
    out = run(slurm, tmp_path, settings(tmp_path, "strategy=grid,random", "study.seed=0,0", "study.rounds=6"))
    assert out.returncode == 0, out.stderr[-3000:]
    studies = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name.split("-")[2] for p in studies] == ["grid", "random"]
    for study in studies:
        recorded = rows(study)
        assert sorted(int(r["round"]) for r in recorded) == [1, 2, 3, 4, 5, 6], study.name
        assert {r["host"] for r in recorded} == {socket.gethostname()}
    # Each job's log: <sweep dir>/.submitit/<array id>_<index>/<array id>_<index>_0_log.out and .err
    logs = sorted((tmp_path / "sweep" / ".submitit").glob("*_*/*_0_log.err"))
    assert len(logs) == 4 and all(log.with_suffix(".out").exists() for log in logs)
    assert all("harness:" in log.read_text() for log in logs)


def _stop_mid_round(slurm, tmp_path, args, stop) -> tuple[subprocess.Popen[str], str]:  # type: ignore[no-untyped-def]
    """Start a one-study sweep, wait for its second round to be recorded, then ``stop(job_id)``."""
    sweep = start(slurm, tmp_path, args)
    wait_for(lambda: len(rows(tmp_path / "sweep")) >= 2 or sweep.poll() is not None, "two rounds")
    assert sweep.poll() is None, sweep.communicate()[1][-3000:]
    job = slurm_job(slurm, tmp_path)
    stop(job)
    return sweep, job


def slurm_job(conf: Path, tmp_path: Path) -> str:
    """The job of the sweep launched from ``tmp_path`` (others may be running: the time-limit one)."""
    (job,) = [
        line.split()[0]
        for line in ask(conf, "squeue", "-h", "-o", "%i %Z").splitlines()
        if line.split()[1] == str(tmp_path)
    ]
    return job


def stop_line(tmp_path: Path) -> str:
    """The harness's own line, in the job's log, saying where the signal stopped the study."""
    (line,) = [
        line
        for log in sorted((tmp_path / "sweep" / ".submitit").rglob("*_log.err"))
        for line in log.read_text().splitlines()
        if line.startswith("harness: SIG") and ": stopped " in line
    ]
    return line


def assert_resumed_exactly(tmp_path: Path, rounds: int) -> None:
    recorded = rows(tmp_path / "sweep")
    assert sorted(int(r["round"]) for r in recorded) == list(range(1, rounds + 1))
    interrupted = [r for r in recorded if r["interrupted_j"]]
    # A signal lands mid-round almost always; where it landed between two rounds (the study says
    # which), no attempt was cut short. A stopped round was run again, and the energy of the stopped
    # attempt is kept.
    if " between rounds " in stop_line(tmp_path):
        assert interrupted == []
    else:
        assert len(interrupted) == 1 and float(interrupted[0]["interrupted_j"]) > 0


def test_sigterm_mid_round_keeps_its_energy_exits_143_and_the_same_command_resumes(slurm, tmp_path):
    args = settings(tmp_path, "strategy=random", "study.rounds=6")
    sweep, job = _stop_mid_round(
        slurm, tmp_path, args, lambda job: ask(slurm, "scancel", "--signal=TERM", job)
    )
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 1
    (said,) = [line for line in err.splitlines() if f"SLURM job {job} did not finish" in line]
    assert "harness: SIGTERM: stopped" in said and "run the same command to resume" in said
    assert "Traceback" not in err
    exit_code = ask(slurm, "sacct", "-j", job, "-n", "-X", "-o", "ExitCode")
    assert exit_code.split(":")[0] == "143" or "143" in Path(said.rsplit("its log: ", 1)[1]).read_text()
    again = run(slurm, tmp_path, args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_resumed_exactly(tmp_path, 6)


def test_a_requeued_job_rejoins_its_study_and_finishes_it(slurm, tmp_path):
    args = settings(tmp_path, "strategy=random", "study.rounds=6")
    sweep, job = _stop_mid_round(slurm, tmp_path, args, lambda job: ask(slurm, "scontrol", "requeue", job))
    # SLURM holds a requeued job for a while before it may start again: release it now.
    wait_for(lambda: ask(slurm, "squeue", "-h", "-j", job, "-o", "%T") == "PENDING", "the job to be requeued")
    ask(slurm, "scontrol", "update", f"JobId={job}", "StartTime=now")
    _, err = sweep.communicate(timeout=180)
    assert sweep.returncode == 0, err[-3000:]
    assert_resumed_exactly(tmp_path, 6)


def start_time_limit(conf: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """A one-minute time limit, no requeue, and more rounds than fit: started before the first test
    (tests/conftest.py), since SLURM's shortest limit is a minute."""
    limit = [
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.max_num_timeout=0",
        "hydra.launcher.signal_delay_s=5",
    ]
    return start(conf, tmp_path, settings(tmp_path, "strategy=random", "study.rounds=400", *limit)), tmp_path


def test_a_job_killed_at_its_time_limit_is_resumed_by_the_resubmission(slurm):
    """SLURM's SIGTERM at the limit stops the round cleanly, and the same command (here asking for
    fewer rounds, which changes no study) takes over its round."""
    from tests.conftest import SLURM

    sweep, tmp_path = SLURM["time_limit"]
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, err[-3000:]
    (said,) = [line for line in err.splitlines() if "did not finish (TIMEOUT)" in line]
    assert "harness: SIGTERM: stopped" in said
    done = len(rows(tmp_path / "sweep"))
    again = run(slurm, tmp_path, settings(tmp_path, "strategy=random", f"study.rounds={done + 1}"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert_resumed_exactly(tmp_path, done + 1)


def test_a_partition_the_cluster_lacks_is_one_line_and_nothing_is_submitted(slurm, tmp_path):
    out = run(slurm, tmp_path, settings(tmp_path, "strategy=grid,random", "hydra.launcher.partition=nope"))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "hydra.launcher.partition=nope: this cluster has no such partition (sinfo lists: debug)" in line
    assert str(tmp_path) not in ask(slurm, "squeue", "-h", "-o", "%Z") and not (tmp_path / "sweep").exists()
