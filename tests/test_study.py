"""Real small studies: every strategy and model, determinism, failures, resume."""

from __future__ import annotations

import csv
import json
import socket
import subprocess

import optuna
import pytest
import torch

from harness import study as study_mod
from harness.config import STRATEGIES
from harness.config.options import settings_of
from harness.errors import ConfigError, HarnessError
from harness.records import COLUMNS, REQUIRED


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def read_rows(run_dir):
    with (run_dir / "trials.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_a_real_study(make_config, tmp_path, strategy):
    quicker = ["strategy.n_candidates=200"] if strategy in settings_of("strategy")["n_candidates"] else []
    cfg = make_config(f"strategy={strategy}", "study.rounds=4", *quicker)
    result = study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    assert [int(r["round"]) for r in rows] == [1, 2, 3, 4]
    assert set(COLUMNS) <= set(rows[0]) and {"p_lr", "p_beta1", "p_beta2"} <= set(rows[0])
    assert cfg.study_name.startswith(f"synthetic-simple_cnn-{strategy}-paper3-s0-e1-r1-b32-n128-t64")
    assert all(r["study"] == cfg.study_name for r in rows)
    for r in rows:
        assert r["energy_source"] == "estimate" and float(r["energy_j"]) > 0
        assert float(r["suggest_j"]) > 0  # the strategy's ask, metered in its own window
        assert float(r["duration_s"]) >= float(r["train_s"]) > 0
        assert float(r["samples_per_s"]) > 0
        if r["status"] == "complete":
            assert 0.0 <= float(r["accuracy"]) <= 1.0
        else:
            assert r["accuracy"] == "" and r["reason"]
    assert result.rounds == 4
    assert result.best_accuracy == max(float(r["accuracy"]) for r in rows if r["accuracy"])


@pytest.mark.parametrize("model", ["dense_poly", "dense_linear", "simple_cnn"])
def test_every_model_trains_and_learns_the_synthetic_classes(make_config, tmp_path, model):
    # A sensible learning rate on learnable data must beat chance (0.1) clearly.
    cfg = make_config(
        f"model={model}",
        "strategy=random",
        "study.rounds=2",
        "study.epochs=3",
        "space.params.lr.low=0.001",
        "space.params.lr.high=0.01",
    )
    result = study_mod.run(cfg, tmp_path / "run")
    assert result.best_accuracy is not None and result.best_accuracy > 0.5


def test_the_same_command_gives_the_same_accuracies(make_config, tmp_path):
    a = study_mod.run(make_config("strategy=random", "study.rounds=3", "study.name=a"), tmp_path / "a")
    b = study_mod.run(make_config("strategy=random", "study.rounds=3", "study.name=b"), tmp_path / "b")
    rows_a, rows_b = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    for key in ("accuracy", "p_lr", "p_beta1", "p_beta2"):
        assert [r[key] for r in rows_a] == [r[key] for r in rows_b]
    assert a.best_accuracy == b.best_accuracy


def test_repetitions_are_averaged_and_their_spread_recorded(make_config, tmp_path):
    cfg = make_config("strategy=random", "study.rounds=2", "study.repetitions=3")
    study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    assert all(r["repetitions"] == "3" for r in rows)
    assert all(r["accuracy_std"] != "" for r in rows if r["status"] == "complete")


def test_a_diverging_round_fails_with_a_reason_and_the_study_goes_on(make_config, tmp_path):
    cfg = make_config(
        "strategy=random",
        "study.rounds=3",
        "model=dense_poly",
        "space.params.lr.low=1e30",
        "space.params.lr.high=1e31",
    )
    result = study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    assert len(rows) == 3
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed, "a learning rate of 1e30 must overflow float32"
    assert all(r["reason"].startswith("repetition 1: diverged at epoch ") for r in failed)
    assert all(r["accuracy"] == "" and float(r["energy_j"]) > 0 for r in failed)
    assert result.rounds == 3


@pytest.mark.parametrize("stack", ["false", "true"])
def test_all_five_hyperparameters_reach_adam(make_config, tmp_path, monkeypatch, stack):
    seen = []
    real_adam = torch.optim.Adam

    class SpyAdam(real_adam):  # the library boundary: record what torch receives
        def __init__(self, params, **kwargs):
            seen.append(kwargs)
            super().__init__(params, **kwargs)

    monkeypatch.setattr("torch.optim.Adam", SpyAdam)
    cfg = make_config(
        "strategy=random",
        "space=paper5",
        "study.rounds=2",
        "study.repetitions=2",
        f"study.stack_repetitions={stack}",
    )
    study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    per_round = 1 if stack == "true" else 2  # one Adam over the stack, or one per repetition
    trial_kwargs = seen[1:]  # after the warm-up's
    assert len(trial_kwargs) == len(rows) * per_round
    for i, kwargs in enumerate(trial_kwargs):
        row = rows[i // per_round]
        assert kwargs["lr"] == float(row["p_lr"])
        assert kwargs["betas"] == (float(row["p_beta1"]), float(row["p_beta2"]))
        assert kwargs["eps"] == float(row["p_epsilon"])
        assert kwargs["weight_decay"] == float(row["p_weight_decay"])


def test_resume_reruns_the_interrupted_round_and_stops_at_the_configured_count(make_config, tmp_path):
    cfg3 = make_config("strategy=random", "study.rounds=3")
    study_mod.run(cfg3, tmp_path / "run")
    before = read_rows(tmp_path / "run")
    # The state a killed worker leaves behind: round 4 asked, claimed and RUNNING, never told, its
    # process gone.
    storage = cfg3.study.storage
    study = optuna.load_study(study_name=cfg3.study_name, storage=storage)
    dists = study_mod.distributions(cfg3.space.params)
    orphan = study.ask(dists)
    orphan_params = dict(orphan.params)
    orphan.set_user_attr("round", 4)
    orphan.set_user_attr("worker", {"host": socket.gethostname(), "pid": dead_pid(), "started": "1"})

    cfg5 = make_config("strategy=random", "study.rounds=5")
    result = study_mod.run(cfg5, tmp_path / "run")
    after = read_rows(tmp_path / "run")
    assert [int(r["round"]) for r in after] == [1, 2, 3, 4, 5]
    assert after[:3] == before  # finished rounds are kept as they are
    assert float(after[3]["p_lr"]) == orphan_params["lr"]  # the interrupted round, run again
    assert result.rounds == 5
    states = [t.state for t in optuna.load_study(study_name=cfg5.study_name, storage=storage).trials]
    assert (
        states.count(optuna.trial.TrialState.COMPLETE) + states.count(optuna.trial.TrialState.FAIL) == 6
    )  # 5 rounds + the interrupted attempt
    # Running the finished study again changes nothing.
    again = study_mod.run(cfg5, tmp_path / "run")
    assert read_rows(tmp_path / "run") == after and again.rounds == 5


def test_resumed_study_proposes_what_an_uninterrupted_one_would(make_config, tmp_path):
    straight = make_config(
        "strategy=tpe", "study.rounds=4", "study.name=straight", "strategy.n_startup_trials=2"
    )
    study_mod.run(straight, tmp_path / "a")
    study_mod.run(
        make_config("strategy=tpe", "study.rounds=2", "study.name=split", "strategy.n_startup_trials=2"),
        tmp_path / "b",
    )
    study_mod.run(
        make_config("strategy=tpe", "study.rounds=4", "study.name=split", "strategy.n_startup_trials=2"),
        tmp_path / "b",
    )
    a, b = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    assert [r["p_lr"] for r in a] == [r["p_lr"] for r in b]
    assert [r["accuracy"] for r in a] == [r["accuracy"] for r in b]


def test_resuming_with_other_settings_is_refused(make_config, tmp_path):
    # Other settings give another name; a name given by hand can still meet other settings.
    study_mod.run(make_config("strategy=random", "study.rounds=1", "study.name=mine"), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"already exists .* other settings"):
        again = make_config("strategy=random", "study.rounds=1", "study.epochs=2", "study.name=mine")
        study_mod.run(again, tmp_path / "run")


def test_trials_csv_has_the_contract_columns(make_config, tmp_path):
    study_mod.run(make_config("strategy=grid", "study.rounds=2"), tmp_path / "run")
    header = (tmp_path / "run" / "trials.csv").read_text().splitlines()[0].split(",")
    for column in (
        *REQUIRED,
        "status",
        "space",
        "energy_source",
        "duration_s",
        "train_s",
        "eval_s",
        "suggest_s",
        "samples_per_s",
    ):
        assert column in header


def test_grid_runs_every_cell_when_rounds_equal_the_grid(make_config, tmp_path):
    cfg = make_config("strategy=grid", "space.grid_points=2", "study.rounds=8")  # 2^3 cells
    study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    assert len({(r["p_lr"], r["p_beta1"], r["p_beta2"]) for r in rows}) == 8


@pytest.mark.parametrize("strategy", ["grid", "random"])
def test_a_round_killed_before_its_hyperparameters_were_drawn_is_drawn_afresh(
    make_config, tmp_path, strategy
):
    cfg = make_config(f"strategy={strategy}", "study.rounds=2")
    study_mod.run(cfg, tmp_path / "run")
    # The state a process killed inside the strategy's ask leaves: a RUNNING trial without params,
    # and without a worker that could be asked whether it lives: taken over after the grace period.
    optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).ask()
    resumed = make_config(
        f"strategy={strategy}", "study.rounds=4", "study.heartbeat_interval=1", "study.grace_period=2"
    )
    result = study_mod.run(resumed, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    assert [int(r["round"]) for r in rows] == [1, 2, 3, 4] and result.rounds == 4
    assert all(r["p_lr"] and r["p_beta1"] and r["p_beta2"] for r in rows)
    if strategy == "grid":
        assert len({(r["p_lr"], r["p_beta1"], r["p_beta2"]) for r in rows}) == 4


def test_the_published_beta2_defect_is_reproduced_only_when_asked(make_config, tmp_path, monkeypatch):
    seen = []
    real_adam = torch.optim.Adam

    class SpyAdam(real_adam):  # the library boundary: what torch receives
        def __init__(self, params, **kwargs):
            seen.append(kwargs.get("betas"))  # None for the warm-up's default Adam
            super().__init__(params, **kwargs)

    monkeypatch.setattr("torch.optim.Adam", SpyAdam)
    cfg = make_config("strategy=random", "study.rounds=2", "study.beta2_defect=true")
    assert cfg.study_name.endswith("-b2defect")  # its own study, beside the faithful one
    study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    trial_betas = seen[1:]  # after the warm-up's
    assert [b[1] for b in trial_betas] == [0.999, 0.999]
    assert [b[0] for b in trial_betas] == [float(r["p_beta1"]) for r in rows]
    assert all(float(r["p_beta2"]) != 0.999 for r in rows)  # sampled and recorded all the same


def test_an_error_inside_training_fails_the_round_with_its_energy_and_the_study_goes_on(
    make_config, tmp_path, monkeypatch
):
    real_step = torch.optim.Adam.step
    calls = {"n": 0}

    def step(self, *args, **kwargs):  # the library boundary: torch runs out of memory once
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    cfg = make_config("strategy=random", "study.rounds=4", "study.epochs=2")
    result = study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    assert [r["status"] for r in rows].count("failed") == 1 and result.rounds == 4
    (failed,) = [r for r in rows if r["status"] == "failed"]
    assert failed["reason"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert failed["accuracy"] == "" and float(failed["energy_j"]) > 0
    study = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage)
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.FAIL) == 1  # the strategy was told


@pytest.mark.parametrize("limit, stops_after", [("2", 3), ("0.5", 1)])
def test_max_failures_stops_a_study_that_fails_too_often(make_config, tmp_path, limit, stops_after):
    cfg = make_config(
        "strategy=random",
        "study.rounds=6",
        "space.params.lr.low=1e20",
        "space.params.lr.high=1e30",
        f"study.max_failures={limit}",
    )
    with pytest.raises(HarnessError, match=rf"{stops_after} of {stops_after} rounds failed, more than study"):
        study_mod.run(cfg, tmp_path / "run")
    assert len(read_rows(tmp_path / "run")) == stops_after


def test_optuna_s_own_tools_see_each_round_s_energy(make_config, tmp_path):
    cfg = make_config("strategy=random", "study.rounds=2")
    study_mod.run(cfg, tmp_path / "run")
    frame = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).trials_dataframe()
    rows = read_rows(tmp_path / "run")
    assert frame["user_attrs_energy_j"].tolist() == [float(r["energy_j"]) for r in rows]
    assert set(frame["user_attrs_energy_source"]) == {"estimate"}
    assert frame["user_attrs_train_s"].notna().all() and frame["user_attrs_suggest_j"].notna().all()


