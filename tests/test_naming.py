"""Study names and run directories carry every setting that changes what a round computes."""

from __future__ import annotations

import itertools

import optuna

from harness import study as study_mod
from tests.conftest import run_cli


def names_in(storage: str) -> list[str]:
    return sorted(s.study_name for s in optuna.get_all_study_summaries(storage))


def test_the_default_study_keeps_its_short_name(make_config):
    assert make_config(tiny=False).study_name == "digits-simple_cnn-bayes-paper3-s0"
    assert make_config("strategy=grid", "space=log5", "study.seed=3", tiny=False).study_name == (
        "digits-simple_cnn-grid-log5-s3"
    )


def test_the_paper_rq2_sweep_gives_every_job_its_own_readable_name(make_config):
    names = set()
    for linear, conv, relu in itertools.product((3, 7), (1, 4), ("false", "true")):
        cfg = make_config(
            "experiment=paper_rq2",
            f"model.linear_layers={linear}",
            f"model.conv_layers={conv}",
            f"model.relu={relu}",
            tiny=False,
        )
        names.add(cfg.study_name)
    assert len(names) == 8
    assert "fashion_mnist-simple_cnn-random-paper3-s1234-e25-r24-b512-lin7-conv4-norelu" in names
    assert "fashion_mnist-simple_cnn-random-paper3-s1234-e25-r24-b512-conv1" in names


def test_any_other_setting_that_changes_a_round_gets_a_digest(make_config):
    plain = make_config("strategy=bayes_pi", tiny=False).study_name
    changed = make_config("strategy=bayes_pi", "strategy.xi=0.05", tiny=False).study_name
    bounds = make_config("space.params.lr.low=0.0001", tiny=False).study_name
    assert plain == "digits-simple_cnn-bayes_pi-paper3-s0"
    assert changed.startswith(plain + "-h") and len(changed) == len(plain) + 10
    assert bounds.startswith("digits-simple_cnn-bayes-paper3-s0-h") and bounds != changed
    # Settings that do not change what a round computes leave the name alone.
    assert make_config(
        "study.rounds=8", "study.threads=1", "study.stack_repetitions=false", tiny=False
    ).study_name == ("digits-simple_cnn-bayes-paper3-s0")


def test_the_meter_is_part_of_the_study(make_config):
    """Resuming with another estimate per core would mix rounds at 10 W and 40 W in one trials.csv."""
    plain = make_config("meter=estimate", tiny=False)
    hotter = make_config("meter=estimate", "meter.watts_per_core=40", tiny=False)
    assert hotter.study_name != plain.study_name and hotter.study_name.startswith(plain.study_name + "-h")
    assert not hotter.matches(plain.fingerprint_digest(), plain.fingerprint())
    # Where the counters are read and the idle baseline change no round's joules.
    moved = make_config("meter=rapl", "meter.powercap_root=/tmp/fake", "meter.idle_s=2", tiny=False)
    assert moved.study_name == make_config("meter=rapl", tiny=False).study_name
    # A study recorded before the meter was in its fingerprint (default meter) still resumes under it.
    auto = make_config(tiny=False)
    before = {k: v for k, v in auto.fingerprint().items() if k != "meter"}
    assert auto.matches(None, before)


def test_a_study_made_under_its_older_name_keeps_resuming(make_config, tmp_path):
    cfg = make_config("strategy=random", "study.rounds=3")
    assert cfg.study_name != cfg.legacy_name  # the tiny settings show in the new name
    # Before names carried the settings, this configuration's study was called legacy_name.
    old = make_config("strategy=random", "study.rounds=2", f"study.name={cfg.legacy_name}")
    study_mod.run(old, tmp_path / "old")
    result = study_mod.run(cfg, tmp_path / "new")
    assert result.name == cfg.legacy_name and result.rounds == 3
    assert names_in(cfg.study.storage) == [cfg.legacy_name]
    # Another configuration with the same older name does not take it over.
    other = make_config("strategy=random", "study.rounds=1", "study.epochs=2")
    assert other.legacy_name == cfg.legacy_name
    study_mod.run(other, tmp_path / "other")
    assert names_in(cfg.study.storage) == sorted([cfg.legacy_name, other.study_name])


def test_a_sweep_over_layers_runs_every_job_in_its_own_directory(tmp_path):
    db = tmp_path / "o.db"
    out = run_cli(
        [
            "harness",
            "-m",
            "dataset=synthetic",
            "dataset.train_size=64",
            "dataset.test_size=32",
            "strategy=random",
            "study.rounds=1",
            "study.epochs=1",
            "study.repetitions=1",
            "model.linear_layers=2,3",
            "model.relu=false,true",
            f"study.storage=sqlite:///{db}",
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    runs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if (p / "trials.csv").is_file())
    assert len(runs) == 4 and runs == names_in(f"sqlite:///{db}")
    assert sum("-lin2-norelu-" in r for r in runs) == 1 and sum("-norelu-" in r for r in runs) == 2


def test_a_named_study_runs_in_its_own_directory(tmp_path):
    out = run_cli(
        [
            "harness",
            "dataset=synthetic",
            "dataset.train_size=64",
            "dataset.test_size=32",
            "study.rounds=1",
            "study.epochs=1",
            "study.repetitions=1",
            "study.name=mine",
            f"study.storage=sqlite:///{tmp_path}/o.db",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs" / "mine" / "trials.csv").is_file()


def test_an_invalid_job_stops_the_sweep_before_any_job_trains(tmp_path):
    db = tmp_path / "o.db"
    out = run_cli(
        [
            "harness",
            "-m",
            "model.conv_layers=1,2,4",
            f"study.storage=sqlite:///{db}",
            f"hydra.sweep.dir={tmp_path}/s",
        ],
        tmp_path,
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("harness: error: sweep job ") and "model.conv_layers=4" in line
    assert "halves a 8x8 image to nothing" in line and "no job was run" in line
    assert not db.exists() and not (tmp_path / "s").exists()  # no study, no job directory


def test_sweeps_configured_in_a_preset_are_validated_too(tmp_path):
    # experiment=main sweeps strategy=grid,random,bayes from its YAML; a bad grid job is caught first.
    db = tmp_path / "o.db"
    out = run_cli(
        ["harness", "experiment=main", "study.rounds=200", f"study.storage=sqlite:///{db}"],
        tmp_path,
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "strategy=grid" in line and "exceeds the 125 cells of the grid" in line
    assert not db.exists()
