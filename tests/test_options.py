"""Each option of a config group is a typed schema that Hydra composes onto, fingerprints itself and
builds its object; the move to per-option schemas kept every recorded study's name and fingerprint."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from harness.config import DATASETS, GROUPS, METERS, MODELS, STRATEGIES, ParamRange, SpaceConfig, conf_dir
from harness.config.options import SCHEMAS, ModelConfig, make, settings_of
from harness.data import Dataset
from harness.energy import EstimateMeter, NullMeter
from harness.errors import ConfigError
from harness.search.candidates import CandidateSampler
from harness.search.strategies import PaperGridSampler, SkoptGPSampler
from tests.conftest import compose_config, run_cli

# (overrides, study name, fingerprint digest), computed by the harness before options had their own
# schemas (commit 46436b5, one schema per group). A study recorded then resumes only if both still hold.
RECORDED = [
    ([], "digits-simple_cnn-bayes-paper3-s0", "d6a0bd5bd0d4"),
    (["strategy=bayes_pi"], "digits-simple_cnn-bayes_pi-paper3-s0", "107438d2ddba"),
    (["strategy=grid", "model=dense_poly"], "digits-dense_poly-grid-paper3-s0", "b593a452a9b7"),
    (
        ["strategy=random", "model=dense_linear", "dataset=fashion_mnist"],
        "fashion_mnist-dense_linear-random-paper3-s0",
        "c8f35f47bcf0",
    ),
    (
        ["strategy=tpe", "strategy.n_startup_trials=5"],
        "digits-simple_cnn-tpe-paper3-s0-hd8e51a88",
        "6ba3b1eef218",
    ),
    (
        ["strategy=qmc", "strategy.qmc_type=halton"],
        "digits-simple_cnn-qmc-paper3-s0-h3257f64c",
        "d207f7db82eb",
    ),
    (
        ["strategy=mo_nsga2", "strategy.population_size=8"],
        "digits-simple_cnn-mo_nsga2-paper3-s0-h93a4fd79",
        "be46e758fa63",
    ),
    (
        ["strategy=mo_gp", "meter=estimate", "meter.watts_per_core=40"],
        "digits-simple_cnn-mo_gp-paper3-s0-h127803f0",
        "583e23cde757",
    ),
    (
        ["strategy=bayes_eipj", "space=cost_aware"],
        "digits-simple_cnn-bayes_eipj-cost_aware-s0",
        "db91a03eebf1",
    ),
    (
        ["strategy=bayes_ei", "strategy.xi=0.05", "space=log3"],
        "digits-simple_cnn-bayes_ei-log3-s0-he8aa8c5c",
        "41bd8735b3e3",
    ),
    (
        ["experiment=paper_rq1", "model=simple_cnn"],
        "fashion_mnist-simple_cnn-bayes_pi-paper3-s1234-e25-r8-b512",
        "02e68920bb4d",
    ),
    (
        ["experiment=rq1_corrected", "strategy=random", "strategy.pruner=median"],
        "fashion_mnist-simple_cnn-random-log3-s0-e25-r8-b512-val0.1-prune_median",
        "ee7fccef3ffe",
    ),
    (
        ["experiment=paper_rq2", "model.relu=false", "model.conv_layers=3"],
        "fashion_mnist-simple_cnn-random-paper3-s1234-e25-r24-b512-conv3-norelu",
        "62bbe80ae6a0",
    ),
    (
        ["dataset=synthetic", "dataset.shape=[3,16,16]", "dataset.classes=4", "meter=none"],
        "synthetic-simple_cnn-bayes-paper3-s0-h958d610b",
        "671ad0826f24",
    ),
    (
        ["dataset=cifar10", "dataset.train_size=1000", "meter=rapl", "meter.idle_s=2"],
        "cifar10-simple_cnn-bayes-paper3-s0-n1000",
        "b91ea0b25d58",
    ),
    (
        ["meter=nvml", "meter.poll_interval_s=0.5", "study.device=cpu"],
        "digits-simple_cnn-bayes-paper3-s0-h2338de40",
        "84ad50b65d0d",
    ),
    (
        ["study.epochs=3", "study.batch_size=128", "study.beta2_defect=true", "dataset.validation=0.1"],
        "digits-simple_cnn-bayes-paper3-s0-e3-b128-b2defect-val0.1",
        "43abcbaa5389",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "name", "digest"), RECORDED, ids=[" ".join(r[0]) or "default" for r in RECORDED]
)
def test_a_study_recorded_before_options_had_schemas_keeps_its_name_and_fingerprint(
    tmp_path, overrides, name, digest
):
    cfg = compose_config(tmp_path, *overrides, tiny=False)
    assert cfg.study_name == name
    assert cfg.fingerprint_digest() == digest


def test_every_option_file_extends_its_own_schema_and_every_schema_has_a_file():
    for group in GROUPS:
        stems = sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
        for stem in stems:
            loaded = OmegaConf.to_container(OmegaConf.load(conf_dir() / group / f"{stem}.yaml"))
            assert isinstance(loaded, dict)
            assert loaded["defaults"] == [f"base_{stem}", "_self_"], f"{group}/{stem}.yaml"
        if group in SCHEMAS:
            assert stems == sorted(SCHEMAS[group]), group
    # The names users type (DESIGN.md's contract), each with its schema.
    assert sorted(DATASETS) == ["cifar10", "custom", "digits", "fashion_mnist", "synthetic"]
    assert sorted(MODELS) == ["custom", "dense_linear", "dense_poly", "simple_cnn"]
    assert sorted(STRATEGIES) == sorted(
        [
            "grid",
            "random",
            "bayes",
            "bayes_pi",
            "bayes_ei",
            "bayes_eipj",
            "tpe",
            "qmc",
            "mo_gp",
            "mo_nsga2",
            "table",
        ]
    )
    assert sorted(METERS) == ["auto", "estimate", "none", "nvml", "rapl"]


def test_a_setting_belongs_to_the_options_that_use_it():
    strategy = settings_of("strategy")
    assert sorted(strategy["xi"]) == ["bayes_ei", "bayes_eipj", "bayes_pi"]
    assert sorted(strategy["pruner"]) == sorted(STRATEGIES)  # every strategy can be pruned
    assert settings_of("model")["relu"] == ["simple_cnn"]
    assert sorted(settings_of("meter")["watts_per_core"]) == ["auto", "estimate"]
    assert sorted(settings_of("dataset")["shape"]) == ["synthetic"]
    with pytest.raises(ConfigError, match="schema of dense_poly/dense_linear, not of 'simple_cnn'"):
        ModelConfig(name="simple_cnn")


SAMPLERS = {
    "grid": PaperGridSampler,
    "random": optuna.samplers.RandomSampler,
    "bayes": optuna.samplers.GPSampler,
    "mo_gp": optuna.samplers.GPSampler,
    "bayes_pi": SkoptGPSampler,
    "bayes_ei": SkoptGPSampler,
    "bayes_eipj": SkoptGPSampler,
    "tpe": optuna.samplers.TPESampler,
    "qmc": optuna.samplers.QMCSampler,
    "mo_nsga2": optuna.samplers.NSGAIISampler,
    "table": CandidateSampler,  # not a search: a table build's rounds train its candidates in order
}


@pytest.mark.parametrize("name", STRATEGIES)
def test_each_strategy_builds_its_sampler_and_the_pruner_it_is_set_to(name):
    space = SpaceConfig("t", {"lr": ParamRange(1e-5, 0.1, log=True), "beta1": ParamRange(0.1, 1.0)})
    sampler = make("strategy", name).sampler(space, study_seed=0, round_seed=1)
    assert type(sampler) is SAMPLERS[name]
    assert isinstance(make("strategy", name).make_pruner(5), optuna.pruners.NopPruner)
    hyperband = make("strategy", name, pruner="hyperband").make_pruner(5)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)


def test_meters_data_sets_and_models_build_what_they_configure():
    estimate = make("meter", "estimate", watts_per_core=25.0).build()
    assert isinstance(estimate, EstimateMeter) and estimate.watts_per_core == 25.0
    assert isinstance(make("meter", "none").build(), NullMeter)
    data = make("dataset", "synthetic", shape=[1, 4, 4], classes=3, train_size=12, test_size=6).load()
    assert (
        isinstance(data, Dataset)
        and data.train_x.shape == (12, 1, 4, 4)
        and data.test_x.shape == (6, 1, 4, 4)
    )
    digits = make("dataset", "digits", train_size=100).load()
    assert digits.train_x.shape == (100, 1, 8, 8) and digits.classes == 10
    cnn = make("model", "simple_cnn", conv_layers=1, relu=False).build((1, 8, 8), 10)
    assert [type(m).__name__ for m in cnn[:3]] == ["Conv2d", "BatchNorm2d", "MaxPool2d"]  # no ReLU
    dense = make("model", "dense_poly", linear_layers=2).build((1, 8, 8), 10)
    assert sum(type(m).__name__ == "Linear" for m in dense) == 2  # the output layer is one of the two


def test_a_hyperparameter_can_be_added_to_a_space_from_the_command_line(tmp_path):
    cfg = compose_config(tmp_path, "+space.params.epsilon={low:1e-9,high:1e-7}")
    assert cfg.space.params["epsilon"] == ParamRange(1e-9, 1e-7)
    assert all(isinstance(r, ParamRange) for r in cfg.space.params.values())


def test_a_composed_option_is_its_typed_class(tmp_path):
    cfg = compose_config(tmp_path, "strategy=bayes_pi", "strategy.xi=1", "meter=estimate")
    assert type(cfg.strategy).__name__ == "SkoptConfig" and cfg.strategy.xi == 1.0
    assert isinstance(cfg.strategy.xi, float)  # an integer on the command line becomes the setting's type
    assert type(cfg.meter).__name__ == "EstimateMeterConfig"
    assert dataclasses.asdict(cfg.model) == {
        "name": "simple_cnn",
        "linear_layers": 3,
        "conv_layers": 2,
        "relu": True,
    }


def test_inspecting_the_configuration_takes_hydras_flags_with_their_values(tmp_path):
    out = run_cli(["harness", "--cfg", "job", "strategy=tpe", "strategy.n_startup_trials=4"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "name: tpe" in out.stdout and "n_startup_trials: 4" in out.stdout


PRESETS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_with_every_model_and_strategy(tmp_path, preset):
    """A preset sets only what every option it may be swept with has (the paper's sweeps cross
    experiment=paper_rq1 with model=dense_poly,dense_linear,simple_cnn and strategy=grid,random,bayes_pi)."""
    for model in MODELS:
        target = ["model._target_=examples.nets.mlp"] if model == "custom" else []
        cfg = compose_config(tmp_path, f"experiment={preset}", f"model={model}", *target, tiny=False)
        assert cfg.model.name == model
    for strategy in ("grid", "random", "bayes_pi", "tpe"):
        cfg = compose_config(tmp_path, f"experiment={preset}", f"strategy={strategy}", tiny=False)
        assert cfg.strategy.name == strategy


def _readme_sweep(folder: str) -> list[str]:
    """The harness -m command of a committed study's README, without its storage and Hydra settings."""
    import re
    import shlex

    from tests.conftest import ROOT

    text = (ROOT / "studies" / folder / "README.md").read_text()
    match = re.search(r"\.venv/bin/harness -m (.*?)\n(?!\s)", text + "\n.", re.S)
    assert match, f"studies/{folder}/README.md has no harness -m command"
    args = shlex.split(match.group(1).replace("\\\n", " "))
    return ["-m", *(a for a in args if not a.startswith(("hydra", "study.storage")))]


