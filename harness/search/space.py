"""Turn hyperparameter ranges into Optuna distributions and into the paper's grid."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from harness.config import ParamRange, grid_values

Range = ParamRange  # a hyperparameter's bounds, as the configuration gives them


def upper(r: Range) -> float:
    """The largest value a draw may take: just below ``high`` when the bound is excluded (whole
    numbers include it)."""
    if r.integer:
        return float(r.high)
    return float(np.nextafter(r.high, r.low)) if r.high_exclusive else float(r.high)


def distribution(r: Range) -> BaseDistribution:
    if r.integer:
        return IntDistribution(int(r.low), int(r.high), log=bool(r.log))
    return FloatDistribution(float(r.low), upper(r), log=bool(r.log))


def distributions(params: Mapping[str, Range]) -> dict[str, BaseDistribution]:
    return {name: distribution(r) for name, r in params.items()}


def grid(params: Mapping[str, Range], points: int) -> dict[str, list[float]]:
    return {name: grid_values(r, points) for name, r in params.items()}
