"""Ctrl-C and SIGTERM stop a study in a few seconds, in one line, and the same command resumes it."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import TINY, run_cli


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

    out = run_cli(["harness", *args], tmp_path)
    assert out.returncode == 0, out.stderr
    resumed = rows(trials)
    assert [int(r["round"]) for r in resumed] == list(range(1, ROUNDS + 1))
    assert resumed[: len(kept)] == kept  # the finished rounds stay as they were
    if interrupted:  # the interrupted round ran again with the same hyperparameters
        again = resumed[len(kept)]
        assert float(again["p_lr"]) == interrupted[0].params["lr"]
        # The energy the stopped attempt had spent is kept, and charged to the re-run beside its own.
        spent = interrupted[0].user_attrs["spent"]
        assert spent["until"] == "signal" and spent["energy_j"] > 0
        assert float(again["interrupted_j"]) == pytest.approx(spent["energy_j"])