@pytest.mark.parametrize("folder", ["rq1_digits", "rq1_fashion", "rq1_fashion_corrected", "rq2_fashion"])
def test_the_committed_studies_commands_still_name_and_fingerprint_their_studies(folder):
    """Re-running a committed study's command resumes it: the same names and the fingerprints its
    study.json files recorded (the first and last jobs of each sweep; all 261 were checked once)."""
    from hydra import compose, initialize_config_dir

    from harness.__main__ import CONF_DIR, sweep_jobs
    from harness.config import from_container
    from tests.conftest import ROOT

    runs = ROOT / "studies" / folder / "runs"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        jobs = sweep_jobs(_readme_sweep(folder))
        assert len(jobs) == len([p for p in runs.iterdir() if p.is_dir()])
        for job in (jobs[0], jobs[-1]):
            tree = OmegaConf.to_container(compose(config_name="config", overrides=job), resolve=True)
            cfg = from_container(tree)  # type: ignore[arg-type]
            recorded = json.loads((runs / cfg.study_name / "study.json").read_text())["config"]
            assert cfg.fingerprint() == recorded


def test_an_option_file_without_a_schema_is_one_line_not_a_crash(tmp_path, monkeypatch):
    """A new strategy file without its class: registering the schemas skips it, and choosing it says
    what is missing (Hydra's own message names only the file it could not load)."""
    import shutil

    import harness.config as config
    from harness.__main__ import composition_error

    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)
    (conf / "strategy" / "zzz.yaml").write_text("defaults:\n  - base_zzz\n  - _self_\nname: zzz\n")
    monkeypatch.setattr(config, "conf_dir", lambda: conf)
    config.register_configs()  # no exception for the file without a schema
    hydra_said = Exception("In 'strategy/zzz': Could not load 'strategy/base_zzz'.")
    message = composition_error(hydra_said, ["strategy=zzz"])
    assert message.startswith("strategy=zzz has no schema") and "harness/config/strategy.py" in message


