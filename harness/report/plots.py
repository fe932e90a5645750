"""The report's figures: convergence against energy and rounds, per-round Pareto scatter, joules to target.

One panel per (dataset, model, space) group and origin; one colour per strategy throughout; the
energy source is named in every panel title, so an estimate is never mistaken for a measurement.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
import warnings
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter, StrMethodFormatter

from harness.atomic import replacing
from harness.report.anytime import best_so_far
from harness.report.load import STUDY_KEY, study_slices
from harness.report.metrics import MIN_SEEDS
from harness.report.reduce import GROUP

# How the harness's options were drawn before studies recorded their look (Config.facts "look", which
# each option's schema class gives): studies recorded earlier are drawn as they always were.
STRATEGY_ORDER = (
    "grid",
    "random",
    "bayes",
    "bayes_pi",
    "tpe",
    "qmc",
    "bayes_ei",
    "bayes_eipj",
    "mo_gp",
    "mo_nsga2",
)
COLOURS = {s: matplotlib.colormaps["tab10"](i)[:3] for i, s in enumerate(STRATEGY_ORDER)}
# The looks the studies being drawn recorded: strategy -> (place, colour); see use_looks.
_LOOKS: ContextVar[dict[str, tuple[int, tuple[float, float, float]]] | None] = ContextVar(
    "looks", default=None
)
GRID_POINTS = 300
# Round settings a space may search (harness/config/__init__.py ROUND_PARAMS): where a panel's rounds
# vary them, a round's energy is the configuration's, not only the meter's noise.
ROUND_SETTING_COLUMNS = ("p_epochs", "p_batch_size", "p_linear_layers", "p_conv_layers")


@contextlib.contextmanager
def use_looks(trials: pd.DataFrame) -> Iterator[None]:
    """Draw each strategy, in the figures made inside the block, with the look its studies recorded
    (``look_order`` and ``look_colour``, from Config.facts: its option's schema class gives them)."""
    looks: dict[str, tuple[int, tuple[float, float, float]]] = {}
    if {"look_order", "look_colour"} <= set(trials.columns):
        recorded = trials[["strategy", "look_order", "look_colour"]].dropna().drop_duplicates("strategy")
        for strategy, order, colour in recorded.itertuples(index=False):
            looks.setdefault(str(strategy).split("+")[0], (int(order), to_rgb(colour)))
    token = _LOOKS.set(looks)
    try:
        yield
    finally:
        _LOOKS.reset(token)


def _looks_of(trials: pd.DataFrame) -> contextlib.AbstractContextManager[None]:
    """The looks ``trials`` recorded, unless a caller's use_looks already set them."""
    return use_looks(trials) if _LOOKS.get() is None else contextlib.nullcontext()


def _look(strategy: str) -> tuple[int, tuple[float, float, float]] | None:
    """A strategy's place and colour (a pruned variant its strategy's): recorded, or as the harness
    drew its options before they were recorded; None for one with neither."""
    base = strategy.split("+")[0]
    recorded = (_LOOKS.get() or {}).get(base)
    if recorded is not None:
        return recorded
    if base in COLOURS:
        return STRATEGY_ORDER.index(base), COLOURS[base]
    return None


def _colour(strategy: str) -> tuple[float, float, float]:
    """One colour per strategy; a pruned variant (``bayes_pi+median``) keeps its strategy's colour and
    is drawn dashed. A strategy with no look gets a stable colour of its own, never grey."""
    look = _look(strategy)
    if look is not None:
        return look[1]
    return matplotlib.colormaps["Dark2"](zlib.crc32(strategy.split("+")[0].encode()) % 8)[:3]


def _line_style(strategy: str) -> str:
    return "--" if "+" in strategy else "-"


MARKERS = "osD^vPX<>*"
MARKS_PER_CURVE = 8


def _index(strategy: str) -> int:
    """The strategy's place (a pruned variant its strategy's; a stable number for one without)."""
    look = _look(strategy)
    return look[0] if look is not None else zlib.crc32(strategy.split("+")[0].encode())


def _marker(strategy: str) -> str:
    return MARKERS[_index(strategy) % len(MARKERS)]


def _marks(strategy: str, points: int) -> dict[str, object]:
    """A marker shape of its own per strategy, placed at points shifted per strategy: curves that
    coincide (random and a Bayesian search share their first rounds by design) stay told apart."""
    index = _index(strategy)
    every = max(1, points // MARKS_PER_CURVE)
    return {
        "marker": _marker(strategy),
        "markersize": 4,
        "markevery": ((index * every) // len(MARKERS) % every, every),
    }


# Panel titles are wrapped to the panel's width: a long cell name never runs into its neighbour's.
TITLE_CHARS = 46


def _title(text: str) -> str:
    return "\n".join(
        textwrap.fill(line, TITLE_CHARS, break_on_hyphens=False) if line else line
        for line in text.split("\n")
    )


def _legend(ax: Axes, title: str | None = None) -> None:
    """The panel's legend to the right of its data, never over it (the layout makes room)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            fontsize=7,
            title=title,
            title_fontsize=7,
            frameon=False,
            alignment="left",
        )


def _score_label(frame: pd.DataFrame, what: str) -> str:
    """What the rounds were scored on: the validation split where the studies carved one, the test
    set otherwise, as each study recorded it (``scored_on``: its rows, study.json or storage). Rows
    recorded before studies kept it (an outside table) are read from their study's name, whose
    settings name a split (``val0.2``)."""
    n = len(frame)
    scored = (
        frame["scored_on"] if "scored_on" in frame else pd.Series([None] * n, index=frame.index, dtype=object)
    )
    kinds = set(scored.dropna().unique())
    unrecorded = frame.loc[scored.isna()]
    if len(unrecorded):
        settings = unrecorded.get("settings", pd.Series(dtype=str)).astype(str).unique()  # per study
        validated = [any(t.startswith("val") for t in value.split("-")) for value in settings]
        kinds |= {"validation" if len(validated) and all(validated) else "test"}
    split = kinds.pop() if len(kinds) == 1 else "validation or test"
    return f"{what} {split} accuracy"


def _strategies(frame: pd.DataFrame) -> list[str]:
    """The strategies present, in their looks' order; pruned variants and strategies without a look
    after them, by name."""
    present = list(frame["strategy"].unique())
    return sorted(present, key=lambda s: (look[0] if "+" not in s and (look := _look(s)) else 99, s))


def _panels(trials: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    for keys, frame in trials.groupby(GROUP, sort=True):
        sources = ", ".join(sorted(set(frame["energy_source"].unique()) - {""})) or "none"
        yield f"{_panel_name(*keys)}\nenergy: {sources}", frame


def _panel_name(origin: str, dataset: str, model: str, space: str, settings: str) -> str:
    prefix = "paper: " if origin == "paper" else ""
    return f"{prefix}{dataset} / {model} / {space}" + (f" / {settings}" if settings else "")


def _figure(n: int) -> tuple[Figure, list[Axes]]:
    """A figure of n panels, three to a row, laid out so that no titles, ticks or legends collide.
    Built without pyplot: no global backend is touched."""
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(6.6 * cols, 4.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _on_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A step function (value after each x) sampled on ``grid``: NaN before the study's first point,
    its last value carried forward after its end (a finished search keeps its best)."""
    index = np.searchsorted(x, grid, side="right") - 1
    values = y[np.clip(index, 0, len(y) - 1)].astype(float)
    values[index < 0] = np.nan
    return values


def seed_curves(frame: pd.DataFrame, x_column: str, grid: np.ndarray) -> np.ndarray:
    """One row per seed on ``grid``, each carried forward to the common end; columns where a seed has
    not started yet are dropped to NaN for every seed, so a median is always over all n seeds."""
    curves = []
    t, starts, ends = study_slices(frame.sort_values(STUDY_KEY, kind="stable"))
    x_all, y_all = t[x_column].to_numpy(float), t["best_so_far"].to_numpy(float)
    for start, end in zip(starts, ends, strict=True):
        x, y = x_all[start:end], y_all[start:end]
        kept = ~np.isnan(x)
        if kept.any():
            curves.append(_on_grid(x[kept], y[kept], grid))
    if not curves:
        return np.empty((0, len(grid)))
    stack = np.vstack(curves)
    stack[:, np.isnan(stack).any(axis=0)] = np.nan
    return stack


def _band(ax: Axes, frame: pd.DataFrame, x_column: str, grid: np.ndarray, strategy: str) -> int:
    """The strategy's median curve over its seeds (and their IQR from MIN_SEEDS seeds); its n."""
    stack = seed_curves(frame, x_column, grid)
    n = len(stack)
    if not n:
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: not every seed there yet
        median = np.nanmedian(stack, axis=0)
        q25, q75 = np.nanpercentile(stack, [25, 75], axis=0)
    colour = _colour(strategy)
    ax.plot(
        grid,
        median,
        color=colour,
        lw=1.6,
        label=f"{strategy} (n={n})",
        drawstyle="steps-post",
        ls=_line_style(strategy),
        **_marks(strategy, len(grid)),  # type: ignore[arg-type]
    )
    if n >= MIN_SEEDS:  # no band below MIN_SEEDS seeds: a quartile of 2-4 curves is one of them
        ax.fill_between(grid, q25, q75, color=colour, alpha=0.2, lw=0, step="post")
    return n


def tick_formatter(ticks: np.ndarray) -> StrMethodFormatter:
    """Thousands separated, with as many decimals as the tick step needs: never "0, 1, 2, 2, 2"."""
    steps = np.diff(np.unique(np.asarray(ticks, dtype=float)))
    step = float(steps.min()) if len(steps) else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return StrMethodFormatter(f"{{x:,.{decimals}f}}")


def _save(fig: Figure, out: Path, stem: str, svg: bool) -> list[Path]:
    paths = [out / f"{stem}.png"] + ([out / f"{stem}.svg"] if svg else [])
    for path in paths:
        with replacing(path) as tmp:  # a reader never opens half a figure
            fig.savefig(tmp, dpi=130)
    return paths


def plot_convergence(
    trials: pd.DataFrame, out: Path, *, by: str, svg: bool = False, budget_j: float | None = None
) -> list[Path]:
    """Best-so-far accuracy against cumulative joules (by='energy', log x) or rounds (by='rounds'),
    saved as convergence_energy.png or convergence_rounds.png."""
    stem = "convergence_energy" if by == "energy" else "convergence_rounds"
    return _save(convergence_figure(trials, by=by, budget_j=budget_j), out, stem, svg)


def convergence_figure(trials: pd.DataFrame, *, by: str, budget_j: float | None = None) -> Figure:
    """The convergence figure itself (what the notebook shows): one panel per cell, a median curve
    per strategy over its n seeds, each seed carried forward to the common end."""
    with _looks_of(trials):
        return _convergence_figure(trials, by=by, budget_j=budget_j)


def _convergence_figure(trials: pd.DataFrame, *, by: str, budget_j: float | None) -> Figure:
    curves = best_so_far(trials)
    panels = list(_panels(curves))
    fig, axes = _figure(len(panels))
    for ax, (title, frame) in zip(axes, panels, strict=True):
        x_column = "cumulative_j" if by == "energy" else "round"
        x = frame[x_column].dropna()
        x = x[x > 0] if by == "energy" else x
        if x.empty:
            ax.text(0.5, 0.5, "no energy readings", ha="center", va="center", transform=ax.transAxes)
        else:
            if by == "energy":
                grid = np.geomspace(x.min(), x.max(), GRID_POINTS)
                ax.set_xscale("log")
                if grid[-1] / grid[0] >= 10:  # labelled decades; minor labels would overlap
                    ax.xaxis.set_minor_formatter(NullFormatter())
                ax.set_xlabel("cumulative energy (J, log scale)")
            else:
                grid = np.arange(1, int(x.max()) + 1, dtype=float)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds: 1, 5, 10, never 2.5
                ax.set_xlabel("search round")
            seeds = [
                _band(ax, frame[frame["strategy"] == strategy], x_column, grid, strategy)
                for strategy in _strategies(frame)
            ]
            legend_title = "median over n seeds" + ("; band: IQR" if max(seeds) >= MIN_SEEDS else "")
            if budget_j is not None and by == "energy":  # read each curve here: best within the budget
                ax.axvline(budget_j, color="0.4", ls="--", lw=1, label=f"budget {budget_j:,.0f} J")
        ax.set_ylabel(_score_label(frame, "best-so-far"))
        ax.set_title(_title(title), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        _legend(ax, legend_title if not x.empty else None)
    return fig


def pareto_front(energy: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points no other point beats on both less energy and higher accuracy, by rising energy."""
    keep = ~(np.isnan(energy) | np.isnan(accuracy))
    energy, accuracy = energy[keep], accuracy[keep]
    order = np.lexsort((-accuracy, energy))
    front_e, front_a, best = [], [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front_e.append(energy[i])
            front_a.append(accuracy[i])
            best = accuracy[i]
    return np.array(front_e), np.array(front_a)


def energy_noise_note(frame: pd.DataFrame) -> str:
    """How much a round's joules vary between rounds of one study, as a median coefficient of variation
    over the studies: differences along the energy axis within that band are the meter's noise and the
    machine's, not the configuration's (every round of a study trains the same network)."""
    cvs = []
    ordered, starts, ends = study_slices(frame.sort_values(STUDY_KEY, kind="stable"))
    energy = ordered["energy_j"].to_numpy(float)
    for start, end in zip(starts, ends, strict=True):
        e = energy[start:end]
        e = e[~np.isnan(e)]
        if len(e) >= 3 and e.mean() > 0:
            cvs.append(e.std(ddof=1) / e.mean())
    if not cvs:
        return ""
    return (
        f"rounds of one study vary by {100 * float(np.median(cvs)):.0f}% in energy (median CV):\n"
        "spread along x within that is noise, not the configuration"
    )


def _searches_cost(frame: pd.DataFrame) -> bool:
    """Whether the panel's rounds vary what they compute (space=cost_aware)."""
    columns = [c for c in ROUND_SETTING_COLUMNS if c in frame.columns]
    return any(frame[c].nunique(dropna=True) > 1 for c in columns)


def plot_pareto(trials: pd.DataFrame, out: Path, *, svg: bool = False) -> list[Path]:
    return _save(pareto_figure(trials), out, "pareto", svg)


def pareto_figure(trials: pd.DataFrame) -> Figure:
    """Each round's energy and accuracy, per strategy, with the cell's Pareto front."""
    with _looks_of(trials):
        return _pareto_figure(trials)


def _pareto_figure(trials: pd.DataFrame) -> Figure:
    panels = list(_panels(trials))
    fig, axes = _figure(len(panels))
    for ax, (title, frame) in zip(axes, panels, strict=True):
        for strategy in _strategies(frame):
            s = frame[frame["strategy"] == strategy]
            ax.scatter(
                s["energy_j"],
                s["accuracy"],
                s=14,
                alpha=0.6,
                color=_colour(strategy),
                marker=_marker(strategy),
                label=f"{strategy} (n={s['study'].nunique()})",
            )
        note = "" if _searches_cost(frame) else energy_noise_note(frame)
        fe, fa = pareto_front(frame["energy_j"].to_numpy(float), frame["accuracy"].to_numpy(float))
        if len(fe):
            ax.step(fe, fa, where="post", color="black", lw=1.2, label="Pareto front")
        energies = frame["energy_j"].dropna()
        if len(energies) and energies.min() > 0 and energies.max() / energies.min() > 20:
            ax.set_xscale("log")
            if energies.max() / energies.min() >= 10:
                ax.xaxis.set_minor_formatter(NullFormatter())
        # The noise note under the axis it is about, outside the points.
        ax.set_xlabel("energy of the round (J)" + (f"\n{note}" if note else ""), fontsize=9)
        ax.set_ylabel(_score_label(frame, "round's"))
        ax.set_title(_title(title), fontsize=9)
        ax.grid(True, alpha=0.3)
        _legend(ax)
    return fig


def plot_joules_to_target(
    by_strategy: pd.DataFrame, out: Path, *, svg: bool = False, summary: pd.DataFrame | None = None
) -> list[Path]:
    return _save(joules_to_target_figure(by_strategy, summary), out, "joules_to_target", svg)


def joules_to_target_figure(by_strategy: pd.DataFrame, summary: pd.DataFrame | None = None) -> Figure:
    """Mean joules to the shared target per strategy, over the seeds that reached it (how many, above
    each bar); an interval only where there are enough seeds. With the per-study ``summary``, each
    panel names its target accuracy and where it comes from."""
    targets: dict[tuple, str] = {}
    if summary is not None and "target" in summary:
        for keys, cell in summary.groupby(GROUP, sort=True):
            value = cell["target"].dropna()
            source = cell["target_from"].iloc[0] if "target_from" in cell else ""
            if len(value):
                targets[keys] = f"target: accuracy {float(value.iloc[0]):.4f}" + (
                    f" ({source})" if source else ""
                )
    panels = list(by_strategy.groupby(GROUP, sort=True))
    fig, axes = _figure(len(panels))
    for ax, (keys, frame) in zip(axes, panels, strict=True):
        strategies = _strategies(frame)
        frame = frame.set_index("strategy").loc[strategies]
        means = frame["joules_to_target_mean"].to_numpy(float)
        low = means - frame["joules_to_target_ci_low"].to_numpy(float)
        high = frame["joules_to_target_ci_high"].to_numpy(float) - means
        errors = np.nan_to_num(np.vstack([low, high]), nan=0.0)
        # Horizontal bars, first strategy on top: the names read level, however many and long.
        positions = np.arange(len(strategies))[::-1]
        ax.barh(positions, np.nan_to_num(means), color=[_colour(s) for s in strategies], alpha=0.85)
        has_ci = ~np.isnan(frame["joules_to_target_ci_low"].to_numpy(float))
        if has_ci.any():
            ax.errorbar(
                means[has_ci],
                positions[has_ci],
                xerr=errors[:, has_ci],
                fmt="none",
                ecolor="black",
                capsize=3,
                lw=1,
            )
        ends = np.nan_to_num(np.where(has_ci, frame["joules_to_target_ci_high"].to_numpy(float), means))
        for y, end, (_, row) in zip(positions, ends, frame.iterrows(), strict=True):
            # Beside each bar: how many seeds reached the target (a bar of zero length with 0/n is a
            # strategy that never got there).
            ax.annotate(
                f"{row['reached_target']}/{row['seeds']}",
                (end, y),
                ha="left",
                va="center",
                fontsize=8,
                xytext=(3, 0),
                textcoords="offset points",
            )
        ax.set_yticks(positions, strategies, fontsize=8)
        ax.set_ylabel("strategy", fontsize=9)
        ax.margins(x=0.18)  # room for the counts beside the longest bar
        ax.xaxis.set_major_formatter(tick_formatter(ax.get_xticks()))
        interval = f", 95% bootstrap CI over {MIN_SEEDS}+ seeds" if has_ci.any() else ""
        ax.set_xlabel(
            f"joules to target (J; mean over the seeds that reached it{interval};\n"
            "beside each bar: seeds that reached the target)",
            fontsize=8,
        )
        sources = ", ".join(sorted(set(";".join(frame["energy_sources"]).split(";")) - {""}))
        target = targets.get(keys, "")
        title = f"{_panel_name(*keys)}\nenergy: {sources or 'none'}" + (f"\n{target}" if target else "")
        ax.set_title(_title(title), fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    return fig


def plot_time_to_target(summary: pd.DataFrame, out: Path, *, svg: bool = False) -> list[Path]:
    """time_to_target.png: Kaplan-Meier curves of the fraction of seeds not yet at the target, against
    rounds (top row) and joules (bottom row), per strategy with 95% bands; seeds that never reach it
    are censored at their last round, not dropped."""
    return _save(time_to_target_figure(summary), out, "time_to_target", svg)


def time_to_target_figure(summary: pd.DataFrame) -> Figure:
    from harness.report.stats import kaplan_meier

    cells = list(summary.groupby(GROUP, sort=True))
    # Each cell is a pair of panels, rounds above joules; three cells to a row.
    cols = min(max(len(cells), 1), 3)
    rows = math.ceil(max(len(cells), 1) / cols)
    fig = Figure(figsize=(6.6 * cols, 8.4 * rows), layout="constrained")
    axes = fig.subplots(2 * rows, cols, squeeze=False)
    for index in range(len(cells), rows * cols):  # the last row's empty places
        for row in (0, 1):
            axes[2 * (index // cols) + row][index % cols].set_visible(False)
    for index, (keys, cell) in enumerate(cells):
        for row, (metric, horizon, label) in enumerate(
            (("rounds_to_target", "rounds", "search round"), ("joules_to_target", "total_joules", "joules"))
        ):
            ax = axes[2 * (index // cols) + row][index % cols]
            for strategy in _strategies(cell):
                s = cell[cell["strategy"] == strategy]
                reached = s[metric].notna().to_numpy()
                times = np.where(reached, s[metric].to_numpy(float), s[horizon].to_numpy(float))
                keep = ~np.isnan(times)
                if not keep.any():
                    continue
                t, surv, low, high = kaplan_meier(times[keep], reached[keep].astype(int))
                end = float(np.nanmax(times[keep]))
                t, surv = np.append(t, end), np.append(surv, surv[-1])
                low, high = np.append(low, low[-1]), np.append(high, high[-1])
                colour = _colour(strategy)
                ax.step(
                    t,
                    surv,
                    where="post",
                    color=colour,
                    ls=_line_style(strategy),
                    label=f"{strategy} ({int(reached.sum())}/{len(s)} reached)",
                )
                ax.fill_between(t, low, high, step="post", color=colour, alpha=0.15, lw=0)
            if row == 1:
                ax.set_xscale("symlog" if (cell[horizon] > 0).any() else "linear")
                ax.xaxis.set_minor_formatter(NullFormatter())
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(label)
            ax.set_ylabel("fraction of seeds not yet at the target")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(_title(_panel_name(*keys)), fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            _legend(ax)
    return fig
