"""The configuration: its groups' schemas, the study's fingerprint and name, and validation.

Hydra composes YAML from ``conf/``, each option's file onto its typed schema: the options of dataset,
model, strategy and meter in this package's modules of those names, space and study here. OmegaConf
checks every value's type. This module turns the composed tree into a :class:`Config` of those
dataclasses: every component takes them, never a DictConfig. Each invalid value raises
:class:`ConfigError` with one line naming the key, the value and the remedy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.base import at_least, choice
from harness.config.options import (
    SCHEMAS,
    DatasetConfig,
    MeterConfig,
    ModelConfig,
    SimpleCNNConfig,
    StrategyConfig,
    make,
    settings_of,
)
from harness.energy.estimate import WATTS_PER_CORE
from harness.energy.nvml import POLL_INTERVAL_S
from harness.errors import ConfigError

# The options of each group, in the order their schemas list them (harness/config/<group>.py).
DATASETS = tuple(SCHEMAS["dataset"])
MODELS = tuple(SCHEMAS["model"])
STRATEGIES = tuple(SCHEMAS["strategy"])
# The strategies that search (every one but strategy=table, which trains a table's candidates in order).
SEARCHES = tuple(
    name for name, cls in SCHEMAS["strategy"].items() if not getattr(cls, "traces_epochs", False)
)
METERS = tuple(SCHEMAS["meter"])
# Adam's hyperparameters, and the settings of a round a space may search too (space=cost_aware): each
# such value replaces study.epochs, study.batch_size or the model's layer count for that round.
OPTIMISER_PARAMS = ("lr", "beta1", "beta2", "epsilon", "weight_decay")
ROUND_PARAMS = ("batch_size", "epochs", "linear_layers", "conv_layers")
HYPERPARAMETERS = OPTIMISER_PARAMS + ROUND_PARAMS
# Image shapes [C, H, W] of the file-based data sets, known before any file is read.
DATASET_SHAPES = {"digits": (1, 8, 8), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@dataclass
class ParamRange:
    low: float  # the smallest value drawn
    high: float  # the largest (excluded unless integer)
    log: bool = False  # draw on a log scale (e.g. learning rates)
    # Draws are in [low, high): Adam rejects beta == 1, and the paper drew with numpy's uniform.
    high_exclusive: bool = True
    integer: bool = False  # whole numbers from low to high, both included (high_exclusive is ignored)


@dataclass
class SpaceConfig:
    name: str = "paper3"  # the space: its file in conf/space/
    # Hyperparameter -> its ParamRange. Untyped for Hydra, so that a command line can add one
    # (+space.params.epsilon={low: 1e-9, high: 1e-7}): OmegaConf 2.3 cannot assign a mapping into a
    # dict of dataclasses. Each is typed here, by OmegaConf as every other setting is.
    params: dict[str, Any] = field(default_factory=dict)  # each searched hyperparameter: {low, high, log}
    grid_points: int = 5  # grid values per hyperparameter: low + i*(high-low)/n, i = 0..n-1

    def __post_init__(self) -> None:
        self.params = {name: _as_range(name, value) for name, value in self.params.items()}


def _as_range(name: str, value: Any) -> ParamRange:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(value, ParamRange):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"space.params.{name}={value!r} must be a range: {{low: ..., high: ...}}")
    try:
        typed = OmegaConf.merge(OmegaConf.structured(ParamRange), value)
        return OmegaConf.to_object(typed)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(explain(exc, prefix=f"space.params.{name}")) from None


@dataclass
class StudySettings:
    rounds: int = 64  # rounds of search: one configuration each
    repetitions: int = 2  # trainings per round from different initial weights; the round scores their mean
    epochs: int = 5  # epochs each training runs
    batch_size: int = 64  # Adam's mini-batch
    seed: int = 0  # seeds the strategy, the weights and the batches: one seed, one trajectory
    storage: str = (
        "sqlite:///runs/optuna.db"  # where rounds are kept: sqlite:///, journal:/// or a database URL
    )
    # torch threads for this job. None: 1 where the CPU's joules are the CPU-time estimate (it bills
    # every busy thread, and spinning OpenMP threads made a round's estimate 2.6x under a competing load;
    # docs/measurement.md), torch's default where a hardware counter measures them.
    threads: int | None = None  # torch threads (None: 1 under the estimate, else torch's default)
    name: str | None = None  # None: derived from the configuration
    device: str = "cpu"  # cpu, cuda, or auto
    progress: bool = True  # a progress bar on a terminal, a line per round in a log
    # Train a round's repetitions as one stacked model: auto (where the benchmark shows it faster),
    # true or false. Stacked or not, repetition r starts from the same weights and sees the same batches.
    # (Any: a bool or "auto", a union OmegaConf cannot type.)
    stack_repetitions: Any = "auto"  # auto, true or false: a round's repetitions as one stacked model
    stack_memory_mb: float = 768.0  # at most this much for one stack; more repetitions train in chunks
    # Reproduce the published code's defect: beta2 is sampled and recorded but Adam always gets 0.999.
    beta2_defect: bool = False
    # Stop the study when more rounds fail than this: a count (1 or more) or a fraction of the rounds
    # run so far (below 1). None: never stop for failures.
    max_failures: float | None = None
    # Stop early: before the round that would take the study's joules (rounds and their search) past
    # energy_budget_j, estimated from the rounds so far; or when the best accuracy has not risen by
    # more than min_delta in the last `patience` rounds. None: run all `rounds`.
    energy_budget_j: float | None = None
    patience: int | None = None  # stop after this many rounds without improvement (None: never)
    min_delta: float = 0.0  # what counts as an improvement for patience
    # Several workers on one study: each running round shows it is alive every heartbeat_interval
    # seconds; a round whose worker has been silent for grace_period seconds is run again by another.
    heartbeat_interval: int = 10
    grace_period: int = 30  # seconds of silence after which a worker's round is run again
    # live: every round trains. replay: every round is looked up in a table of measured rounds
    # (study.table: the folder harness-table wrote), answered by its nearest candidate.
    backend: str = "live"
    table: str | None = None  # the table a replayed study reads (harness-table's folder)


# (group, setting, default) of settings that changed no round before they existed.
LATER_SETTINGS = (
    ("dataset", "validation", 0.0),
    ("study", "beta2_defect", False),
    ("meter", "name", "auto"),
    ("meter", "watts_per_core", WATTS_PER_CORE),
    ("meter", "poll_interval_s", POLL_INTERVAL_S),
    ("strategy", "population_size", 10),
    ("strategy", "pruner", "none"),
    ("study", "backend", "live"),
)


@dataclass(frozen=True)
class Config:
    dataset: DatasetConfig
    model: ModelConfig
    strategy: StrategyConfig
    space: SpaceConfig
    meter: MeterConfig
    study: StudySettings

    @property
    def legacy_name(self) -> str:
        """The name studies had before settings beyond the group choices and the seed went into it."""
        parts = (_named(self.dataset), _named(self.model), self.strategy.name, self.space.name)
        return "-".join(parts) + f"-s{self.study.seed}"

    @property
    def study_name(self) -> str:
        """Stable across resumes: the same command names the same study.

        The group choices and the seed, then one token per setting that changes what a round computes
        and differs from what the chosen options' YAML files say: ``e25`` epochs, ``r8`` repetitions,
        ``b512`` batch size, ``lin7`` / ``conv4`` layers, ``norelu``, ``n1000`` / ``t500`` images,
        ``b2defect``, ``val0.2``, ``prune_median``, and ``h`` with a short digest for any other such
        setting. The default study keeps its short name (digits-simple_cnn-bayes-paper3-s0), and every
        job of a sweep over any setting gets its own.
        """
        if self.study.name:
            return self.study.name
        return "-".join([self.legacy_name, *name_tokens(self)])

    @property
    def scored_on(self) -> str:
        """What the rounds are scored on: the validation split carved from the training images, or
        the test set."""
        return "validation" if self.dataset.validation > 0 else "test"

    def facts(self) -> dict[str, Any]:
        """What the report groups, labels and draws a study by, recorded with it (the storage's
        ``facts`` study attribute and study.json) so that it is read rather than parsed from the
        study's name, which stays for humans (and may be any study.name): the strategy, its pruner,
        what its rounds are scored on, its settings (the name's tokens after the seed, the pruner's
        aside) and the strategy's look in figures (its option's schema class says)."""
        tokens = name_tokens(self)
        return {
            "strategy": self.strategy.name,
            "pruner": "" if self.strategy.pruner == "none" else self.strategy.pruner,
            "scored_on": self.scored_on,
            "settings": "-".join(t for t in tokens if not t.startswith(PRUNE_TOKEN)),
            "look": self.strategy.look,
        }

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes what a round computes. A resumed study must match it."""
        study = dataclasses.asdict(self.study)
        # How a study runs, not what a round computes: stacking batches the same repetitions (like
        # threads and device), max_failures only decides when to give up.
        running: tuple[str, ...] = ("stack_repetitions", "stack_memory_mb", "max_failures")
        running += ("energy_budget_j", "patience", "min_delta")  # when a study stops, like rounds
        running += ("heartbeat_interval", "grace_period")
        for key in ("rounds", "storage", "threads", "name", "progress", "device", *running):
            study.pop(key)
        table = study.pop("table")
        if self.study.backend == "replay":
            # The table's own identity, wherever its folder lies: its protocol, machine and candidates.
            study["table"] = table_digest(table)
        return _without_later_defaults(
            {
                "dataset": self.dataset.fingerprint(),
                "model": self.model.fingerprint(),
                "strategy": self.strategy.fingerprint(),
                "space": _space_fingerprint(self.space),
                "study": study,
                # The meter changes a round's joules (10 W or 40 W per busy core): one study, one meter.
                "meter": self.meter.fingerprint(),
            }
        )

    def matches(self, stored_digest: str | None, stored_config: dict[str, Any] | None) -> bool:
        """Whether a stored study was made with these settings (so resuming it is right)."""
        if stored_digest == self.fingerprint_digest():
            return True
        return stored_config is not None and _without_later_defaults(stored_config) == self.fingerprint()

    def fingerprint_digest(self) -> str:
        blob = json.dumps(self.fingerprint(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _without_later_defaults(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Settings added after studies were first recorded count only when set, so that every earlier
    study keeps its fingerprint and resumes."""
    out = {group: dict(part) if isinstance(part, dict) else part for group, part in fingerprint.items()}
    for group, key, default in LATER_SETTINGS:
        if isinstance(out.get(group), dict) and out[group].get(key, default) == default:
            out[group].pop(key, None)
    return {group: part for group, part in out.items() if part != {}}


def _space_fingerprint(space: SpaceConfig) -> dict[str, Any]:
    """The space as recorded; ``integer`` only where set, so that earlier studies keep their fingerprint."""
    out = dataclasses.asdict(space)
    out["params"] = {
        name: {k: v for k, v in rng.items() if k != "integer" or v} for name, rng in out["params"].items()
    }
    return out


# --------------------------------------------------------------------------------------------------
# Study names from the settings that differ from the chosen options


def conf_dir() -> Path:
    """The YAML config groups: inside an installed wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parent.parent  # harness/
    packaged = package / "conf"
    return packaged if packaged.is_dir() else package.parent / "conf"


PRUNE_TOKEN = "prune_"  # strategy.pruner's token (the report has its own copy: it may not import config)
# Settings named by a readable token in the study name: prefix, or a pair for true / false.
NAME_TOKENS: dict[str, str | tuple[str, str]] = {
    "study.epochs": "e",
    "study.repetitions": "r",
    "study.batch_size": "b",
    "model.linear_layers": "lin",
    "model.conv_layers": "conv",
    "model.relu": ("relu", "norelu"),
    "dataset.train_size": "n",
    "dataset.test_size": "t",
    "study.beta2_defect": ("b2defect", "b2applied"),
    "dataset.validation": "val",
    "strategy.pruner": PRUNE_TOKEN,
    "study.backend": "",  # replay
}


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): tree}


def _option_file(group: str, option: str) -> dict[str, Any]:
    """An option's YAML as Hydra reads it (OmegaConf's loader: 1e-9 is a number, not a string)."""
    from omegaconf import OmegaConf

    path = conf_dir() / group / f"{option}.yaml"
    if not path.is_file():
        return {}
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(loaded, dict):
        return {}
    loaded.pop("defaults", None)  # the file's schema (base_<option>), which the option's class is
    return loaded  # type: ignore[return-value]


def _named(option: Any) -> str:
    """An option's name in a study's name; a custom one also names its target (custom.mlp)."""
    target = getattr(option, "_target_", "")
    return f"{option.name}.{target.rpartition('.')[2]}" if target else str(option.name)


def baseline_fingerprint(cfg: Config) -> dict[str, Any]:
    """The fingerprint the chosen options have by themselves, before any other override (a custom
    option with its target, which its file cannot give and the study's name already says)."""
    choices = {"dataset": cfg.dataset.name, "model": cfg.model.name, "strategy": cfg.strategy.name}
    choices |= {"space": cfg.space.name, "meter": cfg.meter.name, "study": "default"}
    tree = {group: {"name": option} | _option_file(group, option) for group, option in choices.items()}
    tree["study"].pop("name")
    for group in ("dataset", "model"):
        target = getattr(getattr(cfg, group), "_target_", None)
        if target:
            tree[group]["_target_"] = target
    try:
        return from_container(tree).fingerprint()
    except ConfigError:  # an option file that is incomplete by itself: compare with the schema
        return {}


def name_tokens(cfg: Config) -> list[str]:
    actual = _flatten(cfg.fingerprint())
    base = _flatten(baseline_fingerprint(cfg))
    differ = {k for k, v in actual.items() if k not in base or base[k] != v} - {"study.seed"}  # named
    tokens = []
    for key, token in NAME_TOKENS.items():  # in this order
        if key not in differ:
            continue
        if isinstance(token, tuple):
            tokens.append(token[0] if actual[key] else token[1])
        else:
            tokens.append(f"{token}{actual[key]}")
    others = {k: actual[k] for k in sorted(differ - set(NAME_TOKENS))}
    if others:
        blob = json.dumps(others, sort_keys=True).encode()
        tokens.append("h" + hashlib.sha256(blob).hexdigest()[:8])
    return tokens


# --------------------------------------------------------------------------------------------------
# From the composed tree to typed objects: OmegaConf merges each group onto its option's schema

GROUPS = ("dataset", "model", "strategy", "space", "meter", "study")
# The option a group has when a tree does not name one: conf/config.yaml's defaults.
DEFAULT_OPTIONS = {"dataset": "digits", "model": "simple_cnn", "strategy": "bayes", "meter": "auto"}


def group_schema(group: str, option: str | None = None) -> Any:
    """The schema of a group's option: its class, built with the option's name."""
    if group == "study":
        return StudySettings()
    if group == "space":
        return SpaceConfig() if option is None else SpaceConfig(name=option)
    return make(group, option or DEFAULT_OPTIONS[group])


def hyperparameter_names() -> list[str]:
    """Every hyperparameter some space of conf/space/ names (the nearest-name hints draw on them)."""
    import yaml

    names: set[str] = set()
    for path in (conf_dir() / "space").glob("*.yaml"):
        with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
            names |= set((yaml.safe_load(path.read_text()) or {}).get("params") or {})
    return sorted(names)


TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "a string"}


