"""Turn hyperparameter ranges into Optuna distributions and into the paper's grid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution


class Range(Protocol):
    """Anything with these attributes (the config's ParamRange is one)."""

    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def log(self) -> bool: ...
    @property
    def high_exclusive(self) -> bool: ...


def upper(r: Range) -> float:
    """The largest value a draw may take: just below ``high`` when the bound is excluded."""
    return float(np.nextafter(r.high, r.low)) if r.high_exclusive else float(r.high)


def distributions(params: Mapping[str, Range]) -> dict[str, BaseDistribution]:
    return {name: FloatDistribution(float(r.low), upper(r), log=bool(r.log)) for name, r in params.items()}


def grid_values(r: Range, points: int) -> list[float]:
    """``points`` values from low upwards in equal steps (geometric on a log scale); high excluded.

    The paper's grid: low + i * (high - low) / 5 for i = 0..4.
    """
    if r.log:
        return [r.low * (r.high / r.low) ** (i / points) for i in range(points)]
    return [r.low + i * (r.high - r.low) / points for i in range(points)]


def grid(params: Mapping[str, Range], points: int) -> dict[str, list[float]]:
    return {name: grid_values(r, points) for name, r in params.items()}
