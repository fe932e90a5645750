"""Table III of the paper beside this reduction of its own CSVs, and the paper's claim tested on its
12 cells with the report's paired statistics. Appends (or replaces) a section of summary.md.

    .venv/bin/python studies/paper_rq1/table3.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from scipy.stats import wilcoxon

from harness.report.stats import seeds_needed, sign_flip_p, t_interval

HERE = Path(__file__).resolve().parent
MARK = "## Table III beside this reduction"
TABLE_III = {"all 12 cells": 26.5, "without two outliers": 22.5}  # the paper's Bayesian rounds to optimum


def main() -> None:
    s = pd.read_csv(HERE / "summary.csv")
    cells = s.pivot_table(index=["dataset", "model", "space"], columns="strategy", values="rounds_to_best")
    bayes = cells["bayes_pi"]
    outliers = bayes.nlargest(2)
    rest = bayes.drop(outliers.index)
    lines = [
        MARK,
        "",
        "Rounds until the Bayesian search (GP-PI) first reached its study's best accuracy, averaged over",
        "the 12 dataset x model x space cells of the published RQ1 CSVs:",
        "",
        "| | Table III | this reduction, 1-based rounds | the same, 0-based as in the CSVs |",
        "|---|---:|---:|---:|",
        f"| all 12 cells | {TABLE_III['all 12 cells']} | {bayes.mean():.1f} | {bayes.mean() - 1:.1f} |",
        f"| without the two largest ({', '.join(f'{v:.0f}' for v in outliers)}) "
        f"| {TABLE_III['without two outliers']} | {rest.mean():.1f} | {rest.mean() - 1:.1f} |",
        "",
        "The gap: the CSVs count rounds from 0 (this reduction from 1, as trials.csv does), which explains",
        "1 round of it. Which two cells Table III leaves out is not said; the two largest are taken here.",
        "The remaining 1.2 rounds (all cells) are not explained by the CSVs: no tolerance on 'reached its",
        "best' reproduces both figures (harness-report --tolerance 0.002 gives 22.5 over all 12 cells).",
        "",
        "**The paper's claim on its own 12 cells** (Bayesian reaches its optimum sooner than random),",
        "paired by cell, with the statistics the report uses:",
        "",
        "| A - B | cells | mean difference (rounds) | t 95% interval | sign-flip p | Wilcoxon p | paired sd | cells for 80% power at 10 rounds | reading |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for other in ("random", "grid"):
        d = (cells["bayes_pi"] - cells[other]).to_numpy(float)
        low, high = t_interval(d)
        flip, wil = sign_flip_p(d), float(wilcoxon(d).pvalue)
        sd = float(d.std(ddof=1))
        reading = "cannot tell" if not (high < 0 or low > 0) or flip >= 0.05 else "Bayesian sooner"
        lines.append(
            f"| bayes_pi - {other} | {len(d)} | {d.mean():.1f} | [{low:.1f}, {high:.1f}] | {flip:.3f} "
            f"| {wil:.3f} | {sd:.1f} | {seeds_needed(sd, 10.0):.0f} | {reading} |"
        )
    lines += [
        "",
        "One search per cell, and cells differ in data and model: the 12 differences are the only",
        "replication the published study has, and they cannot tell a 10-round effect from none.",
        "",
    ]
    summary = HERE / "summary.md"
    text = summary.read_text()
    text = text.split(MARK)[0].rstrip() + "\n\n" + "\n".join(lines)
    summary.write_text(text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
