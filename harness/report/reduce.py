"""Rounds and joules to optimal accuracy, per study and per strategy across seeds.

Definitions (the paper's, plus a shared target):
- rounds_to_best: the first round whose accuracy reaches the study's own best minus ``tolerance``
  (0 by default: the first round at which the best accuracy appears).
- joules_to_best: energy summed over rounds 1..rounds_to_best, failed rounds included.
- target: the best accuracy of any study in the same (dataset, model, space) group minus ``delta``,
  or an absolute ``target``; rounds_to_target / joules_to_target are empty when never reached.
- A sum over a round with no energy reading is empty, never a partial sum.
- The search's own energy (suggest_j: the strategy's ask, metered apart from training) is reported
  beside: search_joules over the whole study, and joules to best and to target with it added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.report.load import STUDY_KEY, study_slices
from harness.report.metrics import (
    DEFAULT_CARBON_G_PER_KWH,
    JOULES_PER_KWH,
    accuracy_per_kj,
    bootstrap_cis,
    gqi,
    kg_co2e,
)

# A panel and a target: every setting but the strategy and the seed (settings: the name's tokens).
GROUP = ["origin", "dataset", "model", "space", "settings"]
STRATEGY_GROUP = [*GROUP, "strategy", "machine"]


@dataclass(frozen=True)
class Definitions:
    tolerance: float = 0.0
    delta: float = 0.01
    target: float | None = None  # absolute accuracy target; overrides delta
    gqi_alpha: float = 1.0
    gqi_beta: float = 1.0
    search_counted: bool = False  # energy_j already includes suggest_j (harness-report --with-search)
    budget_j: float | None = None  # harness-report --budget: the best accuracy within this many joules
    carbon_g_per_kwh: float = DEFAULT_CARBON_G_PER_KWH
    pue: float = 1.0
    # Replay tables' digests -> their best candidate's expected accuracy (harness-report --table):
    # a replayed study's target is then that optimum minus delta, not the best of noisy maxima.
    table_optima: dict[str, float] | None = None


def truthy(column: pd.Series | None) -> pd.Series:
    """A boolean column read back from CSV ("True"/"False"), absent meaning False."""
    if column is None:
        return pd.Series(dtype=bool)
    return column.astype(str).str.lower().isin(("true", "1"))


def _search_j(trials: pd.DataFrame) -> pd.Series:
    """Each round's search joules (empty where the table has none, e.g. the paper's CSVs)."""
    return pd.to_numeric(trials.get("suggest_j", pd.Series(np.nan, index=trials.index)), errors="coerce")


def _cv(energy: pd.Series) -> float:
    e = energy.dropna().to_numpy(float)
    return float(e.std(ddof=1) / e.mean()) if len(e) >= 3 and e.mean() > 0 else math.nan


def _best_within(t: pd.DataFrame, budget_j: float) -> float:
    """The best accuracy among the rounds finished within ``budget_j`` cumulative joules (search
    energy included); NaN when even the first round costs more, or a reading is missing before it."""
    cumulative = t["energy_j"].cumsum()
    within = t[(cumulative <= budget_j) & cumulative.notna()]
    scores = within["accuracy"].dropna()
    return float(scores.max()) if len(scores) else math.nan


def _prefix_sum(values: np.ndarray, count: int) -> float:
    """The sum of the first ``count`` values (rounds 1..r), NaN where one of them is missing: as
    ``Series.sum`` of that span (the same pairwise summation of the same contiguous floats)."""
    span = values[:count]
    return float(span.sum()) if not np.isnan(span).any() else math.nan


def _first_reaching(rounds: np.ndarray, accuracy: np.ndarray, level: float) -> float:
    with np.errstate(invalid="ignore"):
        reached = rounds[accuracy >= level]
    return float(reached.min()) if len(reached) else math.nan


def _count_to(rounds: np.ndarray, round_no: float) -> int:
    """How many of a study's rounds (sorted) are at or before ``round_no``."""
    return int(np.searchsorted(rounds, round_no, side="right"))


def _energy_through(rounds: np.ndarray, energy: np.ndarray, round_no: float) -> float:
    if math.isnan(round_no):
        return math.nan
    return _prefix_sum(energy, _count_to(rounds, round_no))


FIRST = ("origin", "study", "dataset", "model", "strategy", "space", "settings", "machine", "seed")
OPTIONAL = ("suggest_j", "interrupted_j", "final_test_accuracy", "shared_counters", "table")


