"""`harness-report INPUT... --out DIR`: reduce trial tables to rounds and joules to optimal accuracy."""

from __future__ import annotations

from harness.signals import stop_with_one_line

# Before pandas and matplotlib load: a signal at any moment gives one line, not a traceback.
stop_with_one_line(
    "harness-report",
    "stopped; each report file is whole or not written (they are written atomically): "
    "run the same command again",
)

import argparse
import math
import sys
from pathlib import Path
from typing import NoReturn

import pandas as pd

from harness.atomic import replacing, write_atomic
from harness.errors import HarnessError
from harness.report import carbon
from harness.report.ablation import ablation, markdown_ablation
from harness.report.anytime import anytime, markdown_anytime, ranks
from harness.report.compare import MIN_PAIRS, compare_strategies, markdown_comparisons
from harness.report.load import load
from harness.report.metrics import DEFAULT_CARBON_G_PER_KWH, MIN_SEEDS
from harness.report.paper import PAPER_REPETITIONS, read_paper_csv
from harness.report.reduce import (
    Definitions,
    duplicate_seeds,
    markdown_table,
    pareto_rounds,
    reduce_strategies,
    reduce_studies,
    truthy,
)


class _OneLineParser(argparse.ArgumentParser):
    """Misused options are one line, exit 2, like every other bad input (not the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="harness-report",
        description="Reduce trial tables: rounds and joules each strategy needed to reach its optimum.",
    )
    p.add_argument(
        "inputs", nargs="*", help="run or sweep directories, trials CSV/Parquet files, storage URLs"
    )
    p.add_argument("--out", type=Path, required=True, help="directory for summary.csv, summary.md and plots")
    p.add_argument(
        "--paper",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a published RQ1 CSV of Yarally et al. to reduce beside ours (repeatable)",
    )
    p.add_argument(
        "--paper-repetitions",
        type=int,
        default=PAPER_REPETITIONS,
        help="trainings per published round; their energy column is per training (default 8)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="rounds_to_best counts the first round within this of the study's best (default 0)",
    )
    p.add_argument(
        "--delta",
        type=float,
        default=0.01,
        help="target = best accuracy of the (dataset, model, space) group minus delta (default 0.01)",
    )
    p.add_argument(
        "--target", type=float, default=None, help="an absolute accuracy target instead of --delta"
    )
    p.add_argument("--gqi-alpha", type=float, default=1.0, help="GQI's accuracy exponent (default 1)")
    p.add_argument("--gqi-beta", type=float, default=1.0, help="GQI's scale factor (default 1)")
    p.add_argument(
        "--net", action="store_true", help="use joules net of idle power (studies run with meter.idle_s > 0)"
    )
    p.add_argument(
        "--with-search",
        action="store_true",
        help="count the search's own joules (suggest_j) in every round's energy, plots included",
    )
    carbon = p.add_mutually_exclusive_group()
    carbon.add_argument(
        "--carbon-intensity",
        type=float,
        metavar="G",
        help=f"grams CO2e per kWh of the electricity (default {DEFAULT_CARBON_G_PER_KWH:g}: the world's "
        "average in 2023, Ember's Global Electricity Review 2024); give your grid's",
    )
    carbon.add_argument(
        "--carbon-region",
        metavar="REGION",
        help="the grid's intensity from CodeCarbon's offline data (pip install -e '.[carbon]'): a country "
        "by ISO code or name (FRA, France) or a US state (USA/california)",
    )
    p.add_argument(
        "--pue",
        type=float,
        default=1.0,
        help="power usage effectiveness of the site: facility energy per IT energy (default 1: none "
        "added; data centres average about 1.56)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="J",
        help="also report each strategy's best accuracy within J joules of search (its own energy included)",
    )
    p.add_argument(
        "--mlflow",
        metavar="URI",
        help="also write each study as an MLflow run to this tracking store (e.g. sqlite:///mlflow.db)",
    )
    p.add_argument("--mlflow-experiment", default="harness", help="the MLflow experiment (default harness)")
    p.add_argument(
        "--table",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="a replay table (harness-table's folder): its replayed studies' target is its best candidate's "
        "expected accuracy minus --delta, instead of the best of the group (repeatable)",
    )
    p.add_argument("--svg", action="store_true", help="write SVG beside every PNG")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    return p


def table_optima(folders: list[Path]) -> dict[str, float]:
    """Each replay table's digest -> its best candidate's expected accuracy (from its manifest)."""
    import json

    optima = {}
    for folder in folders:
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            optima[str(manifest["digest"])] = float(manifest["best_mean_score"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(
                f"--table {folder}: its manifest.json gives no digest and best_mean_score ({exc}); "
                f"give a folder harness-table wrote"
            ) from None
    return optima


def report(args: argparse.Namespace) -> int:
    numbers = ("tolerance", "delta", "target", "gqi_alpha", "gqi_beta", "carbon_intensity", "pue", "budget")
    for option in numbers:
        value = getattr(args, option)
        if value is not None and not math.isfinite(value):
            flag = "--" + option.replace("_", "-")
            raise HarnessError(f"{flag}={value:g}: give a finite number (see harness-report --help)")
    if args.tolerance < 0 or args.delta < 0:
        raise HarnessError("--tolerance and --delta must not be negative")
    if args.budget is not None and args.budget <= 0:
        raise HarnessError(f"--budget={args.budget:g} must be a positive number of joules")
    if (args.carbon_intensity is not None and args.carbon_intensity < 0) or args.pue < 1:
        raise HarnessError("--carbon-intensity must be 0 or more (gCO2e/kWh) and --pue at least 1")
    intensity = (
        carbon.by_region(args.carbon_region)
        if args.carbon_region is not None
        else carbon.given(args.carbon_intensity)
        if args.carbon_intensity is not None
        else carbon.WORLD_2023
    )
    if args.target is not None and not 0 < args.target <= 1:
        raise HarnessError(f"--target={args.target} must be an accuracy in (0, 1]")
    if not args.inputs and not args.paper:
        raise HarnessError(
            "give at least one input (a run directory, trials.csv or storage URL) or --paper FILE"
        )
    papers = [read_paper_csv(p, repetitions=args.paper_repetitions) for p in args.paper]
    loaded = load(args.inputs, extra=papers)
    if args.net:
        net = pd.to_numeric(loaded.trials.get("energy_net_j", pd.Series(dtype=float)), errors="coerce")
        if net.isna().all():
            raise HarnessError("--net needs energy_net_j, recorded by studies run with meter.idle_s > 0")
        loaded.trials["energy_j"] = net.reindex(loaded.trials.index)
    if args.with_search:
        search = pd.to_numeric(loaded.trials.get("suggest_j", pd.Series(dtype=float)), errors="coerce")
        if search.isna().all():
            raise HarnessError("--with-search needs suggest_j, recorded by studies of this harness version")
        loaded.trials["energy_j"] = loaded.trials["energy_j"] + search.reindex(loaded.trials.index)
    definitions = Definitions(
        args.tolerance,
        args.delta,
        args.target,
        args.gqi_alpha,
        args.gqi_beta,
        search_counted=args.with_search,
        budget_j=args.budget,
        carbon_g_per_kwh=intensity.g_per_kwh,
        pue=args.pue,
        table_optima=table_optima(args.table),
    )
    summary = reduce_studies(loaded.trials, definitions)
    for warning in duplicate_seeds(summary):
        print(f"harness-report: warning: {warning}", file=sys.stderr)
    by_strategy = reduce_strategies(summary)
    comparisons = compare_strategies(summary)
    curves = anytime(loaded.trials, summary)
    rank_table = ranks(curves)
    layers = ablation(loaded.trials)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("summary", summary),
        ("summary_by_strategy", by_strategy),
        ("comparisons", comparisons),
        ("anytime", curves),
        *([("ablation", layers)] if not layers.empty else []),
        ("pareto", pareto_rounds(loaded.trials)),
    ):
        write_atomic(out / f"{name}.csv", frame.to_csv(index=False))
        with replacing(out / f"{name}.parquet") as tmp:  # typed columns for pandas, polars, DuckDB
            frame.to_parquet(tmp, index=False)
    table = markdown_table(by_strategy)
    # Sources of several domains are joined with "+" (nvml_counter+estimate): look at each part.
    domains = {part for source in loaded.trials["energy_source"].unique() for part in source.split("+")}
    estimated = sorted(domains & {"estimate", "none", ""})
    notes = []
    if estimated:
        notes.append(
            f"Energy sources include {', '.join(s or 'missing' for s in estimated)}: "
            "these joules are not hardware readings."
        )
    shared = int(summary["shared_counter_rounds"].sum())
    if shared:
        notes.append(
            f"{shared} round(s) were metered while other jobs ran on this machine: their hardware "
            "counters include the other jobs' energy (column shared_counter_rounds)."
        )
    if "contended" in loaded.trials:
        contended = truthy(loaded.trials["contended"])
        if contended.any():
            studies = loaded.trials.loc[contended, "study"].nunique()
            notes.append(
                f"{int(contended.sum())} round(s) in {studies} studies were measured while other processes "
                "kept the machine busy (trials.csv: contended, others_cores, steal_frac): their joules "
                "and seconds are not those of a quiet machine."
            )
    below = int(summary.get("gqi_below_1kwh", pd.Series(dtype=bool)).sum())
    if below:
        notes.append(
            f"GQI is flagged (gqi_below_1kwh) in {below} of {len(summary)} studies: below 1 kWh its log10 is "
            "negative and it orders studies backwards; rank by accuracy_per_kj and joules, never by GQI."
        )
    if args.net:
        notes.append("Joules are net of each study's idle baseline (energy_net_j).")
    if args.with_search:
        notes.append("Joules include the search's own (suggest_j: the strategy's ask, metered apart).")
    if loaded.missing_jobs:
        notes.append(f"{len(loaded.missing_jobs)} sweep job(s) have no trials yet and are left out.")
    definitions_text = (
        f"rounds/joules to best: first round within {args.tolerance:g} of the study's own best; "
        + (
            f"target: accuracy {args.target:g}."
            if args.target is not None
            else f"target: best of the (dataset, model, space) group minus {args.delta:g}"
            + (
                f" (for replayed cells whose table was given with --table: the table's best candidate's "
                f"expected accuracy minus {args.delta:g})."
                if args.table
                else "."
            )
        )
        + f" Intervals: 95% bootstrap of the mean over seeds (none below {MIN_SEEDS} seeds); paired"
        + " comparisons: Student's t interval, exact sign-flip p adjusted by Holm over the report, and"
        + " the seeds 80% power needs for the stated effect; a reading is a finding only where the"
        + " corrected p and the interval agree."
        + f" CO2e: joules x PUE {args.pue:g} at {intensity.g_per_kwh:g} gCO2e/kWh ({intensity.source})."
    )
    paired = markdown_comparisons(comparisons)
    anytime_text = markdown_anytime(curves, rank_table)
    factors = markdown_ablation(layers)
    write_atomic(
        out / "summary.md",
        "# Rounds and joules to optimal accuracy\n\n"
        + table
        + "\n"
        + definitions_text
        + "\n"
        + "".join(f"\n{n}\n" for n in notes)
        + (f"\n## Strategies compared, paired by seed\n\n{paired}" if paired else "")
        + (f"\n## Anytime performance: best-so-far over seeds\n\n{anytime_text}" if anytime_text else "")
        + (f"\n## Layer ablation: energy per round by factor\n\n{factors}" if factors else ""),
    )
    print(table)
    print(definitions_text)
    for note in notes:
        print(note)
    if paired:
        print(f"\nStrategies compared, paired by seed (A - B; an interval needs {MIN_PAIRS} paired seeds):")
        print(paired)
    if args.budget is not None:
        print(f"\nBest accuracy within {args.budget:,.0f} J of search (mean over seeds; – none within it):")
        for _, r in by_strategy.iterrows():
            mean = r["best_accuracy_within_budget_mean"]
            shown = "–" if pd.isna(mean) else f"{mean:.4f}"
            print(f"  {r['dataset']} / {r['model']} / {r['space']} / {r['strategy']}: {shown}")
    if factors:
        print("\nLayer ablation: energy per round by factor (other factors averaged over):")
        print(factors)
    if not args.no_plots:
        from harness.report import plots

        with plots.use_looks(loaded.trials):  # each strategy drawn as its studies recorded
            written = [
                *plots.plot_convergence(loaded.trials, out, by="energy", svg=args.svg, budget_j=args.budget),
                *plots.plot_convergence(loaded.trials, out, by="rounds", svg=args.svg),
                *plots.plot_pareto(loaded.trials, out, svg=args.svg),
                *plots.plot_joules_to_target(by_strategy, out, svg=args.svg, summary=summary),
                *plots.plot_time_to_target(summary, out, svg=args.svg),
            ]
        print(f"plots: {', '.join(str(p) for p in written)}")
    if args.mlflow:
        from harness.report.mlflow_export import export, export_report

        export(loaded.trials, summary, args.mlflow, args.mlflow_experiment, configs=loaded.configs)
        export_report(out, args.mlflow, args.mlflow_experiment)
    tables: tuple[str, ...] = ("summary.csv", "summary_by_strategy.csv", "comparisons.csv", "anytime.csv")
    tables += ("summary.md",)
    tables += ("pareto.csv",)
    tables += ("ablation.csv",) if not layers.empty else ()
    print(f"tables: {', '.join(str(out / t) for t in tables)}")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(report(args))
    except HarnessError as exc:
        print(f"harness-report: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # a full disk or an unwritable --out: every file is whole or absent
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"harness-report: error: {where}{exc.strerror or exc}; no report file was left half-written: "
            f"free space or give a writable --out",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