def test_every_setting_says_what_it_does_and_help_shows_it(tmp_path):
    """harness --help explains each setting from the comment beside its field: a new setting without
    one fails here."""
    import dataclasses

    from harness.config import ParamRange, SpaceConfig, StudySettings
    from harness.config.base import field_docs
    from harness.config.options import SCHEMAS as OPTION_SCHEMAS
    from tests.conftest import run_cli

    classes = {cls for options in OPTION_SCHEMAS.values() for cls in options.values()}
    for cls in (*classes, StudySettings, SpaceConfig, ParamRange):
        docs = field_docs(cls)
        undocumented = [f.name for f in dataclasses.fields(cls) if f.name != "name" or cls is SpaceConfig]
        undocumented = [name for name in undocumented if not docs.get(name)]
        assert not undocumented, f"{cls.__name__}: {undocumented} need a comment beside their field"
    out = run_cli(["harness", "--help", "strategy=bayes_pi", "meter=rapl"], tmp_path)
    assert "  xi: 0.01  # the improvement margin of PI and EI" in out.stdout
    assert "  powercap_root: /sys/class/powercap  # where the RAPL counters are" in out.stdout
    assert "  rounds: 64  # rounds of search: one configuration each" in out.stdout


def test_a_setting_given_twice_in_a_sweep_takes_its_last_value_as_hydra_does():
    """`study.seed=range(0,200) ... study.seed=0` is one job to Hydra's basic sweeper: the up-front
    checks (data, names) must see the same jobs, or they would check data no job reads."""
    from hydra import initialize_config_dir

    from harness.__main__ import CONF_DIR, sweep_jobs

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        jobs = sweep_jobs(
            [
                "-m",
                "dataset=fashion_mnist,cifar10",
                "strategy=grid,random",
                "study.seed=range(0,200)",
                "dataset=synthetic",
                "study.seed=3",
            ]
        )
    assert jobs == [
        ["dataset=synthetic", "strategy=grid", "study.seed=3"],
        ["dataset=synthetic", "strategy=random", "study.seed=3"],
    ]