def explain(exc: Exception, *, chosen: dict[str, str] | None = None, prefix: str = "") -> str:
    """One line for OmegaConf's error about a setting: which setting, what is wrong, what to do.

    ``chosen`` maps a group to its chosen option where known; ``prefix`` is the group of a key that
    OmegaConf reports relative to the group's node.
    """
    from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

    first = str(getattr(exc, "msg", "") or exc).strip().splitlines()[0]
    key = str(getattr(exc, "full_key", "") or getattr(exc, "key", "") or "")
    where = f"{prefix}.{key}" if prefix and key and not key.startswith(f"{prefix}.") else key or prefix
    group, _, setting = where.partition(".")
    if isinstance(exc, ConfigKeyError | AttributeError) and group in SCHEMAS and "." not in setting:
        having = settings_of(group).get(setting)
        option = (chosen or {}).get(group)
        of_chosen = f", not of the chosen {group}={option}" if option else ""
        if having:
            return (
                f"{where} is a setting of {group}={'/'.join(sorted(having))} only{of_chosen}; "
                f"drop it, or choose an option that has it"
            )
        return f"{where} is not a setting of any {group}; `harness --help` lists every setting"
    if isinstance(exc, ConfigKeyError | AttributeError) and where.startswith("space.params."):
        import difflib

        name = where.split(".")[2]
        if where.count(".") > 2:  # a setting of a hyperparameter the file has without it
            return f"{where} is not in the chosen space's file: add it with a leading +, as +{where}=..."
        near = difflib.get_close_matches(name, hyperparameter_names(), n=1)
        hint = f"did you mean space.params.{near[0]}? A new one " if near else "a new hyperparameter "
        return (
            f"{where} is not in the chosen space's file; {hint}needs a leading +, as "
            f"+space.params.{name}.low=..."
        )
    if isinstance(exc, ConfigKeyError | AttributeError):
        return f"{where} is not a known setting; `harness --help` lists every setting"
    if isinstance(exc, MissingMandatoryValue):
        return f"{where} is missing; give it a value"
    if isinstance(exc, ValidationError) and "is not a valid bool" in first:
        return f"{where}={getattr(exc, 'value', None)!r} must be true or false"
    if isinstance(exc, ValidationError) and "could not be converted to" in first:
        wanted = first.rsplit(" ", 1)[-1]
        return f"{where}={getattr(exc, 'value', None)!r} must be {TYPE_WORDS.get(wanted, wanted)}"
    return f"{where}: {first}" if where else first


