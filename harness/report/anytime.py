"""Anytime performance, as HPO papers compare optimisers: how good each strategy's best-so-far is after
a given number of rounds (and joules), over seeds, and how the strategies rank across cells.

- ``anytime``: per cell and strategy, at rounds 1, 2, 4, ... up to the last, the mean best-so-far
  accuracy over seeds with Student's t 95% interval, and the regret (the cell's reference optimum
  minus it: the replay table's best candidate where the report was given ``--table``, else the best
  accuracy any study of the cell reached). Also the mean cumulative joules at that round.
- ``ranks``: per cell, each strategy's rank by its mean final best-so-far (1 = best), averaged over
  cells, with the Nemenyi critical difference at 5% when there are several cells: two strategies
  whose average ranks differ by less than it are not told apart.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.load import study_slices
from harness.report.reduce import GROUP
from harness.report.stats import t_interval

# Studentised range q(0.05, k) / sqrt(2) for k = 2..10 strategies (Demsar 2006, Table 5a).
NEMENYI_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}


def _checkpoints(last: int) -> list[int]:
    points, r = [], 1
    while r < last:
        points.append(r)
        r *= 2
    return [*points, last]


def best_so_far(trials: pd.DataFrame) -> pd.DataFrame:
    """Per study and round: cumulative joules (empty from the first round without a reading, never a
    partial sum) and the best accuracy reached so far."""
    t, starts, ends = study_slices(trials)
    accuracy = t["accuracy"].to_numpy(float)
    energy = t["energy_j"].to_numpy(float)
    best = np.empty(len(t))
    cumulative = np.empty(len(t))
    for start, end in zip(starts, ends, strict=True):
        a = np.where(np.isnan(accuracy[start:end]), -np.inf, accuracy[start:end])
        b = np.maximum.accumulate(a)
        best[start:end] = np.where(b == -np.inf, np.nan, b)
        e = energy[start:end]
        missing = np.isnan(e)
        summed = np.cumsum(np.where(missing, 0.0, e))  # as Series.cumsum: each reading added in turn
        cumulative[start:end] = np.where(np.cumprod(~missing).astype(bool), summed, np.nan)
    return t.assign(best_so_far=best, cumulative_j=cumulative)


def anytime(trials: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Mean best-so-far (and regret) per cell, strategy and checkpoint round, over seeds."""
    rows = []
    optimum = _optimum(summary)
    for keys, cell in best_so_far(trials).groupby(GROUP, sort=True):
        reference = optimum.get(keys, float(cell["accuracy"].max()))
        for strategy, frame in cell.groupby("strategy", sort=True):
            last = int(frame["round"].max())
            curves = []
            ordered, starts, ends = study_slices(frame)
            best_all, joules_all = ordered["best_so_far"].to_numpy(), ordered["cumulative_j"].to_numpy()
            for start, end in zip(starts, ends, strict=True):
                best, joules = best_all[start:end], joules_all[start:end]
                # A study that stopped early carries its best (and its joules) forward.
                full = np.full(last, best[-1] if len(best) else np.nan)
                spent = np.full(last, joules[-1] if len(joules) else np.nan)
                full[: len(best)], spent[: len(joules)] = best, joules
                curves.append((full, spent))
            for r in _checkpoints(last):
                values = np.array([c[0][r - 1] for c in curves], dtype=float)
                values = values[np.isfinite(values)]
                spent = np.array([c[1][r - 1] for c in curves], dtype=float)
                low, high = t_interval(values) if len(values) >= 2 else (math.nan, math.nan)
                mean = float(values.mean()) if len(values) else math.nan
                rows.append(
                    {
                        **dict(zip(GROUP, keys, strict=True)),
                        "strategy": strategy,
                        "round": r,
                        "seeds": len(values),
                        "best_so_far_mean": mean,
                        "best_so_far_ci_low": low,
                        "best_so_far_ci_high": high,
                        "regret_mean": reference - mean,
                        "reference": reference,
                        "joules_mean": float(np.nanmean(spent)) if np.isfinite(spent).any() else math.nan,
                    }
                )
    return pd.DataFrame(rows)


def _optimum(summary: pd.DataFrame) -> dict[tuple, float]:
    """The table optimum of each replayed cell, where the report was given the table (--table)."""
    if "table_optimum" not in summary or summary["table_optimum"].isna().all():
        return {}
    known = summary.dropna(subset=["table_optimum"])
    return {tuple(k): float(v) for k, v in known.groupby(GROUP)["table_optimum"].first().items()}


def ranks(curves: pd.DataFrame) -> pd.DataFrame:
    """Each strategy's rank per cell by its final mean best-so-far, averaged over cells that have
    every strategy, with the Nemenyi critical difference (5%) for that many cells and strategies."""
    if curves.empty:
        return pd.DataFrame()
    final = curves.loc[curves.groupby([*GROUP, "strategy"])["round"].idxmax()]
    table = final.pivot_table(index=GROUP, columns="strategy", values="best_so_far_mean").dropna()
    if table.empty or table.shape[1] < 2:
        return pd.DataFrame()
    per_cell = table.rank(axis=1, ascending=False)
    k, n = table.shape[1], len(table)
    q = NEMENYI_Q05.get(k, math.nan)
    cd = q * math.sqrt(k * (k + 1) / (6 * n)) if n > 1 else math.nan
    out = pd.DataFrame({"strategy": per_cell.columns, "average_rank": per_cell.mean().to_numpy()})
    out["cells"] = n
    out["critical_difference"] = cd
    return out.sort_values("average_rank").reset_index(drop=True)


def markdown_anytime(curves: pd.DataFrame, rank_table: pd.DataFrame) -> str:
    if curves.empty:
        return ""
    lines = [
        "| dataset | model | space | strategy | round | seeds | best-so-far (mean) | 95% interval | regret "
        "| joules (mean) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, r in curves.iterrows():
        interval = (
            "–"
            if math.isnan(r["best_so_far_ci_low"])
            else f"[{r['best_so_far_ci_low']:.4f}, {r['best_so_far_ci_high']:.4f}]"
        )
        settings = f" ({r['settings']})" if r.get("settings") else ""
        joules = "–" if math.isnan(r["joules_mean"]) else f"{r['joules_mean']:,.0f}"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['space']}{settings} | {r['strategy']} | {r['round']} "
            f"| {r['seeds']} | {r['best_so_far_mean']:.4f} | {interval} | {r['regret_mean']:.4f} | {joules} |"
        )
    text = "\n".join(lines) + "\n"
    if not rank_table.empty:
        cd = rank_table["critical_difference"].iloc[0]
        text += (
            f"\nAverage rank by final best-so-far over {int(rank_table['cells'].iloc[0])} cells "
            f"(1 = best; Nemenyi critical difference at 5%: "
            f"{'–' if math.isnan(cd) else f'{cd:.2f}'}):\n\n| strategy | average rank |\n|---|---:|\n"
        )
        text += "".join(f"| {r['strategy']} | {r['average_rank']:.2f} |\n" for _, r in rank_table.iterrows())
    return text
