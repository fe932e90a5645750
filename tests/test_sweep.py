"""Multiruns: a failing job is reported while the others go on, and parallel jobs share a new SQLite
file. (An invalid job stopping the sweep before any job runs: tests/test_naming.py.)"""

from __future__ import annotations

import optuna
import pytest

from tests.conftest import TINY, run_cli

# The tiny settings without their dataset choice (the sweep picks it), on 3-channel images as
# cifar10 has.
SMALL = TINY[1:]  # the settings every data set takes
SMALL += ["study.rounds=2", "model=dense_poly"]


GONE = """
import numpy as np


def load(gone):
    if gone:  # as when a data file is deleted under a running sweep
        raise FileNotFoundError(2, "No such file or directory", "data/gone.npz")
    rng = np.random.default_rng(0)
    return rng.random((64, 3, 4, 4)), np.arange(64) % 2, rng.random((16, 3, 4, 4)), np.arange(16) % 2
"""


@pytest.mark.slow
def test_a_job_failing_mid_sweep_is_listed_and_the_other_jobs_run(tmp_path):
    """Two jobs lose their data when they run (data is checked before a sweep starts, so a file
    deleted under it); they run first, in two parallel processes, on a SQLite file no job has
    created yet."""
    (tmp_path / "gone_data.py").write_text(GONE)  # importable from the working directory
    db = tmp_path / "new.db"
    out = run_cli(
        [
            "harness",
            "-m",
            "dataset=custom",
            "dataset._target_=gone_data.load",
            "+dataset.kwargs.gone=true,false",
            "strategy=random,grid",
            *SMALL,
            f"study.storage=sqlite:///{db}",
            f"hydra.sweep.dir={tmp_path}/sweep",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
        tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "UNIQUE constraint" not in out.stderr  # the storage was created once, before the jobs
    names = optuna.get_all_study_summaries(f"sqlite:///{db}")
    assert len(names) == 2  # the two jobs with their data ran after the failures
    assert len(list((tmp_path / "sweep").rglob("trials.csv"))) == 2
    lines = out.stderr.splitlines()
    listed = lines[lines.index("harness: 2 job(s) of the sweep failed:") + 1 :][:2]
    assert all(line.strip().startswith(str(tmp_path / "sweep" / "custom.load-")) for line in listed)
    assert all("data/gone.npz: No such file or directory" in line for line in listed)
    assert "Traceback" not in out.stderr
    # Each failed job's error is in its own Hydra job log as well as on the terminal.
    logged = [p for p in (tmp_path / "sweep").rglob("harness.log") if "the sweep goes on" in p.read_text()]
    assert len(logged) == 2 and all("data/gone.npz: No such file" in p.read_text() for p in logged)


def test_a_sweep_over_data_that_is_not_there_stops_up_front_in_one_line_leaving_nothing(tmp_path):
    out = run_cli(
        [
            "harness",
            "-m",
            "dataset=cifar10",
            "model=dense_poly",
            "study.seed=0,1,2",
            "study.rounds=1",
            "dataset.download=false",
            f"dataset.root={tmp_path}/nothing",
            f"study.storage=sqlite:///{tmp_path}/o.db",
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        tmp_path,
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert (
        line.startswith("harness: error: cifar10: missing cifar-10-python.tar.gz")
        and "no job was run" in line
    )
    assert not (tmp_path / "sweep").exists() and not (tmp_path / "o.db").exists()