def from_container(tree: dict[str, Any]) -> Config:
    """Build and validate a Config from a resolved plain tree (OmegaConf.to_container): each group is
    merged onto its option's schema, so a setting the option does not have, or of the wrong type, is
    one line naming it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    parts: dict[str, Any] = {}
    chosen = {
        g: str(node.get("name")) for g, node in tree.items() if isinstance(node, dict) and "name" in node
    }
    for group in GROUPS:
        node = tree.get(group)
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise ConfigError(f"{group} must be a config group, got {node!r}")
        base = group_schema(group, node.get("name"))
        try:
            parts[group] = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(base), node))
        except OmegaConfBaseException as exc:
            raise ConfigError(explain(exc, chosen=chosen, prefix=group)) from None
    cfg = Config(**parts)
    if "conv_layers" in cfg.space.params and "conv_layers" not in {
        f.name for f in dataclasses.fields(cfg.model)
    }:
        # A space shared by all models (cost_aware): conv layers mean nothing to a dense network.
        params = {k: v for k, v in cfg.space.params.items() if k != "conv_layers"}
        cfg = dataclasses.replace(cfg, space=dataclasses.replace(cfg.space, params=params))
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------------------------------
# Value checks


MAX_ROUNDS = 100_000  # each round is a trial in storage and a line of trials.csv
MAX_NAME = 200  # a study name is a directory name: most file systems allow 255 bytes


def _finite(cfg: Config) -> None:
    """Every number a setting holds is finite: infinity or NaN makes no sense for any of them."""
    groups = {
        "dataset": dataclasses.asdict(cfg.dataset),
        "model": dataclasses.asdict(cfg.model),
        "strategy": dataclasses.asdict(cfg.strategy),
        "meter": dataclasses.asdict(cfg.meter),
        "study": dataclasses.asdict(cfg.study),
        "space.params": {n: dataclasses.asdict(r) for n, r in cfg.space.params.items()},
    }
    for key, value in _flatten(groups).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}={value} must be a finite number")


def _study_name(name: str | None) -> None:
    """A study name is one directory under the runs folder: no path, nothing that leaves it."""
    if name is None:
        return
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ConfigError(
            f"study.name={name!r} must be one plain name (it becomes a directory under runs/); "
            f"no '/', and not '.' or '..'"
        )
    if len(name.encode()) > MAX_NAME:
        raise ConfigError(f"study.name is {len(name.encode())} bytes long; give at most {MAX_NAME}")


def validate(cfg: Config) -> None:
    """Each option's own checks, then those that involve several groups."""
    d, m, s, st = cfg.dataset, cfg.model, cfg.strategy, cfg.study
    _finite(cfg)
    for option in (d, m, s, cfg.meter):  # each knows its names (Option.__post_init__)
        option.check()
    _study_name(st.name)
    if st.rounds > MAX_ROUNDS:
        raise ConfigError(
            f"study.rounds={st.rounds} is more than {MAX_ROUNDS:,} rounds; split the search into studies"
        )
    choice(st.device, ("cpu", "cuda", "auto"), "study.device")
    if st.stack_repetitions not in (True, False, "auto"):
        raise ConfigError(
            f"study.stack_repetitions={st.stack_repetitions!r} is unknown; choose auto, true or false"
        )
    if st.energy_budget_j is not None and st.energy_budget_j <= 0:
        raise ConfigError(f"study.energy_budget_j={st.energy_budget_j:g} must be positive (joules)")
    if s.joules_use and not cfg.meter.measures:
        raise ConfigError(f"strategy={s.name} {s.joules_use}, and meter={cfg.meter.name} measures none")
    if s.pruner != "none" and s.objectives > 1:
        raise ConfigError(
            f"strategy.pruner={s.pruner} judges one accuracy, and strategy={s.name} has two objectives "
            f"(Optuna prunes single-objective studies only); set strategy.pruner=none"
        )
    if s.pruner != "none" and d.validation <= 0:
        raise ConfigError(
            f"strategy.pruner={s.pruner} judges each epoch on a validation split carved from the training "
            f"images, and dataset.validation is 0; set dataset.validation=0.2 (or experiment=rq1_corrected)"
        )
    if st.energy_budget_j is not None and not cfg.meter.measures:
        raise ConfigError(
            f"study.energy_budget_j needs joules, and meter={cfg.meter.name} measures none; choose a meter"
        )
    at_least(st.patience, 1, "study.patience")
    if st.min_delta < 0:
        raise ConfigError(f"study.min_delta={st.min_delta:g} must not be negative")
    if st.max_failures is not None and st.max_failures <= 0:
        raise ConfigError(f"study.max_failures={st.max_failures:g} must be positive (a count or a fraction)")
    if st.stack_memory_mb <= 0:
        raise ConfigError(f"study.stack_memory_mb={st.stack_memory_mb:g} must be positive")
    for key in ("rounds", "repetitions", "epochs", "batch_size"):
        at_least(getattr(st, key), 1, f"study.{key}")
    at_least(st.seed, 0, "study.seed")
    at_least(st.threads, 1, "study.threads")
    at_least(st.heartbeat_interval, 1, "study.heartbeat_interval")
    choice(st.backend, BACKENDS, "study.backend")
    if st.backend == "replay":
        table_digest(st.table)
    s.check_with(cfg.space, st)
    if st.grace_period <= st.heartbeat_interval:
        raise ConfigError(
            f"study.grace_period={st.grace_period} must exceed study.heartbeat_interval="
            f"{st.heartbeat_interval}, or live workers' rounds would be taken as abandoned"
        )
    validate_space(cfg.space)
    given = getattr(d, "shape", None)  # synthetic
    shape = DATASET_SHAPES.get(d.name) or (tuple(given) if given else None)
    if isinstance(m, SimpleCNNConfig) and shape is not None:
        h, w = shape[1], shape[2]
        searched = cfg.space.params.get("conv_layers")
        conv, where = (
            (int(searched.high), "space.params.conv_layers.high")
            if searched
            else (m.conv_layers, "model.conv_layers")
        )
        if h >> conv < 1 or w >> conv < 1:
            raise ConfigError(
                f"{where}={conv} halves a {h}x{w} image to nothing "
                f"(dataset {d.name}); use at most {min(h, w).bit_length() - 1} conv layers"
            )


