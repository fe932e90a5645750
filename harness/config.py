"""Schemas of every config group and their validation.

Hydra composes YAML from ``conf/``; this module is the one place where that composed tree becomes typed
objects. Every component below takes these dataclasses (or plain arguments), never a DictConfig.
Each invalid value raises :class:`ConfigError` with one line naming the key, the value and the remedy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

DATASETS = ("digits", "fashion_mnist", "cifar10", "synthetic")
MODELS = ("dense_poly", "dense_linear", "simple_cnn")
STRATEGIES = (
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
)
# Strategies that maximise accuracy and minimise a round's joules together (two objectives).
MULTI_OBJECTIVE = ("mo_gp", "mo_nsga2")
PRUNERS = ("none", "median", "successive_halving", "hyperband")
METERS = ("auto", "estimate", "none", "rapl", "nvml")
# Adam's hyperparameters, and the settings of a round a space may search too (space=cost_aware): each
# such value replaces study.epochs, study.batch_size or the model's layer count for that round.
OPTIMISER_PARAMS = ("lr", "beta1", "beta2", "epsilon", "weight_decay")
ROUND_PARAMS = ("batch_size", "epochs", "linear_layers", "conv_layers")
HYPERPARAMETERS = OPTIMISER_PARAMS + ROUND_PARAMS
# Image shapes [C, H, W] of the file-based data sets, known before any file is read.
DATASET_SHAPES = {"digits": (1, 8, 8), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "digits"
    root: str | None = None  # directory of the distribution files (fashion_mnist, cifar10)
    download: bool = True  # fetch missing files when the machine is online
    url: str | None = None  # base URL of the distribution files (a mirror, or file:// in tests)
    checksums: dict[str, str] | None = None  # file name -> md5; None means the official ones
    train_size: int | None = None  # first N training images (None: all); synthetic: required
    test_size: int | None = None
    shape: list[int] | None = None  # synthetic only: [C, H, W]
    classes: int | None = None  # synthetic only
    seed: int = 0  # synthetic tensors / digits split
    # Carve this fraction of the training images (seeded, disjoint) as a validation split: rounds are
    # scored on it, and the configuration the search picks is evaluated once on the test set.
    validation: float = 0.0


@dataclass(frozen=True)
class ModelConfig:
    name: str = "simple_cnn"
    linear_layers: int = 3
    conv_layers: int = 2
    relu: bool = True  # SimpleCNN's ReLU after each conv block (RQ2 drops it)


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "bayes"
    n_startup_trials: int = 10  # bayes, tpe: random rounds before the model takes over
    n_initial_points: int = 1  # bayes_pi: random rounds before the GP (the paper: 1)
    n_candidates: int = 10_000  # bayes_pi: random candidates the acquisition is maximised over
    xi: float = 0.01  # bayes_pi: probability-of-improvement margin
    qmc_type: str = "sobol"  # qmc: sobol or halton
    population_size: int = 10  # mo_nsga2: rounds per generation
    # Stop hopeless rounds early on their validation accuracy after each epoch (Optuna's pruners):
    # none, median, successive_halving or hyperband. Needs dataset.validation.
    pruner: str = "none"


@dataclass(frozen=True)
class ParamRange:
    low: float
    high: float
    log: bool = False
    # Draws are in [low, high): Adam rejects beta == 1, and the paper drew with numpy's uniform.
    high_exclusive: bool = True
    integer: bool = False  # whole numbers from low to high, both included (high_exclusive is ignored)


def grid_values(r: ParamRange, points: int) -> list[float]:
    """``points`` values from low upwards in equal steps (geometric on a log scale); high excluded.

    The paper's grid: low + i * (high - low) / 5 for i = 0..4. Whole numbers: ``points`` values from
    low to high, both included, rounded, without repeats.
    """
    if r.integer:
        if points == 1:
            return [int(r.low)]
        steps = [i / (points - 1) for i in range(points)]
        if r.log:
            values = [round(r.low * (r.high / r.low) ** f) for f in steps]
        else:
            values = [round(r.low + f * (r.high - r.low)) for f in steps]
        return list(dict.fromkeys(int(v) for v in values))
    if r.log:
        return [r.low * (r.high / r.low) ** (i / points) for i in range(points)]
    return [r.low + i * (r.high - r.low) / points for i in range(points)]


@dataclass(frozen=True)
class SpaceConfig:
    name: str = "paper3"
    params: dict[str, ParamRange] = field(default_factory=dict)
    grid_points: int = 5  # grid values per hyperparameter: low + i*(high-low)/n, i = 0..n-1


@dataclass(frozen=True)
class MeterConfig:
    name: str = "auto"
    watts_per_core: float = 10.0  # estimate: watts drawn per fully busy core (see README)
    powercap_root: str = "/sys/class/powercap"
    idle_s: float = 0.0  # measure idle power for this long before the study (0: skip)
    poll_interval_s: float = 0.1  # NVML power polling period where no energy counter exists


@dataclass(frozen=True)
class StudySettings:
    rounds: int = 64
    repetitions: int = 2
    epochs: int = 5
    batch_size: int = 64
    seed: int = 0
    storage: str = "sqlite:///runs/optuna.db"
    threads: int | None = None  # torch threads for this job (None: torch's default)
    name: str | None = None  # None: derived from the configuration
    device: str = "cpu"  # cpu, cuda, or auto
    progress: bool = True
    # Train a round's repetitions as one stacked model: auto (where the benchmark shows it faster),
    # true or false. Stacked or not, repetition r starts from the same weights and sees the same batches.
    stack_repetitions: bool | str = "auto"
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
    patience: int | None = None
    min_delta: float = 0.0
    # Several workers on one study: each running round shows it is alive every heartbeat_interval
    # seconds; a round whose worker has been silent for grace_period seconds is run again by another.
    heartbeat_interval: int = 10
    grace_period: int = 30


# (group, setting, default) of settings that changed no round before they existed.
LATER_SETTINGS = (
    ("dataset", "validation", 0.0),
    ("study", "beta2_defect", False),
    ("meter", "name", "auto"),
    ("meter", "watts_per_core", 10.0),
    ("meter", "poll_interval_s", 0.1),
    ("strategy", "population_size", 10),
    ("strategy", "pruner", "none"),
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
        parts = (self.dataset.name, self.model.name, self.strategy.name, self.space.name)
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
        return _without_later_defaults(
            {
                "dataset": _drop(dataclasses.asdict(self.dataset), "root", "download", "url"),
                "model": dataclasses.asdict(self.model),
                "strategy": dataclasses.asdict(self.strategy),
                "space": _space_fingerprint(self.space),
                "study": study,
                # The meter changes a round's joules (10 W or 40 W per busy core): one study, one meter.
                # Where it reads (powercap_root) and the idle baseline (idle_s) do not.
                "meter": _drop(dataclasses.asdict(self.meter), "powercap_root", "idle_s"),
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


def _drop(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


# --------------------------------------------------------------------------------------------------
# Study names from the settings that differ from the chosen options


def conf_dir() -> Path:
    """The YAML config groups: inside an installed wheel, or beside the package in a checkout."""
    packaged = Path(__file__).parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "conf"


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
    "strategy.pruner": "prune_",
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
    return loaded if isinstance(loaded, dict) else {}  # type: ignore[return-value]


# Settings of a group that every option takes, though no option's file sets them.
EVERY_OPTION = {"strategy": ("pruner",)}


def check_overrides_apply(overrides: list[str], cfg: Config) -> None:
    """Reject a command-line setting of an option that is not chosen (``strategy=random strategy.xi=5``):
    it would change nothing a round computes yet fork the study under a new name."""
    chosen = {"model": cfg.model.name, "strategy": cfg.strategy.name, "meter": cfg.meter.name}
    for override in overrides:
        key, sep, _ = override.lstrip("+~").partition("=")
        group, dot, setting = key.partition(".")
        if not (sep and dot) or group not in chosen or "." in setting or setting == "name":
            continue
        option = chosen[group]
        if setting in _option_file(group, option) or setting in EVERY_OPTION.get(group, ()):
            continue
        having = sorted(
            p.stem for p in (conf_dir() / group).glob("*.yaml") if setting in _option_file(group, p.stem)
        )
        which = f"a setting of {group}={'/'.join(having)} only" if having else f"used by no {group}"
        raise ConfigError(
            f"{key} is {which}, not of the chosen {group}={option}; drop it, or choose an option that has it"
        )


def baseline_fingerprint(cfg: Config) -> dict[str, Any]:
    """The fingerprint the chosen options have by themselves, before any other override."""
    tree = schema_defaults()
    choices = {"dataset": cfg.dataset.name, "model": cfg.model.name, "strategy": cfg.strategy.name}
    choices |= {"space": cfg.space.name, "meter": cfg.meter.name, "study": "default"}
    for group, option in choices.items():
        tree[group].update(_option_file(group, option))
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
# Conversion from the composed tree (plain dicts) to typed dataclasses


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        for arg in args[1:]:  # bool | str: take the value as the first type it already is
            if isinstance(value, arg):
                return value
        return _convert(value, args[0], where)
    if value is None:
        raise ConfigError(f"{where} must not be null: give {_type_name(tp)}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}={value!r} must be a list, e.g. [1, 28, 28]")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping")
        _, item = typing.get_args(tp)
        return {str(k): _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping with keys {_field_names(tp)}")
        return _build(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}={value!r} must be true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}={value!r} must be an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}={value!r} must be a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}={value!r} must be a string")
    return value


def _field_names(cls: Any) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _build(cls: Any, mapping: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not a known setting; the settings of {where} are: {_field_names(cls)}"
        )
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in mapping.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where} is incomplete ({exc}); give all of: {_field_names(cls)}") from exc


def from_container(tree: dict[str, Any]) -> Config:
    """Build and validate a Config from a resolved plain tree (OmegaConf.to_container)."""
    groups = {
        "dataset": DatasetConfig,
        "model": ModelConfig,
        "strategy": StrategyConfig,
        "space": SpaceConfig,
        "meter": MeterConfig,
        "study": StudySettings,
    }
    parts = {}
    for key, cls in groups.items():
        node = tree.get(key)
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise ConfigError(f"{key} must be a config group, got {node!r}")
        parts[key] = _build(cls, node, key)
    cfg = Config(**parts)
    if cfg.model.name != "simple_cnn" and "conv_layers" in cfg.space.params:
        # A space shared by all models (cost_aware): conv layers mean nothing to a dense network.
        params = {k: v for k, v in cfg.space.params.items() if k != "conv_layers"}
        cfg = dataclasses.replace(cfg, space=dataclasses.replace(cfg.space, params=params))
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------------------------------
# Value checks


def _choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}={value!r} is unknown; choose one of: {', '.join(allowed)}")


def _at_least(value: int | float | None, low: float, where: str) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{where}={value} must be at least {low:g}")


def validate(cfg: Config) -> None:
    d, m, s, st = cfg.dataset, cfg.model, cfg.strategy, cfg.study
    _choice(d.name, DATASETS, "dataset.name")
    _choice(m.name, MODELS, "model.name")
    _choice(s.name, STRATEGIES, "strategy.name")
    _choice(cfg.meter.name, METERS, "meter.name")
    _choice(s.qmc_type, ("sobol", "halton"), "strategy.qmc_type")
    _choice(st.device, ("cpu", "cuda", "auto"), "study.device")
    if st.stack_repetitions not in (True, False, "auto"):
        raise ConfigError(
            f"study.stack_repetitions={st.stack_repetitions!r} is unknown; choose auto, true or false"
        )
    if st.energy_budget_j is not None and st.energy_budget_j <= 0:
        raise ConfigError(f"study.energy_budget_j={st.energy_budget_j:g} must be positive (joules)")
    if s.name == "bayes_eipj" and cfg.meter.name == "none":
        raise ConfigError("strategy=bayes_eipj divides by each round's joules, and meter=none measures none")
    if s.name in MULTI_OBJECTIVE and cfg.meter.name == "none":
        raise ConfigError(f"strategy={s.name} minimises each round's joules, and meter=none measures none")
    _at_least(s.population_size, 2, "strategy.population_size")
    _choice(s.pruner, PRUNERS, "strategy.pruner")
    if s.pruner != "none" and s.name in MULTI_OBJECTIVE:
        raise ConfigError(
            f"strategy.pruner={s.pruner} judges one accuracy, and strategy={s.name} has two objectives "
            f"(Optuna prunes single-objective studies only); set strategy.pruner=none"
        )
    if s.pruner != "none" and d.validation <= 0:
        raise ConfigError(
            f"strategy.pruner={s.pruner} judges each epoch on a validation split carved from the training "
            f"images, and dataset.validation is 0; set dataset.validation=0.2 (or experiment=rq1_corrected)"
        )
    if st.energy_budget_j is not None and cfg.meter.name == "none":
        raise ConfigError("study.energy_budget_j needs joules, and meter=none measures none; choose a meter")
    _at_least(st.patience, 1, "study.patience")
    if st.min_delta < 0:
        raise ConfigError(f"study.min_delta={st.min_delta:g} must not be negative")
    if st.max_failures is not None and st.max_failures <= 0:
        raise ConfigError(f"study.max_failures={st.max_failures:g} must be positive (a count or a fraction)")
    if st.stack_memory_mb <= 0:
        raise ConfigError(f"study.stack_memory_mb={st.stack_memory_mb:g} must be positive")
    for key in ("rounds", "repetitions", "epochs", "batch_size"):
        _at_least(getattr(st, key), 1, f"study.{key}")
    _at_least(st.seed, 0, "study.seed")
    _at_least(st.threads, 1, "study.threads")
    _at_least(st.heartbeat_interval, 1, "study.heartbeat_interval")
    if st.grace_period <= st.heartbeat_interval:
        raise ConfigError(
            f"study.grace_period={st.grace_period} must exceed study.heartbeat_interval="
            f"{st.heartbeat_interval}, or live workers' rounds would be taken as abandoned"
        )
    _at_least(d.train_size, 1, "dataset.train_size")
    _at_least(d.test_size, 1, "dataset.test_size")
    if not 0.0 <= d.validation < 1.0:
        raise ConfigError(f"dataset.validation={d.validation:g} must be a fraction in [0, 1), e.g. 0.1")
    _at_least(m.linear_layers, 1, "model.linear_layers")
    _at_least(m.conv_layers, 1, "model.conv_layers")
    _at_least(s.n_startup_trials, 1, "strategy.n_startup_trials")
    _at_least(s.n_initial_points, 1, "strategy.n_initial_points")
    _at_least(s.n_candidates, 1, "strategy.n_candidates")
    _at_least(cfg.meter.watts_per_core, 0.0, "meter.watts_per_core")
    _at_least(cfg.meter.idle_s, 0.0, "meter.idle_s")
    if cfg.meter.poll_interval_s <= 0:
        raise ConfigError(f"meter.poll_interval_s={cfg.meter.poll_interval_s} must be positive")
    if d.name == "synthetic":
        if d.shape is None or len(d.shape) != 3 or min(d.shape) < 1:
            raise ConfigError(f"dataset.shape={d.shape} must be [C, H, W] with positive sizes")
        if d.classes is None or d.classes < 2:
            raise ConfigError(f"dataset.classes={d.classes} must be at least 2")
        if d.train_size is None or d.test_size is None:
            raise ConfigError("dataset.train_size and dataset.test_size are required for synthetic")
    validate_space(cfg.space)
    shape = DATASET_SHAPES.get(d.name) or (tuple(d.shape) if d.shape else None)
    if m.name == "simple_cnn" and shape is not None:
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
    if s.name == "grid":
        cells = math.prod(len(grid_values(r, cfg.space.grid_points)) for r in cfg.space.params.values())
        if st.rounds > cells:
            raise ConfigError(
                f"study.rounds={st.rounds} exceeds the {cells} cells of the grid over "
                f"space={cfg.space.name}; lower study.rounds or raise space.grid_points"
            )


def validate_space(space: SpaceConfig) -> None:
    if not space.params:
        raise ConfigError(f"space {space.name!r} has no params; give e.g. space.params.lr")
    _at_least(space.grid_points, 1, "space.grid_points")
    for name, rng in space.params.items():
        where = f"space.params.{name}"
        _choice(name, HYPERPARAMETERS, f"{where} (hyperparameter name)")
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
# The schema node Hydra composes first


def schema_defaults() -> dict[str, Any]:
    """Every group's settings with their defaults, so that any key can be overridden by name.

    Stored untyped: types and values are checked by ``from_container``, which reports each problem
    in one line (Hydra's own type errors would exit 1 with a stack-trace hint).
    """
    return {
        "dataset": dataclasses.asdict(DatasetConfig()),
        "model": dataclasses.asdict(ModelConfig()),
        "strategy": dataclasses.asdict(StrategyConfig()),
        "space": dataclasses.asdict(SpaceConfig()),
        "meter": dataclasses.asdict(MeterConfig()),
        "study": dataclasses.asdict(StudySettings()),
    }


def register_configs() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="schema", node=schema_defaults())