def reduce_studies(trials: pd.DataFrame, d: Definitions) -> pd.DataFrame:
    """One row per study (summary.csv): whole-table arrays sliced study by study."""
    used = [*STUDY_KEY, *FIRST, "round", "accuracy", "energy_j", "status", "energy_source", *OPTIONAL]
    narrow = trials[[c for c in dict.fromkeys(used) if c in trials.columns]]  # sorted copies stay small
    ordered, starts, ends = study_slices(narrow.sort_values(STUDY_KEY, kind="stable"))
    rounds_all = ordered["round"].to_numpy(float)
    accuracy_all = ordered["accuracy"].to_numpy(float)
    energy_all = ordered["energy_j"].to_numpy(float)
    search_all = _search_j(ordered).to_numpy(float)
    interrupted_all = pd.to_numeric(
        ordered.get("interrupted_j", pd.Series(np.nan, index=ordered.index)), errors="coerce"
    ).to_numpy(float)
    final_all = pd.to_numeric(
        ordered.get("final_test_accuracy", pd.Series(np.nan, index=ordered.index)), errors="coerce"
    ).to_numpy(float)
    status_all = ordered["status"].to_numpy()
    source_all = ordered["energy_source"].to_numpy()
    shared_all = truthy(ordered.get("shared_counters")).to_numpy() if "shared_counters" in ordered else None
    table_all = ordered["table"].to_numpy() if "table" in ordered else None
    # Each study's own fields, from its first row (one array per column: a row at a time cost seconds).
    first = {c: ordered[c].to_numpy()[starts] for c in FIRST}
    rows = []
    frames = []  # each study's arrays, kept for the target pass
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        rounds = rounds_all[start:end]
        accuracy = accuracy_all[start:end]
        energy = energy_all[start:end]
        search_j = search_all[start:end]
        # Rounds with the search's joules added (already in energy_j under --with-search).
        searched = energy if d.search_counted else energy + search_j
        frames.append((rounds, accuracy, energy, searched, search_j))
        best = float(np.nanmax(accuracy)) if not np.isnan(accuracy).all() else math.nan
        rounds_to_best = (
            _first_reaching(rounds, accuracy, best - d.tolerance) if not math.isnan(best) else math.nan
        )
        joules_to_best = _energy_through(rounds, energy, rounds_to_best)
        table = table_all[start] if table_all is not None else ""
        interrupted = interrupted_all[start:end]
        energies = energy[~np.isnan(energy)]
        rows.append(
            {
                "origin": first["origin"][i],
                "study": first["study"][i],
                "dataset": first["dataset"][i],
                "model": first["model"][i],
                "strategy": first["strategy"][i],
                "space": first["space"][i],
                "settings": first["settings"][i],
                "machine": first["machine"][i],
                "table": str(table) if isinstance(table, str) else "",
                "seed": int(first["seed"][i]),
                "rounds": int(rounds.max()),
                "failed_rounds": int((status_all[start:end] == "failed").sum()),
                "pruned_rounds": int(
                    (status_all[start:end] == "pruned").sum()
                ),  # energy counted, accuracy not
                "best_accuracy": best,
                # With a validation split, best_accuracy is the search's score on it and this is the
                # study's outcome: the picked configuration on the test set (empty otherwise).
                "test_accuracy": float(final_all[start]),
                "rounds_to_best": rounds_to_best,
                "joules_to_best": joules_to_best,
                "total_joules": _prefix_sum(energy, len(energy)),
                "search_joules": _prefix_sum(search_j, len(search_j)),
                # Spent on attempts that were interrupted and run again: real energy, outside the rounds.
                "interrupted_joules": float(np.where(np.isnan(interrupted), 0.0, interrupted).sum()),
                "joules_to_best_with_search": _energy_through(rounds, searched, rounds_to_best),
                "accuracy_per_kj": accuracy_per_kj(best, joules_to_best),
                "gqi": gqi(best, joules_to_best, alpha=d.gqi_alpha, beta=d.gqi_beta),
                # Below 1 kWh log10 is negative and GQI orders studies backwards: flagged, never ranked.
                "gqi_below_1kwh": bool(joules_to_best < JOULES_PER_KWH)
                if not math.isnan(joules_to_best)
                else False,
                "energy_sources": ";".join(sorted(set(source_all[start:end]) - {""})) or "none",
                "shared_counter_rounds": int(shared_all[start:end].sum()) if shared_all is not None else 0,
                # How much one study's rounds vary in energy (std / mean): small means joules to an
                # optimum are its rounds rescaled.
                "energy_cv": float(energies.std(ddof=1) / energies.mean())
                if len(energies) >= 3 and energies.mean() > 0
                else math.nan,
            }
        )
    summary = pd.DataFrame(rows)
    # The shared target of each (origin, dataset, model, space) group.
    if d.target is not None:
        summary["target"] = d.target
        summary["target_from"] = "given"
    else:
        summary["target"] = summary.groupby(GROUP)["best_accuracy"].transform("max") - d.delta
        summary["target_from"] = "best of the group"
        optima = d.table_optima or {}
        known = summary["table"].map(optima)
        summary["table_optimum"] = known
        if known.notna().any():
            summary.loc[known.notna(), "target"] = known[known.notna()] - d.delta
            summary.loc[known.notna(), "target_from"] = "table optimum"
    to_target = []
    for (rounds, accuracy, energy, searched, _), target in zip(frames, summary["target"], strict=True):
        r = _first_reaching(rounds, accuracy, target)
        to_target.append((r, _energy_through(rounds, energy, r), _energy_through(rounds, searched, r)))
    summary["rounds_to_target"] = [r for r, _, _ in to_target]
    summary["joules_to_target"] = [j for _, j, _ in to_target]
    summary["joules_to_target_with_search"] = [j for _, _, j in to_target]
    if d.budget_j is not None:
        # Search energy counted where it was metered; a table without it (the paper's) has training only.
        summary["best_accuracy_within_budget"] = [
            _best_within(
                pd.DataFrame(
                    {"energy_j": searched if (~np.isnan(search_j)).any() else energy, "accuracy": accuracy}
                ),
                d.budget_j,
            )
            for _, accuracy, energy, searched, search_j in frames
        ]
    # The whole search in kWh and CO2e (the search's own joules added where they were metered apart).
    search = summary["search_joules"] if not d.search_counted else 0.0
    whole = summary["total_joules"] + pd.Series(search, index=summary.index).fillna(0.0)
    summary["search_total_joules"] = whole
    summary["search_total_kwh"] = whole * d.pue / JOULES_PER_KWH
    summary["search_total_kgco2e"] = [kg_co2e(j, g_per_kwh=d.carbon_g_per_kwh, pue=d.pue) for j in whole]
    summary["kgco2e_to_target"] = [
        kg_co2e(j, g_per_kwh=d.carbon_g_per_kwh, pue=d.pue) for j in summary["joules_to_target"]
    ]
    return summary


