"""Strategies compared over seeds, paired by seed.

Studies of one cell (origin, dataset, model, space, machine) that share a seed share their first
rounds' random numbers by design, so strategy A and strategy B are compared seed by seed: for each
metric, the difference A - B over the seeds where both reached the shared target, its mean with a 95%
percentile-bootstrap interval, and a two-sided Wilcoxon signed-rank test (scipy). Below
``MIN_PAIRS`` paired seeds no interval and no test are given: a claim needs them. How often each
strategy reached the target is reported beside, since a strategy that never gets there has no
rounds to compare.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd

from harness.report.metrics import MIN_SEEDS, bootstrap_ci
from harness.report.reduce import GROUP

CELL = [*GROUP, "machine"]
# To the shared target (comparable optima), and to each study's own best (the paper's definition,
# defined in every seed), and the best accuracy itself.
METRICS = (
    "rounds_to_target",
    "joules_to_target",
    "joules_to_target_with_search",
    "rounds_to_best",
    "joules_to_best",
    "best_accuracy",
    "test_accuracy",  # with a validation split: the picked configuration on the test set
)
HIGHER_IS_BETTER = ("best_accuracy", "test_accuracy")
MIN_PAIRS = MIN_SEEDS


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1 when every difference is zero."""
    from scipy.stats import wilcoxon

    if len(differences) < MIN_PAIRS:
        return math.nan
    if not np.any(differences):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy notes ties and small samples; the p-value stands
        return float(wilcoxon(differences).pvalue)


def compare_strategies(summary: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per (cell, strategy pair, metric): paired differences A - B over seeds."""
    rows = []
    for keys, cell in summary.groupby(CELL, sort=True):
        strategies = sorted(cell["strategy"].unique())
        for a, b in itertools.combinations(strategies, 2):
            left = cell[cell["strategy"] == a].drop_duplicates("seed").set_index("seed")
            right = cell[cell["strategy"] == b].drop_duplicates("seed").set_index("seed")
            seeds = left.index.intersection(right.index)
            if seeds.empty:
                continue
            for metric in METRICS:
                if metric not in cell or cell[metric].isna().all():
                    continue
                diff = (left.loc[seeds, metric] - right.loc[seeds, metric]).dropna().to_numpy(float)
                enough = len(diff) >= MIN_PAIRS
                low, high = bootstrap_ci(diff, seed=seed) if enough else (math.nan, math.nan)
                rows.append(
                    {
                        **dict(zip(CELL, keys, strict=True)),
                        "strategy_a": a,
                        "strategy_b": b,
                        "metric": metric,
                        "seeds": len(seeds),
                        "pairs": len(diff),
                        "a_reached": int(left.loc[seeds, "rounds_to_target"].notna().sum()),
                        "b_reached": int(right.loc[seeds, "rounds_to_target"].notna().sum()),
                        "mean_difference": float(diff.mean()) if len(diff) else math.nan,
                        "median_difference": float(np.median(diff)) if len(diff) else math.nan,
                        "ci_low": low,
                        "ci_high": high,
                        "wilcoxon_p": wilcoxon_p(diff),
                    }
                )
    return pd.DataFrame(rows)


def verdict(row: pd.Series) -> str:
    """A reading of one comparison that never outruns its interval."""
    if row["pairs"] < MIN_PAIRS:
        return f"cannot tell ({row['pairs']} paired seeds; {MIN_PAIRS} needed)"
    higher_is_better = row.get("metric") in HIGHER_IS_BETTER
    if row["ci_low"] > 0:
        return f"{row['strategy_a']} finds higher" if higher_is_better else f"{row['strategy_b']} needs less"
    if row["ci_high"] < 0:
        return f"{row['strategy_b']} finds higher" if higher_is_better else f"{row['strategy_a']} needs less"
    return "no difference shown (the interval covers 0)"


def _settings(row: pd.Series) -> str:
    return f" ({row['settings']})" if row.get("settings") else ""


def markdown_comparisons(comparisons: pd.DataFrame) -> str:
    if comparisons.empty:
        return ""

    def fmt(value: float, digits: int) -> str:
        return "–" if isinstance(value, float) and math.isnan(value) else f"{value:,.{digits}f}"

    lines = [
        "| dataset | model | space | A - B | metric | paired seeds | reached A / B | mean difference "
        "| 95% interval | Wilcoxon p | reading |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for _, r in comparisons.iterrows():
        digits = {"rounds_to_target": 1, "rounds_to_best": 1, "best_accuracy": 4, "test_accuracy": 4}.get(
            r["metric"], 0
        )
        interval = (
            "–" if math.isnan(r["ci_low"]) else f"[{fmt(r['ci_low'], digits)}, {fmt(r['ci_high'], digits)}]"
        )
        reached = f"{r['a_reached']}/{r['seeds']} vs {r['b_reached']}/{r['seeds']}"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['space']}{_settings(r)} "
            f"| {r['strategy_a']} - {r['strategy_b']} "
            f"| {r['metric']} | {r['pairs']} | {reached} | {fmt(r['mean_difference'], digits)} "
            f"| {interval} | {fmt(r['wilcoxon_p'], 3)} | {verdict(r)} |"
        )
    return "\n".join(lines) + "\n"