def test_no_option_file_repeats_its_schema_s_default():
    """Each default lives in its schema dataclass (harness/config/); an option's YAML file names the
    option and sets only what differs, so that a default changes in one place."""
    import yaml

    from harness.__main__ import CONF_DIR
    from harness.config import StudySettings
    from harness.config.options import make

    repeated = []
    for group in ("dataset", "model", "strategy", "meter", "study"):
        for path in sorted(Path(CONF_DIR, group).glob("*.yaml")):
            schema = StudySettings() if group == "study" else make(group, path.stem)
            for key, value in (yaml.safe_load(path.read_text()) or {}).items():
                if key not in ("defaults", "name") and getattr(schema, key, object()) == value:
                    repeated.append(f"{group}/{path.name}: {key}: {value}")
    assert repeated == []


@pytest.mark.parametrize(
    ("strategy", "objectives", "said"),
    [
        ("bayes_eipj", 1, "strategy=bayes_eipj divides by each round's joules, and meter=none measures none"),
        ("mo_gp", 2, "strategy=mo_gp minimises each round's joules, and meter=none measures none"),
        ("mo_nsga2", 2, "strategy=mo_nsga2 minimises each round's joules, and meter=none measures none"),
    ],
)
def test_a_strategy_says_what_it_needs_and_a_meter_that_measures_nothing_is_refused(
    make_config, strategy, objectives, said
):
    from harness.config.options import make
    from harness.errors import ConfigError

    option = make("strategy", strategy)
    assert option.objectives == objectives and option.joules_use
    assert make("strategy", "bayes_pi").objectives == 1 and not make("strategy", "bayes_pi").joules_use
    with pytest.raises(ConfigError, match=re.escape(said)):
        make_config(f"strategy={strategy}", "meter=none")


