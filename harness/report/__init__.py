"""Reduce trial tables to rounds and joules to optimal accuracy; plot convergence against energy.

Reads tables only (pandas, matplotlib): never imports torch, training, energy or search code.

    from harness.report import load, reduce_studies, reduce_strategies, Definitions
    trials = load(["runs/main"]).trials
    summary = reduce_studies(trials, Definitions())
"""

from __future__ import annotations

from harness.report.load import load
from harness.report.paper import read_paper_csv
from harness.report.reduce import Definitions, markdown_table, reduce_strategies, reduce_studies

__all__ = [
    "Definitions",
    "load",
    "markdown_table",
    "read_paper_csv",
    "reduce_strategies",
    "reduce_studies",
]
