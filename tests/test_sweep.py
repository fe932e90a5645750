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


@pytest.mark.slow
def test_a_job_failing_mid_sweep_is_listed_and_the_other_jobs_run(tmp_path):
    """The cifar10 jobs find no data when they run (as when a data file is deleted under a sweep);
    they run first, in two parallel processes, on a SQLite file no job has created yet."""
    db = tmp_path / "new.db"
    out = run_cli(
        [
            "harness",
            "-m",
            "dataset=cifar10,synthetic",
            "strategy=random,grid",
            *SMALL,
            "dataset.download=false",
            f"dataset.root={tmp_path}/nothing",
            f"study.storage=sqlite:///{db}",
            f"hydra.sweep.dir={tmp_path}/sweep",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
        tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "UNIQUE constraint" not in out.stderr  # the storage was created once, before the jobs
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}"))
    assert [n.split("-")[0] for n in names] == ["synthetic", "synthetic"]  # both ran after the failures
    assert len(list((tmp_path / "sweep").rglob("trials.csv"))) == 2
    lines = out.stderr.splitlines()
    listed = lines[lines.index("harness: 2 job(s) of the sweep failed:") + 1 :][:2]
    assert all(line.strip().startswith(str(tmp_path / "sweep" / "cifar10-")) for line in listed)
    assert all("missing cifar-10-python.tar.gz" in line for line in listed)
    assert "Traceback" not in out.stderr
