"""The claims of Yarally et al. (CAIN 2023) read from the replayed studies' report: for each claim and
cell, the seeds, the paired effect with its t interval, the corrected test, the power, and the reading.

    .venv/bin/python studies/replay/verdict.py studies/replay/report > studies/replay/verdict.md
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

# (claim, strategy A, strategy B, metric): what each claim of the paper says, as a paired comparison.
CLAIMS = [
    ("Bayesian reaches its optimum sooner than random (rounds to its own best)", "bayes_pi", "random", "rounds_to_best"),
    ("… and sooner than grid", "bayes_pi", "grid", "rounds_to_best"),
    ("Bayesian reaches the shared target sooner than random (censored rounds to target)", "bayes_pi", "random", "rounds_to_target_censored"),
    ("… and sooner than grid", "bayes_pi", "grid", "rounds_to_target_censored"),
    ("Bayesian finds a better optimum than random (best accuracy)", "bayes_pi", "random", "best_accuracy"),
    ("… than grid", "bayes_pi", "grid", "best_accuracy"),
    ("Bayesian's optimum costs fewer joules than random's, its own search counted", "bayes_pi", "random", "joules_to_target_with_search"),
    ("Random reaches the shared target sooner than grid (censored rounds to target)", "grid", "random", "rounds_to_target_censored"),
    ("Random finds a better optimum than grid (best accuracy)", "grid", "random", "best_accuracy"),
    ("Median pruning saves joules to the target (random)", "random", "random+median", "joules_to_target_censored"),
    ("Median pruning costs accuracy (random)", "random", "random+median", "best_accuracy"),
]
DIGITS = {"rounds_to_best": 1, "rounds_to_target_censored": 1, "best_accuracy": 4}


def cell_name(row: pd.Series) -> str:
    tokens = str(row["settings"]).split("-")
    tail = [t for t in tokens if t.startswith("h")]
    return f"{row['dataset']} / {row['model']}" + (f" (replay {tail[-1]})" if tail else "")


def fmt(value: float, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def main() -> None:
    report = Path(sys.argv[1])
    comparisons = pd.read_csv(report / "comparisons.csv")
    comparisons["settings"] = comparisons["settings"].fillna("")
    from harness.report.compare import verdict

    print("| claim | cell | seeds (pairs) | A − B | 95% interval | test p | Holm p | seeds for 80% power | reading |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for claim, a, b, metric in CLAIMS:
        pair = {a, b}
        rows = comparisons[
            (comparisons["metric"] == metric)
            & comparisons.apply(lambda r: {r["strategy_a"], r["strategy_b"]} == pair, axis=1)
        ]
        for _, r in rows.iterrows():
            sign = 1.0 if (r["strategy_a"], r["strategy_b"]) == (a, b) else -1.0
            digits = DIGITS.get(metric, 0)
            low, high = sign * r["ci_low"], sign * r["ci_high"]
            low, high = min(low, high), max(low, high)
            needed = r.get("seeds_needed", math.nan)
            power = "–"
            if isinstance(needed, float) and not math.isnan(needed):
                power = f"{needed:,.0f} ({'had' if r['powered'] else 'not had'})"
            test = ("log-rank " if metric.endswith("_censored") else "sign-flip ") + fmt(r["test_p"], 3)
            print(
                f"| {claim} | {cell_name(r)} | {r['seeds']} ({r['pairs']}) | {fmt(sign * r['mean_difference'], digits)} "
                f"| [{fmt(low, digits)}, {fmt(high, digits)}] | {test} | {fmt(r['p_holm'], 3)} | {power} | {verdict(r)} |"
            )


if __name__ == "__main__":
    main()
