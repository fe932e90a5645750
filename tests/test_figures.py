"""Every figure of a many-strategy, many-panel report reads at a glance: no two pieces of text
(ticks, titles, axis labels, legends, notes) overlap, legends sit outside the data, and each
strategy's entry says over how many seeds it was drawn."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from harness.report.load import load
from harness.report.plots import (
    convergence_figure,
    joules_to_target_figure,
    pareto_figure,
    time_to_target_figure,
)
from harness.report.reduce import Definitions, reduce_strategies, reduce_studies

STRATEGIES = ["grid", "random", "bayes", "bayes_pi", "tpe", "qmc", "bayes_pi+median"]
SEEDS = 5


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """16 cells with long names (a custom model, every naming setting), 7 strategies, 5 seeds."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset in ("fashion_mnist", "cifar10", "digits", "synthetic"):
        for model in ("simple_cnn", "dense_poly", "dense_linear", "custom.examples.nets.mlp"):
            for strategy in STRATEGIES:
                for seed in range(SEEDS):
                    study = f"{dataset}-{model}-{strategy}-paper5-s{seed}-e25-r24-b512-n60000-t10000"
                    accuracy = np.clip(rng.normal(0.8, 0.05, 12), 0, 1)
                    energy = rng.uniform(50, 5000, 12)
                    for r in range(12):
                        rows.append(
                            {
                                "study": study,
                                "dataset": dataset,
                                "model": model,
                                "strategy": strategy,
                                "space": "paper5",
                                "seed": seed,
                                "round": r + 1,
                                "status": "complete",
                                "accuracy": accuracy[r],
                                "energy_j": energy[r],
                                "energy_source": "estimate",
                            }
                        )
    path = tmp_path_factory.mktemp("many") / "trials.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    trials = load([str(path)]).trials
    summary = reduce_studies(trials, Definitions())
    return trials, summary, reduce_strategies(summary)


def drawn_texts(fig: Figure) -> list[tuple[str, object]]:
    """Every visible, non-empty text the figure draws, with its box on the canvas: titles, axis
    labels, the tick labels inside each axis' view, notes, and legend entries and titles."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts: list[Text] = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            scale = axis.get_transform()
            low, high = sorted(scale.transform(axis.get_view_interval()))
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if low - 1e-9 * (high - low) <= scale.transform(tick.get_loc()) <= high + 1e-9 * (high - low):
                    texts.append(tick.label1)
        legend = ax.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for t in texts
        if t.get_visible() and t.get_text().strip()
    ]


def overlapping(fig: Figure) -> list[tuple[str, str]]:
    boxes = drawn_texts(fig)
    return [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        # a pixel of slack: texts that touch are not unreadable
        if box_a.x0 < box_b.x1 - 1
        and box_b.x0 < box_a.x1 - 1
        and box_a.y0 < box_b.y1 - 1
        and box_b.y0 < box_a.y1 - 1
    ]


def figures(report) -> dict[str, Figure]:
    trials, summary, by_strategy = report
    return {
        "convergence_energy": convergence_figure(trials, by="energy"),
        "convergence_rounds": convergence_figure(trials, by="rounds"),
        "pareto": pareto_figure(trials),
        "joules_to_target": joules_to_target_figure(by_strategy, summary),
        "time_to_target": time_to_target_figure(summary),
    }


@pytest.mark.slow
def test_no_two_texts_of_any_figure_overlap_and_legends_stay_off_the_data(report):
    for name, fig in figures(report).items():
        assert overlapping(fig) == [], name
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if ax.get_visible() and legend is not None:
                assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), name


@pytest.mark.slow
def test_each_strategy_s_legend_entry_says_how_many_seeds_it_is_drawn_from(report):
    trials, summary, _ = report
    for fig in (convergence_figure(trials, by="rounds"), pareto_figure(trials)):
        for ax in fig.axes:
            if ax.get_visible():
                labels = [t.get_text() for t in ax.get_legend().get_texts()]
                assert [f"{s} (n={SEEDS})" for s in STRATEGIES] == [x for x in labels if "(n=" in x]
    labels = [t.get_text() for t in time_to_target_figure(summary).axes[0].get_legend().get_texts()]
    assert all(label.endswith(f"/{SEEDS} reached)") for label in labels) and len(labels) == len(STRATEGIES)


def test_the_overlap_check_finds_text_that_runs_into_other_text():
    """The check itself: a title written over a tick label is caught."""
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.set_xlim(0, 1)
    ax.text(0.0, -0.02, "a note over the ticks", transform=ax.transAxes, va="top")
    assert any("a note over the ticks" in pair for pair in overlapping(fig))


def test_curves_that_coincide_are_told_apart_by_their_markers():
    """random and a Bayesian search share their first rounds by design: same line, other marks."""
    from harness.report.plots import _marks

    random, bayes = _marks("random", 64), _marks("bayes_pi", 64)
    assert random["marker"] != bayes["marker"] and random["markevery"] != bayes["markevery"]
