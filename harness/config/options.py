"""Every option of the configuration groups that have options with settings of their own.

An option (``strategy=bayes_pi``, ``meter=rapl``, ``dataset=fashion_mnist``, ``model=simple_cnn``) is
a typed dataclass: Hydra composes its YAML file onto it (each file extends its schema, registered in
Hydra's ConfigStore as ``base_<option>``), OmegaConf checks every value's type, and the object checks
its ranges, gives its part of the study's fingerprint and builds what it configures (a sampler, a
meter, a data set, a network).
"""

from __future__ import annotations

from typing import Any

from harness.config import dataset, meter, model, strategy
from harness.config.base import Option
from harness.config.dataset import DatasetConfig, FileDatasetConfig, SyntheticConfig
from harness.config.meter import (
    AutoMeterConfig,
    EstimateMeterConfig,
    MeterConfig,
    NvmlMeterConfig,
    RaplMeterConfig,
)
from harness.config.model import ModelConfig, SimpleCNNConfig
from harness.config.strategy import NSGA2Config, OptunaModelConfig, QMCConfig, SkoptConfig, StrategyConfig
from harness.errors import ConfigError

# group -> option -> its schema, in the order options are listed.
SCHEMAS: dict[str, dict[str, type[Option]]] = {
    group: {option: cls for cls in module.SCHEMAS for option in cls.OPTIONS}
    for group, module in (("dataset", dataset), ("model", model), ("strategy", strategy), ("meter", meter))
}


def schema(group: str, option: str) -> type[Option]:
    try:
        return SCHEMAS[group][option]
    except KeyError:
        raise ConfigError(
            f"{group}.name={option!r} is unknown; choose one of: {', '.join(SCHEMAS[group])}"
        ) from None


def make(group: str, option: str, **settings: Any) -> Any:
    """An option with some settings changed (tests, benchmarks): ``make("model", "dense_poly")``."""
    return schema(group, option)(name=option, **settings)


def settings_of(group: str) -> dict[str, list[str]]:
    """Every setting of a group -> the options that have it."""
    import dataclasses

    out: dict[str, list[str]] = {}
    for option, cls in SCHEMAS[group].items():
        for f in dataclasses.fields(cls):
            out.setdefault(f.name, []).append(option)
    return out


__all__ = [
    "SCHEMAS",
    "AutoMeterConfig",
    "DatasetConfig",
    "EstimateMeterConfig",
    "FileDatasetConfig",
    "MeterConfig",
    "ModelConfig",
    "NSGA2Config",
    "NvmlMeterConfig",
    "Option",
    "OptunaModelConfig",
    "QMCConfig",
    "RaplMeterConfig",
    "SimpleCNNConfig",
    "SkoptConfig",
    "StrategyConfig",
    "SyntheticConfig",
    "make",
    "schema",
    "settings_of",
]