TABLE_MANIFEST = "manifest.json"
BACKENDS = ("live", "replay")


def table_digest(table: str | None) -> str:
    """The digest a replay table's manifest records (its protocol, machine and candidates)."""
    if not table:
        raise ConfigError("study.backend=replay needs study.table=PATH, the folder harness-table wrote")
    manifest = Path(table) / TABLE_MANIFEST
    try:
        digest = json.loads(manifest.read_text()).get("digest")
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"study.table={table}: {manifest} cannot be read ({exc}); give the folder harness-table wrote"
        ) from None
    if not isinstance(digest, str):
        raise ConfigError(f"study.table={table}: {manifest} has no digest; rebuild it with harness-table")
    return digest


def validate_space(space: SpaceConfig) -> None:
    if not space.params:
        raise ConfigError(f"space {space.name!r} has no params; give e.g. space.params.lr")
    at_least(space.grid_points, 1, "space.grid_points")
    for name, rng in space.params.items():
        where = f"space.params.{name}"
        choice(name, HYPERPARAMETERS, f"{where} (hyperparameter name)")
        if not rng.low < rng.high:
            raise ConfigError(
                f"{where}: low={rng.low:g} is not below high={rng.high:g}; swap or fix the bounds"
            )
        if rng.log and rng.low <= 0:
            raise ConfigError(
                f"{where}: a log scale needs positive bounds, got low={rng.low:g}; "
                f"raise low or set {where}.log=false"
            )
        if name in ROUND_PARAMS and not (rng.integer and rng.low >= 1 and float(rng.low).is_integer()):
            raise ConfigError(
                f"{where}: a round's {name} is a whole number of at least 1; "
                f"set {where}.integer=true with whole bounds (got low={rng.low:g}, high={rng.high:g})"
            )
        if rng.integer and not (float(rng.low).is_integer() and float(rng.high).is_integer()):
            raise ConfigError(
                f"{where}: integer bounds must be whole numbers, got [{rng.low:g}, {rng.high:g}]"
            )
        if name in ("beta1", "beta2") and (rng.low < 0 or rng.high > 1):
            raise ConfigError(f"{where}: Adam's betas lie in [0, 1), got [{rng.low:g}, {rng.high:g}]")
        if rng.low < 0:
            raise ConfigError(f"{where}: low={rng.low:g} must not be negative")


# --------------------------------------------------------------------------------------------------
# The schemas Hydra composes the YAML files onto


def register_configs() -> None:
    """Each option's schema in Hydra's ConfigStore as ``<group>/base_<option>``, which the option's
    YAML file extends (its defaults list), so that Hydra types every setting as its class does."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for group in GROUPS:
        for path in sorted((conf_dir() / group).glob("*.yaml")):
            try:
                node = OmegaConf.structured(group_schema(group, None if group == "study" else path.stem))
            except ConfigError:  # a file without a schema: choosing it is the one-line error then
                continue
            store.store(group=group, name=f"base_{path.stem}", node=node)


def group_settings() -> dict[str, list[str]]:
    """Every setting of each group, over all its options (what a command line may name)."""
    out = {group: sorted(settings_of(group)) for group in SCHEMAS}
    out["space"] = [f.name for f in dataclasses.fields(SpaceConfig)]
    out["study"] = [f.name for f in dataclasses.fields(StudySettings)]
    return {group: out[group] for group in GROUPS}
