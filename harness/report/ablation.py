"""The layer ablation (RQ2 of the paper): how a round's energy and accuracy change with one factor of
the architecture (conv layers 1 -> 4, linear layers 3 -> 7, ReLU off -> on), the other factors
averaged over, as the paper reports them (+95% energy from 1 to 4 conv layers on Fashion-MNIST).

For each factor with exactly two levels within a (origin, dataset, model, space, strategy) group: the
mean energy per round at each level, the change in percent, and the mean accuracy per level. The
95% interval is Student's t over pairs: each study at the first level is paired with the study at
the second that shares its seed and every other factor (the paper's crossed design), and the
interval is of the mean log ratio of their energies per round, shown as a percent change (so it
brackets the geometric-mean change, ``energy_change_geo_pct``, beside the ratio of means). Where
studies do not pair up, Welch's t interval on the log energies of the two levels. No interval below
MIN_SEEDS studies per level, with ``pairs`` saying how many pairs there were.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.load import LAYER_COLUMNS
from harness.report.metrics import MIN_SEEDS

KEY = ["origin", "dataset", "model", "space", "strategy"]


def _change_ci(lo: pd.DataFrame, hi: pd.DataFrame, keys: list[str]) -> tuple[float, float, float, int]:
    """(low, high, geometric-mean change) in percent, and how many pairs the interval used."""
    from scipy import stats as scipy_stats

    from harness.report.stats import t_interval

    if len(lo) < MIN_SEEDS or len(hi) < MIN_SEEDS:
        return math.nan, math.nan, math.nan, 0
    paired = lo.merge(hi, on=keys, suffixes=("_lo", "_hi")) if keys else pd.DataFrame()
    if len(paired) >= MIN_SEEDS and len(paired) == len(lo) == len(hi):
        logs = np.log(paired["energy_j_hi"].to_numpy(float) / paired["energy_j_lo"].to_numpy(float))
        low, high = t_interval(logs)
        mean, pairs = float(logs.mean()), len(logs)
    else:  # Welch's t on the log energies of the two levels
        a, b = np.log(lo["energy_j"].to_numpy(float)), np.log(hi["energy_j"].to_numpy(float))
        mean = float(b.mean() - a.mean())
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else np.inf
        half = float(scipy_stats.t.ppf(0.975, df)) * math.sqrt(va + vb)
        low, high, pairs = mean - half, mean + half, 0
    return 100 * (math.exp(low) - 1), 100 * (math.exp(high) - 1), 100 * (math.exp(mean) - 1), pairs


def ablation(trials: pd.DataFrame) -> pd.DataFrame:
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
            seed=("seed", "first"),
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
            others = ["seed", *(f for f in factors if f != factor)]
            columns = [*others, "energy_j"]
            ci_low, ci_high, geo, pairs = _change_ci(lo[columns].dropna(), hi[columns].dropna(), others)
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
                    "energy_change_geo_pct": geo,
                    "energy_change_ci_low": ci_low,
                    "energy_change_ci_high": ci_high,
                    "pairs": pairs,
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
        "| energy change | 95% t interval (geometric change) | pairs | mean accuracy |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, r in table.iterrows():
        interval = (
            "–"
            if math.isnan(r["energy_change_ci_low"])
            else f"[{r['energy_change_ci_low']:+.0f}%, {r['energy_change_ci_high']:+.0f}%] "
            f"({r['energy_change_geo_pct']:+.0f}%)"
        )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['strategy']} | {r['factor']} | {r['from']} → {r['to']} "
            f"| {r['studies_from']} / {r['studies_to']} "
            f"| {r['energy_per_round_from_j']:,.1f} → {r['energy_per_round_to_j']:,.1f} "
            f"| {r['energy_change_pct']:+.0f}% | {interval} | {r['pairs'] or 'unpaired'} "
            f"| {r['accuracy_from']:.4f} → {r['accuracy_to']:.4f} |"
        )
    return "\n".join(lines) + "\n"
