"""The evidence table of studies/energy_aware from the reducer's summary_by_strategy.csv.

For each cell (data set, model) and strategy: how many seeds reached the shared target, the median
joules to reach it with its 95% bootstrap interval (training and evaluation only, then with the search's
own joules), and whether the strategy meets the goal against bayes_pi: at most half its median joules,
in at least as many seeds.

    .venv/bin/python studies/energy_aware/verdict.py studies/energy_aware/summary_by_strategy.csv
"""

from __future__ import annotations

import math
import sys

import pandas as pd

BASELINE = "bayes_pi"


def joules(row: pd.Series, prefix: str) -> str:
    median, low, high = (row[f"{prefix}_median{s}"] for s in ("", "_ci_low", "_ci_high"))
    if math.isnan(median):
        return "–"
    return f"{median:,.1f}" + ("" if math.isnan(low) else f" [{low:,.1f}, {high:,.1f}]")


def goal(row: pd.Series, base: pd.Series, prefix: str) -> str:
    if row["strategy"] == BASELINE:
        return "baseline"
    mine, theirs = row[f"{prefix}_median"], base[f"{prefix}_median"]
    if math.isnan(mine) or math.isnan(theirs):
        return "cannot tell"
    ratio = mine / theirs
    met = ratio <= 0.5 and row["reached_target"] >= base["reached_target"]
    return f"{ratio:.2f}x: {'met' if met else 'not met'}"


def main(path: str) -> None:
    table = pd.read_csv(path)
    print("| data set | model | strategy | reached target | joules to target | goal | with search | goal |")
    print("|---|---|---|---:|---:|---|---:|---|")
    for (dataset, model), cell in table.groupby(["dataset", "model"], sort=True):
        base = cell[cell["strategy"] == BASELINE].iloc[0]
        for _, row in cell.sort_values("strategy").iterrows():
            print(
                f"| {dataset} | {model} | {row['strategy']} | {row['reached_target']}/{row['seeds']} "
                f"| {joules(row, 'joules_to_target')} | {goal(row, base, 'joules_to_target')} "
                f"| {joules(row, 'joules_to_target_with_search')} "
                f"| {goal(row, base, 'joules_to_target_with_search')} |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