def test_each_strategy_says_its_look_and_old_studies_are_drawn_as_its_class_says():
    """Every search strategy's schema class gives it a place and a colour in the figures, none shared;
    the report draws studies recorded before studies kept their look the same way."""
    from matplotlib.colors import to_rgb

    from harness.config.strategy import SCHEMAS
    from harness.report.plots import COLOURS, STRATEGY_ORDER

    looks = {}
    for schema in SCHEMAS:
        assert set(schema.LOOKS) <= set(schema.OPTIONS), schema.__name__
        looks |= {name: schema.LOOKS[name] for name in schema.OPTIONS if name in schema.LOOKS}
    searches = {name for schema in SCHEMAS for name in schema.OPTIONS} - {"table"}
    assert set(looks) == searches
    assert (
        len({order for order, _ in looks.values()})
        == len({to_rgb(c) for _, c in looks.values()})
        == len(looks)
    )
    for name in STRATEGY_ORDER:
        assert (STRATEGY_ORDER.index(name), COLOURS[name]) == (looks[name][0], to_rgb(looks[name][1])), name


def test_capabilities_are_asked_of_the_options_not_their_names(make_config):
    """meter=none measures nothing (its class says), whatever the name; a model without conv layers
    drops a shared space's conv_layers; grid's and table's checks live in their classes."""
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="meter=none measures none"):
        make_config("strategy=bayes_eipj", "meter=none")
    with pytest.raises(ConfigError, match="energy_budget_j needs joules, and meter=none"):
        make_config("meter=none", "study.energy_budget_j=5")
    with pytest.raises(ConfigError, match=r"exceeds the \d+ cells of the grid"):
        make_config("strategy=grid", "study.rounds=100000")
    with pytest.raises(ConfigError, match=r"strategy.candidates=1 cannot hold the \d+ grid cells"):
        make_config("strategy=table", "strategy.candidates=1")