def _records(accuracies, joules=10.0):
    from harness.records import TrialRecord

    return [
        TrialRecord(
            "s",
            "d",
            "m",
            "random",
            "p",
            0,
            i + 1,
            "complete",
            a,
            0.0,
            joules,
            "estimate",
            1,
            1,
            0,
            0,
            None,
            1,
        )
        for i, a in enumerate(accuracies)
    ]


def test_patience_stops_when_the_best_has_not_risen_enough(make_config):
    st = make_config("study.patience=3", "study.min_delta=0.01").study
    assert study_mod.stop_reason(_records([0.5, 0.8, 0.805, 0.81]), st) is None  # 0.8 rose from 0.5
    assert "last 3 rounds" in study_mod.stop_reason(_records([0.5, 0.8, 0.805, 0.809, 0.81]), st)
    assert study_mod.stop_reason(_records([0.5, 0.8, 0.805, 0.809, 0.82]), st) is None


def test_the_energy_budget_stops_before_the_round_that_would_cross_it(make_config):
    st = make_config("study.energy_budget_j=35").study
    assert study_mod.stop_reason(_records([0.5, 0.6]), st) is None  # 20 J spent, the next ~10 J: 30
    reason = study_mod.stop_reason(_records([0.5, 0.6, 0.7]), st)  # 30 J spent, the next would make 40
    assert "30.0 J spent in 3 rounds" in reason and "energy_budget_j=35" in reason


