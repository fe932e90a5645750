"""The layer ablation (RQ2 of the paper): how a round's energy and accuracy change with one factor of
the architecture (conv layers 1 -> 4, linear layers 3 -> 7, ReLU off -> on), the other factors
averaged over, as the paper reports them (+95% energy from 1 to 4 conv layers on Fashion-MNIST).

For each factor with exactly two levels within a (origin, dataset, model, space, strategy) group: the
mean energy per round at each level, the change in percent with a 95% bootstrap interval (studies
resampled within each level: a study is one configuration and seed), and the mean accuracy per
level. No interval below MIN_SEEDS studies per level.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.load import LAYER_COLUMNS
from harness.report.metrics import BOOTSTRAP_RESAMPLES, MIN_SEEDS

KEY = ["origin", "dataset", "model", "space", "strategy"]


def _change_ci(lo: np.ndarray, hi: np.ndarray, seed: int) -> tuple[float, float]:
    if len(lo) < MIN_SEEDS or len(hi) < MIN_SEEDS:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    a = rng.choice(lo, size=(BOOTSTRAP_RESAMPLES, len(lo))).mean(axis=1)
    b = rng.choice(hi, size=(BOOTSTRAP_RESAMPLES, len(hi))).mean(axis=1)
    low, high = np.percentile(100 * (b / a - 1), [2.5, 97.5])
    return float(low), float(high)


def ablation(trials: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per (group, factor); empty when no factor varies."""
    factors = [c for c in LAYER_COLUMNS if c in trials.columns]
    rows: list[dict[str, object]] = []
    if not factors:
        return pd.DataFrame(rows)
    done = trials[trials["status"] == "complete"]
    for keys, group in done.groupby(KEY, sort=True):
        per_study = group.groupby("study").agg(
            energy_j=("energy_j", "mean"),
            accuracy=("accuracy", "mean"),
            **{f: (f, "first") for f in factors},
        )
        for factor in factors:
            levels = sorted(per_study[factor].dropna().unique())
            if len(levels) != 2:
                continue
            lo = per_study[per_study[factor] == levels[0]]
            hi = per_study[per_study[factor] == levels[1]]
            e_lo, e_hi = lo["energy_j"].dropna().to_numpy(float), hi["energy_j"].dropna().to_numpy(float)
            if not len(e_lo) or not len(e_hi):
                continue
            ci_low, ci_high = _change_ci(e_lo, e_hi, seed)
            rows.append(
                {
                    **dict(zip(KEY, keys, strict=True)),
                    "factor": factor,
                    "from": str(levels[0]),  # one type per column (ints and booleans mix)
                    "to": str(levels[1]),
                    "studies_from": len(e_lo),
                    "studies_to": len(e_hi),
                    "energy_per_round_from_j": float(e_lo.mean()),
                    "energy_per_round_to_j": float(e_hi.mean()),
                    "energy_change_pct": float(100 * (e_hi.mean() / e_lo.mean() - 1)),
                    "energy_change_ci_low": ci_low,
                    "energy_change_ci_high": ci_high,
                    "accuracy_from": float(lo["accuracy"].mean()),
                    "accuracy_to": float(hi["accuracy"].mean()),
                }
            )
    return pd.DataFrame(rows)


def markdown_ablation(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    lines = [
        "| dataset | model | strategy | factor | from → to | studies | energy per round (J) "
        "| energy change | 95% interval | mean accuracy |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for _, r in table.iterrows():
        interval = (
            "–"
            if math.isnan(r["energy_change_ci_low"])
            else f"[{r['energy_change_ci_low']:+.0f}%, {r['energy_change_ci_high']:+.0f}%]"
        )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['strategy']} | {r['factor']} | {r['from']} → {r['to']} "
            f"| {r['studies_from']} / {r['studies_to']} "
            f"| {r['energy_per_round_from_j']:,.1f} → {r['energy_per_round_to_j']:,.1f} "
            f"| {r['energy_change_pct']:+.0f}% | {interval} "
            f"| {r['accuracy_from']:.4f} → {r['accuracy_to']:.4f} |"
        )
    return "\n".join(lines) + "\n"
