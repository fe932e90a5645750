"""The `harness` command as a user runs it: help, config printing, sweeps, and bad input."""

from __future__ import annotations

import csv

import optuna
import pytest

from tests.conftest import TINY, run_cli


def study_names(db) -> list[str]:
    if not db.exists():
        return []
    return [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}")]


def test_help_lists_the_groups_and_their_options(tmp_path):
    out = run_cli(["harness", "--help"], tmp_path)
    assert out.returncode == 0
    assert "harness is powered by Hydra" in out.stdout
    for line in (
        "strategy: bayes, bayes_ei, bayes_eipj, bayes_pi, grid, mo_gp, mo_nsga2, qmc, random, table, tpe",
        "space: cost_aware, log3, log5, paper3, paper5",
        "model: custom, dense_linear, dense_poly, simple_cnn",
        "dataset: cifar10, custom, digits, fashion_mnist, synthetic",
    ):
        assert line in out.stdout
    assert "stack_repetitions: auto" in out.stdout  # the composed configuration follows


def test_help_shows_the_configuration_its_overrides_compose(tmp_path):
    out = run_cli(["harness", "model=dense_poly", "--help"], tmp_path)
    assert out.returncode == 0 and "name: dense_poly" in out.stdout
    bad = run_cli(["harness", "--help", "study.rounds=[1"], tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_cfg_job_prints_the_composed_configuration(tmp_path):
    out = run_cli(["harness", "--cfg", "job", "experiment=paper_rq1"], tmp_path)
    assert out.returncode == 0
    assert "epochs: 25" in out.stdout and "repetitions: 8" in out.stdout and "name: bayes_pi" in out.stdout


def test_a_study_and_a_multirun_sweep(tmp_path):
    db = tmp_path / "o.db"
    args = [
        "harness",
        "-m",
        "strategy=random,grid",
        "model=dense_poly",
        "study.rounds=2",
        f"study.storage=sqlite:///{db}",
        f"hydra.sweep.dir={tmp_path}/sweep",
        *TINY,
    ]
    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    runs = sorted(p.parent.name for p in (tmp_path / "sweep").rglob("trials.csv"))
    tokens = "e1-r1-b32-n128-t64"  # the tiny settings differ from the options' YAML (tests/conftest.py)
    assert runs == [f"synthetic-dense_poly-{s}-paper3-s0-{tokens}" for s in ("grid", "random")]
    assert sorted(study_names(db)) == runs
    assert out.stdout.count("best accuracy") == 2
    # Re-running the same command resumes: nothing new is trained, nothing is duplicated.
    again = run_cli(args, tmp_path)
    assert again.returncode == 0
    for path in (tmp_path / "sweep").rglob("trials.csv"):
        with path.open() as fh:
            assert [r["round"] for r in csv.DictReader(fh)] == ["1", "2"]


BAD = [
    (["model=resnet"], "model=resnet is not an option of model; choose one of: custom, dense_linear"),
    (["strategy=grid,annealing"], "strategy=annealing is not an option of strategy"),
    (["study.rounds=0"], "study.rounds=0 must be at least 1"),
    (["study.rounds=abc"], "study.rounds='abc' must be an integer"),
    (["study.batch_size=0"], "study.batch_size=0 must be at least 1"),
    (["study.epochs=0"], "study.epochs=0 must be at least 1"),
    (["space.params.lr.low=0.5"], "space.params.lr: low=0.5 is not below high=0.1"),
    (["space=log3", "space.params.lr.low=0"], "space.params.lr: a log scale needs positive bounds"),
    (["strategy=grid", "study.rounds=200"], "study.rounds=200 exceeds the 125 cells of the grid"),
    (["study.storage=nosuchdb://x/y"], "study.storage=nosuchdb://x/y cannot be opened"),
    (["dataset=cifar10", "dataset.download=false"], "cifar10: missing cifar-10-python.tar.gz"),
    (["model.conv_layers=5"], "model.conv_layers=5 halves a 8x8 image to nothing"),
    (
        ["strategy=random", "strategy.xi=5"],
        "strategy.xi is a setting of strategy=bayes_ei/bayes_eipj/bayes_pi only",
    ),
    (["model=dense_poly", "model.relu=false"], "model.relu is a setting of model=simple_cnn only"),
    (["meter=nvml", "meter.watts_per_core=40"], "meter.watts_per_core is a setting of meter=auto/estimate"),
    (["strategy=tpe", "strategy.xi=3"], "not of the chosen strategy=tpe"),
    (["study.progress=maybe"], "study.progress='maybe' must be true or false"),
    (["strategy=bayes_pi", "strategy.n_candidates=1.5"], "strategy.n_candidates=1.5 must be an integer"),
    (["+space.params.epsilon={low:1e-9}"], "space.params.epsilon.high is missing"),
    (["space.params.lr.log=true"], "add it with a leading +, as +space.params.lr.log="),
    (["space.params.lr=3"], "space.params.lr=3 must be a range"),
    (["model=custom"], "model._target_='': give the dotted path of a callable"),
    (["model=custom", "model._target_=examples.nets.nope"], "model._target_=examples.nets.nope: "),
    (["dataset=custom", "dataset._target_=nosuch.f"], "cannot import nosuch (ModuleNotFoundError"),
    (["+study.roundz=3"], "study has no setting 'roundz'; did you mean study.rounds?"),
    (["hydra.run.dirr=x"], "hydra.run has no setting 'dirr'; did you mean hydra.run.dir?"),
    (["space.params.lrr.low=0.1"], "did you mean space.params.lr? A new one needs a leading +"),
    (["study.name=my", "study"], "'study' is not a setting: each is KEY=VALUE, and a value with spaces"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_is_one_line_exit_2_and_creates_no_study(tmp_path, overrides, message):
    db = tmp_path / "o.db"
    args = [
        "harness",
        *TINY[1:],
        f"study.storage=sqlite:///{db}",
        f"dataset.root={tmp_path}/nothing",
        *overrides,
    ]
    if not any(o.startswith("dataset=") for o in overrides):
        args.insert(1, TINY[0])
    out = run_cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("harness: error: ") and message in lines[0]
    assert study_names(db) == []
    assert not list(tmp_path.rglob("trials.csv"))


@pytest.mark.slow
def test_a_killed_run_resumes_to_exactly_the_configured_rounds(tmp_path):
    """SIGKILL mid-study, then the same command: every round once, 1..N, none lost or repeated."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    db = tmp_path / "o.db"
    run_dir = tmp_path / "run"
    args = [
        *TINY,
        "strategy=random",
        "study.rounds=7",  # killed after 3: the resume runs the other 4 (35 s with 12 on a slow machine)
        "study.epochs=15",
        f"study.storage=sqlite:///{db}",
        f"hydra.run.dir={run_dir}",
    ]
    exe = str(Path(sys.executable).parent / "harness")
    proc = subprocess.Popen([exe, *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    trials = run_dir / "trials.csv"
    while time.time() < deadline:
        if trials.exists() and len(trials.read_text().splitlines()) >= 4:  # header + 3 rounds
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with trials.open() as fh:
        done_before = [r["round"] for r in csv.DictReader(fh)]
    assert 3 <= len(done_before) < 7

    out = run_cli(["harness", *args], tmp_path)
    assert out.returncode == 0, out.stderr
    with trials.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["round"]) for r in rows] == list(range(1, 8))
    assert [r["round"] for r in rows[: len(done_before)]] == done_before
    (name,) = study_names(db)
    assert name == "synthetic-simple_cnn-random-paper3-s0-e15-r1-b32-n128-t64"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(interrupted) <= 1
    if interrupted:
        assert "re-running 1 interrupted round" in out.stderr
        if interrupted[0].params:  # killed while training: run again with the same hyperparameters
            rerun = rows[len(done_before)]
            assert float(rerun["p_lr"]) == interrupted[0].params["lr"]
        # killed inside the strategy's ask, before any training: the round was drawn afresh


def test_progress_in_a_log_file_is_one_plain_line_per_round(tmp_path):
    args = [*TINY, "study.progress=true", "study.rounds=3", f"study.storage=sqlite:///{tmp_path}/o.db"]
    out = run_cli(["harness", *args, f"hydra.run.dir={tmp_path}/run"], tmp_path)  # stderr is a pipe
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr
    rounds = [line for line in out.stderr.splitlines() if ": round " in line]
    assert [line.split(": round ")[1].split(",")[0] for line in rounds] == ["1/3", "2/3", "3/3"]
    # Hydra's job log has what the job said, each line once: the rounds (stderr) and the result (stdout).
    log = (tmp_path / "run" / "harness.log").read_text()
    for line in [*rounds, out.stdout.strip().splitlines()[-1]]:
        assert log.count(line) == 1, (line, log)
    assert "[WARNING] - " + rounds[0] in log


@pytest.mark.parametrize(
    ("arg", "hint"),
    [
        ("study.epoch=3", "did you mean study.epochs?"),
        ("strategy.prunr=median", "did you mean strategy.pruner?"),
        ("space.params.lr.lw=1e-4", "did you mean space.params.lr.low?"),
        ("studdy.rounds=2", "did you mean study?"),
    ],
)
def test_a_misspelt_setting_is_one_line_with_the_nearest_name_and_exit_2(tmp_path, arg, hint):
    out = run_cli(["harness", arg, f"study.storage=sqlite:///{tmp_path}/o.db"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"harness: error: {arg.split('=')[0]}:") and hint in line
    assert not (tmp_path / "o.db").exists() and not (tmp_path / "runs").exists()