def test_a_study_stops_early_and_says_why(make_config, tmp_path):
    cfg = make_config("strategy=grid", "study.rounds=20", "study.patience=2", "study.min_delta=1")
    result = study_mod.run(cfg, tmp_path / "run")
    assert result.rounds == 3  # nothing can rise by 1: round 1, then 2 rounds of patience
    stopped = json.loads((tmp_path / "run" / "study.json").read_text())["stopped"]
    named = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).metric_names
    assert named == ["accuracy"]  # optuna-dashboard's name for the objective, not "Objective 0"
    assert stopped["rounds"] == 3 and "study.patience" in stopped["reason"]
    again = study_mod.run(cfg, tmp_path / "run")  # the same command: still stopped, nothing trained
    assert again.rounds == 3 and len(read_rows(tmp_path / "run")) == 3


@pytest.mark.parametrize("strategy", ["mo_gp", "mo_nsga2"])
def test_two_objective_strategies_maximise_accuracy_and_minimise_joules(make_config, tmp_path, strategy):
    quicker = ["strategy.n_startup_trials=4"] if strategy == "mo_gp" else []  # NSGA-II has no such setting
    cfg = make_config(f"strategy={strategy}", "study.rounds=12", *quicker)
    if strategy == "mo_nsga2":
        cfg = make_config(f"strategy={strategy}", "study.rounds=12", "strategy.population_size=4")
    study_mod.run(cfg, tmp_path / "run")
    study = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["accuracy", "energy_j"]  # what optuna-dashboard shows
    rows = {int(r["round"]): r for r in read_rows(tmp_path / "run")}
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 12
    for t in done:  # what the strategy was told is what the round recorded
        row = rows[t.user_attrs["round"]]
        assert t.values == [float(row["accuracy"]), float(row["energy_j"])]
    # Optuna's front, and the report's, are non-dominated
    front = [(t.values[0], t.values[1]) for t in study.best_trials]
    for a, ea in front:
        assert not any(b >= a and eb <= ea and (b, eb) != (a, ea) for b, eb in front)
