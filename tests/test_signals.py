"""Ctrl-C and SIGTERM stop a study in a few seconds, in one line, and the same command resumes it."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, TINY, run_cli


def rows(trials: Path) -> list[dict[str, str]]:
    with trials.open() as fh:
        return list(csv.DictReader(fh))


ROUNDS = 30


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_study_in_one_line_and_the_same_command_resumes_it(tmp_path, signum, status):
    db = tmp_path / "o.db"
    run_dir = tmp_path / "run"
    args = [
        *TINY,
        "strategy=random",
        f"study.rounds={ROUNDS}",  # more than can finish before the signal, even on a loaded machine
        "study.epochs=40",  # rounds long enough that the signal lands inside one
        f"study.storage=sqlite:///{db}",
        f"hydra.run.dir={run_dir}",
    ]
    exe = str(Path(sys.executable).parent / "harness")
    proc = subprocess.Popen(
        [exe, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    trials = run_dir / "trials.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (trials.exists() and len(rows(trials)) >= 2):
        time.sleep(0.02)
    time.sleep(0.05)  # into the next round's training
    sent = time.time()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    stopped_s = time.time() - sent
    assert proc.returncode == status
    assert stopped_s < 10
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"harness: {signal.Signals(signum).name}: stopped ")
    assert "run the same command to resume" in last

    kept = rows(trials)
    study = optuna.load_study(
        study_name=optuna.get_all_study_summaries(f"sqlite:///{db}")[0].study_name, storage=f"sqlite:///{db}"
    )
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(interrupted) <= 1

    # Resumed to two rounds past the kept ones (the number of rounds changes no study).
    out = run_cli(["harness", *args, f"study.rounds={len(kept) + 2}"], tmp_path)
    assert out.returncode == 0, out.stderr
    resumed = rows(trials)
    assert [int(r["round"]) for r in resumed] == list(range(1, len(kept) + 3))
    assert resumed[: len(kept)] == kept  # the finished rounds stay as they were
    if interrupted:  # the interrupted round ran again with the same hyperparameters
        again = resumed[len(kept)]
        assert float(again["p_lr"]) == interrupted[0].params["lr"]
        # The energy the stopped attempt had spent is kept, and charged to the re-run beside its own.
        spent = interrupted[0].user_attrs["spent"]
        assert spent["until"] == "signal" and spent["energy_j"] > 0
        assert float(again["interrupted_j"]) == pytest.approx(spent["energy_j"])


def _start(tmp_path: Path, prog: str, *args: str) -> subprocess.Popen[str]:
    exe = str(Path(sys.executable).parent / prog)
    return subprocess.Popen(
        [exe, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _one_line(proc: subprocess.Popen[str], status: int) -> str:
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = [ln for ln in stderr.strip().splitlines() if "RAPL" not in ln]  # the meter's own notice
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    "signum, after_s, twice",
    [
        (signal.SIGINT, 0.3, False),  # importing the command's modules
        (signal.SIGTERM, 1.5, False),  # composing and validating the configuration (torch not yet loaded)
        (signal.SIGINT, 1.5, True),  # two Ctrl-Cs 20 ms apart
    ],
)
def test_a_signal_while_the_command_starts_is_one_line_and_the_shells_status(
    tmp_path, signum, after_s, twice
):
    proc = _start(
        tmp_path,
        "harness",
        *TINY,
        # Far more than can finish on any machine before the signal: whether it lands in the start-up
        # or, on a fast machine, in a round, it is one line and the shell's status; never a clean exit.
        f"study.rounds={ROUNDS}",
        "study.epochs=40",
        f"study.storage=sqlite:///{tmp_path}/o.db",
        f"hydra.run.dir={tmp_path}/run",
    )
    time.sleep(after_s)
    proc.send_signal(signum)
    if twice:
        time.sleep(0.02)
        proc.send_signal(signum)
    line = _one_line(proc, 128 + signum)
    assert line.startswith(f"harness: {signal.Signals(signum).name}: stopped ")
    assert "run the same command" in line


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_pick_is_scored_on_the_test_set_keeps_every_round(tmp_path, signum):
    args = [
        "dataset=digits",
        "dataset.validation=0.2",
        "model=dense_poly",
        "strategy=random",
        "study.rounds=2",
        "study.epochs=60",  # the final scoring retrains the pick this long: the signal lands inside it
        "study.repetitions=1",
        "study.progress=false",
        "study.threads=1",
        f"study.storage=sqlite:///{tmp_path}/o.db",
        f"hydra.run.dir={tmp_path}/run",
    ]
    proc = _start(tmp_path, "harness", *args)
    assert proc.stdout is not None
    summary = proc.stdout.readline()  # printed when the rounds are done, before the pick is scored
    assert "best accuracy" in summary
    time.sleep(0.1)
    proc.send_signal(signum)
    proc.send_signal(signum)  # a second one changes nothing
    line = _one_line(proc, 128 + signum)
    assert "on the test set; all 2 rounds are kept, run the same command to score it" in line
    assert len(rows(tmp_path / "run" / "trials.csv")) == 2

    out = run_cli(["harness", *args], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "scores" in out.stdout and "on the test set" in out.stdout
    assert len(rows(tmp_path / "run" / "trials.csv")) == 2  # nothing re-ran


def test_a_signal_stops_the_report_in_one_line_and_leaves_no_partial_file(tmp_path):
    import numpy as np
    import pandas as pd

    # Enough studies that the report is still reducing and plotting when the signal comes.
    rng = np.random.default_rng(0)
    n, rounds = 600, 64
    pd.DataFrame(
        {
            "study": np.repeat([f"s{i}" for i in range(n)], rounds),
            "dataset": "digits",
            "model": "dense_poly",
            "strategy": np.repeat(["grid", "random", "bayes_pi"] * (n // 3), rounds),
            "space": "paper3",
            "seed": np.repeat(np.arange(n) // 3, rounds),
            "round": np.tile(np.arange(1, rounds + 1), n),
            "status": "complete",
            "accuracy": rng.uniform(0.5, 0.95, n * rounds),
            "energy_j": rng.uniform(1, 2, n * rounds),
            "energy_source": "estimate",
        }
    ).to_csv(tmp_path / "trials.csv", index=False)
    out = tmp_path / "report"
    proc = _start(tmp_path, "harness-report", str(tmp_path / "trials.csv"), "--out", str(out))
    # The tables are written first; the figures of 600 studies take seconds more: signal in between,
    # on the event, not after a guess at how long loading takes.
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "summary.csv").exists() and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    line = _one_line(proc, 130)
    assert line.startswith("harness-report: SIGINT: stopped; ")
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [name for name in left if name.startswith(".") or name.endswith(".tmp")], left


@pytest.mark.slow
def test_a_signal_stops_a_table_build_in_its_studys_one_line(tmp_path):
    out = tmp_path / "table"
    proc = _start(
        tmp_path,
        "harness-table",
        "--out",
        str(out),
        *TINY,
        "strategy.candidates=130",
        "study.epochs=20",
        f"study.storage=sqlite:///{tmp_path}/t.db",
    )
    trials = out / "build" / "trials.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (trials.exists() and len(rows(trials)) >= 1):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C: to the command, which hands it on
    line = _one_line(proc, 130)
    assert line.startswith("harness: SIGINT: stopped ") and "run the same command" in line


def test_a_start_up_signal_whose_exit_was_swallowed_still_stops_the_study_before_a_round(
    make_config, tmp_path
):
    """The start-up handler's SystemExit can land in a garbage-collection callback while a library
    imports, where the interpreter swallows it (seen in CI: the study then ran and exited 0). The
    handler also records the signal, and the study stops before its first round with its status."""
    from harness import signals
    from harness import study as study_mod
    from harness.errors import Interrupted

    cfg = make_config("strategy=random", "study.rounds=3")
    signals.requested.append(signal.SIGINT)  # what the handler records before its (swallowed) exit
    try:
        with pytest.raises(Interrupted) as stopped:
            study_mod.run(cfg, tmp_path / "run")
    finally:
        signals.requested.clear()
    assert stopped.value.exit_code == 130 and "SIGINT" in str(stopped.value)
    trials = tmp_path / "run" / "trials.csv"
    assert not trials.exists() or rows(trials) == []


def test_a_stopped_study_says_its_line_once_when_a_start_up_signal_said_one_already(capsys):
    """Seen in CI under load: a start-up signal printed its line, its exit was swallowed, and the study
    it then stopped printed a second. The study's stop is said only where no start-up line was."""
    from harness import signals
    from harness.__main__ import stopped
    from harness.errors import Interrupted

    stop = Interrupted("SIGTERM: stopped s between rounds (0 of 3 done)", 143)
    with pytest.raises(SystemExit) as left:
        stopped(stop)
    assert left.value.code == 143 and capsys.readouterr().err == f"harness: {stop}\n"
    signals.requested.append(signal.SIGTERM)  # the start-up handler's record, its line already said
    try:
        with pytest.raises(SystemExit) as left:
            stopped(stop)
    finally:
        signals.requested.clear()
    assert left.value.code == 143 and capsys.readouterr().err == ""


def test_a_start_up_signal_while_torch_imports_is_held_until_the_import_returns(tmp_path):
    """A SystemExit raised inside a compiled extension's initialiser aborts the process (seen in CI:
    exit -6, "terminate called"): inside held_while_importing the handler says its line at once and
    the exit comes when the block ends, with the signal's status (in a process of its own: the handler
    ignores further signals and arms an exit watchdog)."""
    script = tmp_path / "held.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, sys
            from harness import signals
            signals.stop_with_one_line("harness", "stopped while it started")
            with signals.held_while_importing():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the handler runs at the next bytecode: no exit from here
                    pass
                print("reached the end of the block", flush=True)
            print("after the block", flush=True)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 143, out.stderr
    assert out.stdout == "reached the end of the block\n"
    assert out.stderr == "harness: SIGTERM: stopped while it started\n"
