"""Figures of merit beside plain accuracy and joules, and the bootstrap interval."""

from __future__ import annotations

import functools
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
    means, medians = bootstrap_cis(values, level=level, resamples=resamples, seed=seed)
    return medians if statistic == "median" else means


Interval = tuple[float, float]


def bootstrap_cis(
    values: np.ndarray, *, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[Interval, Interval]:
    """The percentile bootstrap intervals of the mean and of the median from one set of resamples
    (each is bootstrap_ci's, number for number); (NaN, NaN) twice for fewer than MIN_SEEDS values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < MIN_SEEDS:
        return (math.nan, math.nan), (math.nan, math.nan)
    rows, counts = _resamples(len(values), resamples, seed)
    tail = (1 - level) / 2 * 100

    def interval(statistics: np.ndarray) -> Interval:
        low, high = np.percentile(statistics, [tail, 100 - tail])
        return float(low), float(high)

    medians = _resample_medians(values, counts)
    return interval(values[rows].mean(axis=1)), interval(medians)


@functools.lru_cache(maxsize=3)
def _resamples(n: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The resamples of n values, as positions and as counts: row r of ``rows`` holds the positions
    resample r draws, exactly those ``default_rng(seed).choice(values, (resamples, n))`` draws (choice
    draws integers in [0, n); tests/test_report.py holds it to that), and ``counts[i, r]`` how often
    resample r draws position i. Every interval over n values with one seed uses the same resamples
    (a report's columns and strategies mostly share n), so they are drawn once."""
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (rows * resamples + np.arange(resamples)[:, None]).ravel()  # counts[i]: one contiguous row
    counts = np.bincount(flat, minlength=resamples * n).reshape(n, resamples)
    rows, counts = rows.astype(np.int32), counts.astype(np.uint16 if n < 2**16 else np.uint32)
    rows.flags.writeable = counts.flags.writeable = False
    return rows, counts


def _resample_medians(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each resample's median (``np.median(values[rows], axis=1)``, number for number) from how often
    it draws each value: walking the values in sorted order, the median is where the running count
    passes the middle. No resample is sorted or partitioned (20 times faster at 1,000 values)."""
    n = len(values)
    order = np.argsort(values, kind="stable")
    running = np.take(counts, order, axis=0)  # running[j]: draws of the j-th smallest value
    for j in range(1, n):  # a cumulative sum over values, a row at a time (numpy's cumsum is slower)
        np.add(running[j], running[j - 1], out=running[j])
    ordered = values[order]

    def order_statistic(k: int) -> np.ndarray:  # the k-th smallest (from 0) of each resample
        return ordered[np.count_nonzero(running <= k, axis=0)]

    if n % 2:
        return order_statistic(n // 2)
    return (order_statistic(n // 2 - 1) + order_statistic(n // 2)) / 2
