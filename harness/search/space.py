"""Turn hyperparameter ranges into Optuna distributions and into the paper's grid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # Optuna loads in about half a second: only when a study searches
    from optuna.distributions import BaseDistribution


class Range(Protocol):
    """A hyperparameter's bounds (harness.config.ParamRange is one): draws lie in [low, high), or in
    [low, high] for whole numbers or where high is not excluded."""

    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def log(self) -> bool: ...
    @property
    def high_exclusive(self) -> bool: ...
    @property
    def integer(self) -> bool: ...


def grid_values(r: Range, points: int) -> list[float]:
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


def upper(r: Range) -> float:
    """The largest value a draw may take: just below ``high`` when the bound is excluded (whole
    numbers include it)."""
    if r.integer:
        return float(r.high)
    return float(np.nextafter(r.high, r.low)) if r.high_exclusive else float(r.high)


def distribution(r: Range) -> BaseDistribution:
    from optuna.distributions import FloatDistribution, IntDistribution

    if r.integer:
        return IntDistribution(int(r.low), int(r.high), log=bool(r.log))
    return FloatDistribution(float(r.low), upper(r), log=bool(r.log))


def distributions(params: Mapping[str, Range]) -> dict[str, BaseDistribution]:
    return {name: distribution(r) for name, r in params.items()}


def grid(params: Mapping[str, Range], points: int) -> dict[str, list[float]]:
    return {name: grid_values(r, points) for name, r in params.items()}
