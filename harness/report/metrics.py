"""Figures of merit beside plain accuracy and joules, and the bootstrap interval."""

from __future__ import annotations

import math

import numpy as np

JOULES_PER_KWH = 3.6e6
# The world's average carbon intensity of electricity in 2023: 480 gCO2e/kWh (Ember, Global Electricity
# Review 2024). A default only; harness-report --carbon-intensity takes the grid's own figure.
DEFAULT_CARBON_G_PER_KWH = 480.0


def kg_co2e(joules: float, *, g_per_kwh: float, pue: float = 1.0) -> float:
    """Kilograms CO2e of ``joules`` of IT energy at a site with ``pue``, on a grid of ``g_per_kwh``."""
    return joules * pue / JOULES_PER_KWH * g_per_kwh / 1000.0


BOOTSTRAP_RESAMPLES = 10_000


def accuracy_per_kj(accuracy: float, joules: float) -> float:
    """Accuracy divided by the kilojoules spent to reach it: the unambiguous companion of GQI."""
    if math.isnan(accuracy) or math.isnan(joules) or joules <= 0:
        return math.nan
    return accuracy / (joules / 1000.0)


def gqi(accuracy: float, joules: float, *, alpha: float = 1.0, beta: float = 1.0) -> float:
    """Watt-for-What's GreenQuotientIndex, beta * accuracy^alpha / log10(energy in kWh).

    The unit is fixed to kWh, as in its definition. Below 1 kWh log10 is negative, so GQI is
    negative and *more* energy gives a *more negative* value; at exactly 1 kWh it is undefined
    (returned as NaN). Always read it beside accuracy and joules (see accuracy_per_kj).
    """
    if math.isnan(accuracy) or math.isnan(joules) or joules <= 0:
        return math.nan
    log_kwh = math.log10(joules / JOULES_PER_KWH)
    if log_kwh == 0:
        return math.nan
    return beta * accuracy**alpha / log_kwh


# Fewer seeds than this get no interval, anywhere in the report: a bootstrap over 2-4 values is
# too coarse to state as 95% (and a paired test cannot reach p < 0.05 below 5 pairs).
MIN_SEEDS = 5


def bootstrap_ci(
    values: np.ndarray,
    *,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    statistic: str = "mean",
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (or the median); NaN (no interval) for fewer than
    MIN_SEEDS values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < MIN_SEEDS:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = rng.choice(values, size=(resamples, len(values)), replace=True)
    means = np.median(draws, axis=1) if statistic == "median" else draws.mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