def _stats(values: pd.Series, prefix: str, seed: int) -> dict[str, float]:
    v = values.dropna().to_numpy(dtype=float)
    (low, high), (median_low, median_high) = bootstrap_cis(v, seed=seed)
    return {
        f"{prefix}_mean": float(v.mean()) if len(v) else math.nan,
        f"{prefix}_median": float(np.median(v)) if len(v) else math.nan,
        f"{prefix}_ci_low": low,
        f"{prefix}_ci_high": high,
        f"{prefix}_median_ci_low": median_low,
        f"{prefix}_median_ci_high": median_high,
    }


def pareto_rounds(trials: pd.DataFrame) -> pd.DataFrame:
    """The rounds on each cell's accuracy-energy Pareto front, over all its strategies and seeds: no
    other round of the cell has at least their accuracy for less energy (pareto.csv)."""
    fronts = []
    params = [c for c in trials.columns if c.startswith("p_")]
    used = [
        *GROUP,
        "strategy",
        "seed",
        "study",
        "round",
        "accuracy",
        "energy_j",
        "energy_source",
        "status",
        *params,
    ]
    trials = trials[[c for c in dict.fromkeys(used) if c in trials.columns]]  # copies stay narrow
    done = trials[(trials["status"] == "complete") & trials["accuracy"].notna() & trials["energy_j"].notna()]
    for _, cell in done.groupby(GROUP, sort=True):
        ordered = cell.sort_values(["energy_j", "accuracy"], ascending=[True, False], kind="stable")
        best = -math.inf
        keep = []
        for index, accuracy in zip(ordered.index, ordered["accuracy"], strict=True):
            if accuracy > best:
                keep.append(index)
                best = accuracy
        fronts.append(ordered.loc[keep])
    if not fronts:
        return pd.DataFrame()
    front = pd.concat(fronts)
    params = [c for c in front.columns if c.startswith("p_")]
    columns = [*GROUP, "strategy", "seed", "study", "round", "accuracy", "energy_j", "energy_source", *params]
    return front[[c for c in columns if c in front.columns]].reset_index(drop=True)


