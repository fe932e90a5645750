"""Search that spends fewer joules: pruning with its energy counted, and a space where cost varies."""

from __future__ import annotations

import csv
import re
import statistics

import optuna
import pytest
import torch

from harness import rounds as rounds_mod
from harness import study as study_mod
from harness.config.options import make
from harness.errors import ConfigError
from harness.report import Definitions, load, reduce_studies
from harness.train import Hyperparameters, prepare, train_round, train_trial

SEEDS = [11, 22]
SPEC = make("model", "dense_poly", linear_layers=2)


def tiny_data():
    data = make(
        "dataset", "synthetic", shape=[1, 8, 8], classes=4, train_size=256, test_size=128, seed=3
    ).load()
    return prepare(data, torch.device("cpu"))


def read_rows(run_dir):
    with (run_dir / "trials.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_round_pruned_after_its_first_epoch_stops_there_and_keeps_no_accuracy():
    data = tiny_data()
    epochs_seen = []

    def prune_at_once(epoch: int, accuracy: float) -> bool:
        epochs_seen.append((epoch, accuracy))
        return True

    hp = Hyperparameters(lr=1e-3)
    pruned = train_round(SPEC, data, hp, epochs=5, batch_size=32, seeds=[1], stack=1, report=prune_at_once)
    full = train_round(SPEC, data, hp, epochs=5, batch_size=32, seeds=[1], stack=1)
    assert pruned.pruned and not pruned.failed
    assert pruned.mean_accuracy is None and pruned.reason.startswith("pruned after epoch 1")
    assert [e for e, _ in epochs_seen] == [1]
    assert pruned.samples == len(data.train_y)  # one epoch of five
    assert full.samples == 5 * len(data.train_y) and full.mean_accuracy is not None


def test_stacked_repetitions_are_judged_together_on_their_mean():
    data = tiny_data()
    hp = Hyperparameters(lr=3e-3)
    reported = []

    def keep(epoch: int, accuracy: float) -> bool:
        reported.append((epoch, accuracy))
        return False

    outcome = train_round(SPEC, data, hp, epochs=3, batch_size=32, seeds=SEEDS, stack=2, report=keep)
    assert outcome.stack == 2 and not outcome.reason
    assert [e for e, _ in reported] == [1, 2]  # after each epoch but the last, whose score is the round's
    alone = [train_trial(SPEC, data, hp, epochs=1, batch_size=32, seed=s).accuracy for s in SEEDS]
    assert reported[0][1] == pytest.approx(statistics.fmean(alone), abs=2 / 128)


PRUNED_STUDY = (
    "strategy=random",
    "strategy.pruner=median",
    "dataset.validation=0.25",
    "dataset.train_size=256",
    "study.epochs=6",
    "study.rounds=12",
)


def test_a_pruned_study_counts_the_pruned_rounds_energy_and_never_their_accuracy(make_config, tmp_path):
    cfg = make_config(*PRUNED_STUDY)
    assert cfg.study_name.endswith("-prune_median")
    study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    pruned = [r for r in rows if r["status"] == "pruned"]
    complete = [r for r in rows if r["status"] == "complete"]
    assert len(rows) == 12 and pruned and complete  # the same seeds prune the same rounds every run
    assert all(float(r["energy_j"]) > 0 and r["accuracy"] == "" for r in pruned)
    assert all(r["reason"].startswith("pruned after epoch") for r in pruned)
    trials = optuna.load_study(study_name=cfg.study_name, storage=cfg.study.storage).trials
    states = {t.user_attrs["round"]: t.state for t in trials if "record" in t.user_attrs}
    assert {states[int(r["round"])] for r in pruned} == {optuna.trial.TrialState.PRUNED}
    assert all(t.intermediate_values for t in trials if t.state == optuna.trial.TrialState.PRUNED)
    # Optuna (and optuna-dashboard) show a pruned trial's last reported value: the same validation
    # accuracy trials.csv's reason gives, never the test accuracy that the round did not reach.
    by_round = {t.user_attrs["round"]: t for t in trials if "record" in t.user_attrs}
    for r in pruned:
        said = float(re.search(r"validation accuracy ([0-9.]+)", r["reason"]).group(1))
        assert by_round[int(r["round"])].value == pytest.approx(said, abs=5e-5)
        assert by_round[int(r["round"])].user_attrs["accuracy_std"] is None

    loaded = load([str(tmp_path / "run")])
    # The pruner is how the strategy searches, not another cell: compared beside unpruned strategies.
    assert set(loaded.trials["strategy"]) == {"random+median"}
    assert not loaded.trials["settings"].str.contains("prune").any()
    (summary,) = reduce_studies(loaded.trials, Definitions()).to_dict("records")
    assert summary["pruned_rounds"] == len(pruned) and summary["failed_rounds"] == 0
    assert summary["total_joules"] == pytest.approx(sum(float(r["energy_j"]) for r in rows))
    assert summary["best_accuracy"] == max(float(r["accuracy"]) for r in complete)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("strategy.pruner=median",), "dataset.validation is 0"),
        (("strategy.pruner=median", "dataset.validation=0.2", "strategy=mo_gp"), "two objectives"),
        (("strategy.pruner=bogus",), "strategy.pruner='bogus' is unknown"),
        (("space=cost_aware", "space.params.epochs.integer=false"), "a round's epochs is a whole number"),
        (("dataset=digits", "space=cost_aware", "space.params.conv_layers.high=4"), "conv_layers.high=4"),
    ],
)
def test_bad_pruning_and_cost_settings_are_one_line_errors(make_config, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        make_config(*overrides)


def test_a_cost_aware_round_trains_the_epochs_batch_and_layers_it_was_given(
    make_config, tmp_path, monkeypatch
):
    seen = []
    real = rounds_mod.train_round

    def spy(spec, data, hp, *, epochs, batch_size, **kw):
        seen.append((spec.linear_layers, spec.conv_layers, epochs, batch_size, hp.lr))
        return real(spec, data, hp, epochs=epochs, batch_size=batch_size, **kw)

    monkeypatch.setattr(rounds_mod, "train_round", spy)
    cfg = make_config("strategy=random", "space=cost_aware", "model=simple_cnn", "study.rounds=4")
    assert set(cfg.space.params) >= {"epochs", "batch_size", "linear_layers", "conv_layers"}
    study_mod.run(cfg, tmp_path / "run")
    rows = read_rows(tmp_path / "run")
    asked = [
        (
            int(r["p_linear_layers"]),
            int(r["p_conv_layers"]),
            int(r["p_epochs"]),
            int(r["p_batch_size"]),
            float(r["p_lr"]),
        )
        for r in rows
    ]
    assert seen == asked
    assert len({a[:4] for a in asked}) > 1  # the rounds differ in what they cost


def test_a_dense_model_searches_no_conv_layers(make_config):
    cfg = make_config("space=cost_aware", "model=dense_poly")
    assert "conv_layers" not in cfg.space.params and "linear_layers" in cfg.space.params


def test_a_pruned_sweep_validates_and_runs_from_the_command_line(tmp_path):
    from tests.conftest import TINY, run_cli

    args = [*TINY, "strategy=random,tpe", "strategy.pruner=median", "dataset.validation=0.25"]
    args += ["study.epochs=3", "study.rounds=3", f"study.storage=sqlite:///{tmp_path}/o.db"]
    out = run_cli(["harness", "-m", *args, f"hydra.sweep.dir={tmp_path}/sweep"], tmp_path)
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(names) == 2 and all(n.endswith("-prune_median") for n in names)
