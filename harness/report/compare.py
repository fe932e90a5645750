"""Strategies compared over seeds, paired by seed, with tests that hold their level and their power.

Studies of one cell (origin, dataset, model, space, machine) that share a seed share their first
rounds' random numbers by design, so strategy A and strategy B are compared seed by seed: for each
metric, the difference A - B over the seeds where both have a value, with

- its mean and Student's t 95% interval (harness/report/stats.py: the interval that keeps its coverage
  at 5 seeds; the percentile bootstrap did not);
- the exact sign-flip permutation p and Wilcoxon's signed-rank p, and the sign-flip p adjusted by
  Holm's method over every comparison of the report (``p_holm``);
- the observed paired standard deviation, and how many seeds 80% power needs to detect a stated
  effect (10 rounds, the paper's Bayesian-over-random effect; the joules of 10 of the cell's mean
  rounds; 0.01 of accuracy), and whether the study had them (``powered``).

Time to target is also analysed as a censored outcome: a seed that never reaches the target counts as
censored at its last round (or its total joules), not dropped. ``rounds_to_target_censored`` and
``joules_to_target_censored`` give the difference of restricted means (Kaplan-Meier area up to the
horizon) with a normal interval and the log-rank p.

A comparison reads as a finding only when the corrected test and the interval agree; otherwise it
reads "cannot tell", or, when the interval lies within the stated effect, "no difference as large as".
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd

from harness.report.metrics import MIN_SEEDS
from harness.report.reduce import GROUP
from harness.report.stats import ALPHA, holm, logrank_p, rmst, seeds_needed, sign_flip_p, t_interval

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
# The effect each comparison's power is stated for: the paper's (Bayesian about 10 rounds sooner than
# random), the joules of that many of the cell's mean rounds, and one point of accuracy.
EFFECT_ROUNDS = 10.0
EFFECT_ACCURACY = 0.01
CENSORED = {"rounds_to_target": "rounds", "joules_to_target": "total_joules"}  # metric -> its horizon


def effect_of(metric: str, cell: pd.DataFrame) -> float:
    if "rounds" in metric:
        return EFFECT_ROUNDS
    if "accuracy" in metric:
        return EFFECT_ACCURACY
    per_round = (cell["total_joules"] / cell["rounds"]).mean() if "total_joules" in cell else math.nan
    return float(EFFECT_ROUNDS * per_round)


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
            base = {
                **dict(zip(CELL, keys, strict=True)),
                "strategy_a": a,
                "strategy_b": b,
                "seeds": len(seeds),
                "a_reached": int(left.loc[seeds, "rounds_to_target"].notna().sum()),
                "b_reached": int(right.loc[seeds, "rounds_to_target"].notna().sum()),
            }
            for metric in METRICS:
                if metric not in cell or cell[metric].isna().all():
                    continue
                diff = (left.loc[seeds, metric] - right.loc[seeds, metric]).dropna().to_numpy(float)
                rows.append({**base, "metric": metric, **_paired(diff, effect_of(metric, cell), seed)})
            for metric, horizon in CENSORED.items():
                if metric in cell and horizon in cell and cell[metric].notna().any():
                    censored = _censored(left.loc[seeds], right.loc[seeds], metric, horizon)
                    rows.append({**base, "metric": f"{metric}_censored", **censored})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["p_holm"] = holm(frame["test_p"].to_numpy(float))
    return frame


def _paired(diff: np.ndarray, effect: float, seed: int) -> dict[str, float | int | bool]:
    enough = len(diff) >= MIN_PAIRS
    low, high = t_interval(diff) if enough else (math.nan, math.nan)
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else math.nan
    needed = seeds_needed(sd, effect) if enough else math.nan
    flip = sign_flip_p(diff, seed=seed) if enough else math.nan
    return {
        "pairs": len(diff),
        "mean_difference": float(diff.mean()) if len(diff) else math.nan,
        "median_difference": float(np.median(diff)) if len(diff) else math.nan,
        "ci_low": low,
        "ci_high": high,
        "sign_flip_p": flip,
        "wilcoxon_p": wilcoxon_p(diff),
        "test_p": flip,
        "sd_difference": sd,
        "effect": effect,
        "seeds_needed": needed,
        "powered": bool(enough and needed <= len(diff)),
    }


def _censored(
    left: pd.DataFrame, right: pd.DataFrame, metric: str, horizon: str
) -> dict[str, float | int | bool]:
    """Restricted mean time to target of A minus B (censored at each study's horizon) and log-rank p."""

    def times(side: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        reached = side[metric].notna().to_numpy()
        t = np.where(reached, side[metric].to_numpy(float), side[horizon].to_numpy(float))
        return t, reached.astype(int)

    ta, ea = times(left)
    tb, eb = times(right)
    ok = ~(np.isnan(ta) | np.isnan(tb))
    ta, ea, tb, eb = ta[ok], ea[ok], tb[ok], eb[ok]
    enough = len(ta) >= MIN_PAIRS
    if not enough:
        return {
            "pairs": len(ta),
            "mean_difference": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "test_p": math.nan,
            "logrank_p": math.nan,
            "powered": False,
        }
    # The restricted mean's horizon: the shortest study's last round (or its total joules), where
    # every seed of both strategies has been followed.
    end = float(np.nanmin(np.concatenate([left[horizon].to_numpy(float), right[horizon].to_numpy(float)])))
    mean_a, var_a = rmst(ta, ea, end)
    mean_b, var_b = rmst(tb, eb, end)
    half = 1.959964 * math.sqrt(var_a + var_b)
    p = logrank_p(ta, ea, tb, eb)
    difference = mean_a - mean_b
    return {
        "pairs": len(ta),
        "mean_difference": difference,
        "ci_low": difference - half,
        "ci_high": difference + half,
        "test_p": p,
        "logrank_p": p,
        "horizon": end,
        "powered": False,
    }


def verdict(row: pd.Series) -> str:
    """A reading of one comparison that never outruns its evidence: a finding only where the corrected
    test and the interval agree."""
    if row["pairs"] < MIN_PAIRS:
        return f"cannot tell ({row['pairs']} paired seeds; {MIN_PAIRS} needed)"
    metric = str(row.get("metric", "")).removesuffix("_censored")
    higher_is_better = metric in HIGHER_IS_BETTER
    low, high = row["ci_low"], row["ci_high"]
    corrected = row.get("p_holm", row.get("test_p", math.nan))
    significant = isinstance(corrected, float) and corrected < ALPHA
    if low > 0 and significant:
        return f"{row['strategy_a']} finds higher" if higher_is_better else f"{row['strategy_b']} needs less"
    if high < 0 and significant:
        return f"{row['strategy_b']} finds higher" if higher_is_better else f"{row['strategy_a']} needs less"
    effect = row.get("effect", math.nan)
    if isinstance(effect, float) and effect > 0 and -effect < low and high < effect:
        return f"no difference as large as {effect:,.3g}"
    p_text = "–" if not isinstance(corrected, float) or math.isnan(corrected) else f"{corrected:.3g}"
    return f"cannot tell (corrected p {p_text})"


def _settings(row: pd.Series) -> str:
    return f" ({row['settings']})" if row.get("settings") else ""


def markdown_comparisons(comparisons: pd.DataFrame) -> str:
    if comparisons.empty:
        return ""
    most = int(comparisons["pairs"].max())
    if most < MIN_PAIRS:  # nothing to read but "cannot tell": say once how to get a comparison
        return (
            f"No comparison yet: {most} paired seed(s) per cell, and an interval needs {MIN_PAIRS}. Run "
            f"the same sweep over more seeds (study.seed=range(0,{MIN_PAIRS}) or more) and report them "
            f"together.\n"
        )

    def fmt(value: float, digits: int) -> str:
        return "–" if isinstance(value, float) and math.isnan(value) else f"{value:,.{digits}f}"

    lines = [
        "| dataset | model | space | A - B | metric | paired seeds | reached A / B | mean difference "
        "| 95% interval | sign-flip p | Holm p | paired sd | seeds for 80% power | reading |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, r in comparisons.iterrows():
        metric = str(r["metric"]).removesuffix("_censored")
        digits = {"rounds_to_target": 1, "rounds_to_best": 1, "best_accuracy": 4, "test_accuracy": 4}.get(
            metric, 0
        )
        interval = (
            "–" if math.isnan(r["ci_low"]) else f"[{fmt(r['ci_low'], digits)}, {fmt(r['ci_high'], digits)}]"
        )
        reached = f"{r['a_reached']}/{r['seeds']} vs {r['b_reached']}/{r['seeds']}"
        test = (
            "log-rank " + fmt(r["test_p"], 3)
            if str(r["metric"]).endswith("_censored")
            else fmt(r["test_p"], 3)
        )
        needed = r.get("seeds_needed", math.nan)
        sd = r.get("sd_difference", math.nan)
        power = "–" if not isinstance(needed, float) or math.isnan(needed) else f"{needed:,.0f}"
        if power != "–":
            power += " (had)" if r.get("powered") else " (not had)"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['space']}{_settings(r)} "
            f"| {r['strategy_a']} - {r['strategy_b']} "
            f"| {r['metric']} | {r['pairs']} | {reached} | {fmt(r['mean_difference'], digits)} "
            f"| {interval} | {test} | {fmt(r['p_holm'], 3)} | {fmt(sd, digits)} | {power} | {verdict(r)} |"
        )
    return "\n".join(lines) + "\n"