def duplicate_seeds(summary: pd.DataFrame) -> list[str]:
    """Warnings for a seed that appears twice in one cell (the same study read from two places under
    different names, or two runs given the same seed): its runs are not independent samples."""
    warnings = []
    for keys, s in summary.groupby(STRATEGY_GROUP, sort=True):
        repeated = sorted(s.loc[s["seed"].duplicated(keep=False), "seed"].unique())
        for seed in repeated:
            studies = ", ".join(s.loc[s["seed"] == seed, "study"])
            cell = " / ".join(str(k) for k in keys if k)
            warnings.append(f"{cell}: seed {seed} appears more than once ({studies}); seeds should differ")
    return warnings


def reduce_strategies(summary: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per (origin, dataset, model, space, strategy) across seeds (summary_by_strategy.csv)."""
    rows = []
    # In how many seeds each strategy's best accuracy is the highest of its cell (ties count for all).
    top = summary.groupby([*GROUP, "seed"])["best_accuracy"].transform("max")
    summary = summary.assign(best_of_cell=summary["best_accuracy"] >= top)
    for keys, s in summary.groupby(STRATEGY_GROUP, sort=True):
        row = dict(zip(STRATEGY_GROUP, keys, strict=True))
        row["seeds"] = len(s)
        row["best_in_seeds"] = int(s["best_of_cell"].sum())
        row["energy_cv_mean"] = float(s["energy_cv"].mean())
        row["reached_target"] = int(s["rounds_to_target"].notna().sum())
        row["best_accuracy_mean"] = float(s["best_accuracy"].mean())
        row["energy_sources"] = ";".join(sorted(set(";".join(s["energy_sources"]).split(";")) - {""}))
        columns = ("rounds_to_best", "joules_to_best", "rounds_to_target", "joules_to_target")
        for column in (
            *columns,
            "search_joules",
            "joules_to_best_with_search",
            "joules_to_target_with_search",
            "search_total_joules",
            "search_total_kgco2e",
            *(["best_accuracy_within_budget"] if "best_accuracy_within_budget" in s else []),
            "test_accuracy",  # the corrected protocol's outcome (empty without a validation split)
        ):
            row.update(_stats(s[column], column, seed))
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(by_strategy: pd.DataFrame) -> str:
    """The terminal/Markdown view: one line per strategy within each group."""

    def fmt(value: float, digits: int = 1) -> str:
        return (
            "–"
            if value is None or (isinstance(value, float) and math.isnan(value))
            else f"{value:,.{digits}f}"
        )

    def interval(row: pd.Series, prefix: str, digits: int = 1) -> str:
        low, high = row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"]
        if math.isnan(low):
            return fmt(row[f"{prefix}_mean"], digits)
        return f"{fmt(row[f'{prefix}_mean'], digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"

    machines = by_strategy["machine"].nunique() > 1  # a column only when studies ran on several
    head = (
        "| origin | dataset | model | space | strategy | "
        + ("machine | " if machines else "")
        + "seeds | best acc (mean) | rounds to best "
        "| joules to best | rounds to target | joules to target | reached target | search joules "
        "| whole search: J, gCO2e |\n"
        "|---|---|---|---|---|"
        + ("---|" if machines else "")
        + "---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for _, r in by_strategy.iterrows():
        machine = f"| {r['machine']} " if machines else ""
        space = f"{r['space']} ({r['settings']})" if r.get("settings") else r["space"]
        lines.append(
            f"| {r['origin']} | {r['dataset']} | {r['model']} | {space} | {r['strategy']} {machine}"
            f"| {r['seeds']} | {fmt(r['best_accuracy_mean'], 4)} | {interval(r, 'rounds_to_best')} "
            f"| {interval(r, 'joules_to_best', 0)} | {interval(r, 'rounds_to_target')} "
            f"| {interval(r, 'joules_to_target', 0)} | {r['reached_target']}/{r['seeds']} "
            f"| {fmt(r['search_joules_mean'], 1)} "
            f"| {fmt(r['search_total_joules_mean'], 0)} J, {fmt(1000 * r['search_total_kgco2e_mean'], 2)} g |"
        )
    return head + "\n".join(lines) + "\n"
