"""The reducer, the paper importer and the plots, on tables written here and the published CSVs."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report import Definitions, load, read_paper_csv, reduce_strategies, reduce_studies
from harness.report.cli import main as report_main
from harness.report.metrics import JOULES_PER_KWH, bootstrap_ci, gqi
from harness.report.plots import pareto_front
from tests.conftest import SHARED, TINY, run_cli

PAPER = SHARED / "paper"
needs_paper = pytest.mark.skipif(not (PAPER / "RQ1_FM_3.csv").exists(), reason="../shared/paper absent")


def table(study, accuracies, energies=None, *, strategy="random", seed=0, model="m", status=None):
    n = len(accuracies)
    return pd.DataFrame(
        {
            "study": study,
            "dataset": "d",
            "model": model,
            "strategy": strategy,
            "space": "s",
            "seed": seed,
            "round": range(1, n + 1),
            "accuracy": accuracies,
            "energy_j": energies if energies is not None else [10.0] * n,
            **({"status": status} if status is not None else {}),
        }
    )


def write(frame, path):
    frame.to_csv(path, index=False)
    return str(path)


def reduce(tmp_path, *frames, **definitions):
    paths = [write(f, tmp_path / f"t{i}.csv") for i, f in enumerate(frames)]
    return reduce_studies(load(paths).trials, Definitions(**definitions)).set_index("study")


def test_first_round_reaching_the_best_and_the_energy_up_to_it(tmp_path):
    s = reduce(tmp_path, table("a", [0.5, 0.9, 0.7, 0.9, 0.8], [1.0, 2.0, 4.0, 8.0, 16.0]))
    row = s.loc["a"]
    assert row["best_accuracy"] == 0.9
    assert row["rounds_to_best"] == 2  # a tie later does not move it
    assert row["joules_to_best"] == 3.0
    assert row["total_joules"] == 31.0
    assert row["rounds"] == 5
    assert row["accuracy_per_kj"] == pytest.approx(0.9 / 0.003)


def test_tolerance_moves_rounds_to_best_earlier(tmp_path):
    s = reduce(tmp_path, table("a", [0.5, 0.895, 0.9]), tolerance=0.01)
    assert s.loc["a", "rounds_to_best"] == 2


def test_shared_target_and_a_study_that_never_reaches_it(tmp_path):
    s = reduce(
        tmp_path,
        table("good", [0.5, 0.8, 0.95], strategy="bayes"),
        table("poor", [0.6, 0.7, 0.9], strategy="grid"),
    )
    assert s.loc["good", "target"] == pytest.approx(0.94)
    assert s.loc["good", "rounds_to_target"] == 3 and s.loc["good", "joules_to_target"] == 30.0
    assert math.isnan(s.loc["poor", "rounds_to_target"]) and math.isnan(s.loc["poor", "joules_to_target"])
    absolute = reduce(tmp_path, table("poor", [0.6, 0.7, 0.9]), target=0.65)
    assert absolute.loc["poor", "rounds_to_target"] == 2


def test_failed_rounds_count_their_energy_but_not_their_accuracy(tmp_path):
    frame = table("a", [0.5, 0.99, 0.7], [1.0, 2.0, 4.0], status=["complete", "failed", "complete"])
    s = reduce(tmp_path, frame)
    assert s.loc["a", "best_accuracy"] == 0.7
    assert s.loc["a", "rounds_to_best"] == 3 and s.loc["a", "joules_to_best"] == 7.0
    assert s.loc["a", "failed_rounds"] == 1


def test_a_missing_energy_reading_makes_sums_empty_not_partial(tmp_path):
    s = reduce(tmp_path, table("a", [0.5, 0.9, 0.7], [1.0, float("nan"), 4.0]))
    assert math.isnan(s.loc["a", "joules_to_best"]) and math.isnan(s.loc["a", "total_joules"])


def test_statistics_over_seeds_and_no_interval_below_five_seeds(tmp_path):
    frames = [table(f"r{k}", [0.5] * k + [0.9], strategy="random", seed=k) for k in range(1, 6)]
    frames += [table(f"g{k}", [0.9, 0.5], strategy="grid", seed=k) for k in range(1, 5)]
    summary = reduce_studies(
        load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials, Definitions()
    )
    by = reduce_strategies(summary).set_index("strategy")
    r = by.loc["random"]
    assert r["seeds"] == 5 and r["rounds_to_best_mean"] == 4 and r["rounds_to_best_median"] == 4
    assert r["rounds_to_best_ci_low"] < 4 < r["rounds_to_best_ci_high"]
    assert r["reached_target"] == 5
    g = by.loc["grid"]  # 4 seeds: a mean, no interval
    assert g["seeds"] == 4 and g["rounds_to_best_mean"] == 1
    assert math.isnan(g["rounds_to_best_ci_low"]) and math.isnan(g["rounds_to_best_ci_high"])


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    values = np.array([10.0, 12.0, 14.0, 20.0, 30.0])
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)
    low, high = bootstrap_ci(values)
    assert 10.0 <= low < values.mean() < high <= 30.0
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([3.0])))
    assert all(math.isnan(v) for v in bootstrap_ci(values[:4]))  # below 5 values: no interval


def test_the_median_has_its_own_interval_which_an_outlier_moves_less():
    values = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 400.0])
    low, high = bootstrap_ci(values, statistic="median")
    assert 10.0 <= low <= np.median(values) <= high <= 15.0  # the 400 J seed cannot drag it
    _, mean_high = bootstrap_ci(values)
    assert mean_high > 60.0  # the mean's interval is pulled far up by the same seed


@pytest.mark.parametrize("n", [6, 7, 10, 65, 202])  # 5, 6, 9, 64, 201 kept
@pytest.mark.parametrize("kind", ["continuous", "ties"])
def test_the_fast_bootstrap_equals_the_plain_one_number_for_number(n, kind):
    """The intervals come from drawn positions and counts shared across calls, and the median from
    running counts instead of sorting each resample: every interval must still be the one that
    ``rng.choice`` draws with ``np.mean``/``np.median`` give (committed tables depend on it)."""
    rng = np.random.default_rng(n)
    values = rng.normal(size=n) if kind == "continuous" else rng.integers(1, 6, size=n).astype(float)
    values[1] = np.nan  # dropped before resampling, as before
    kept = values[~np.isnan(values)]
    for seed in (0, 7):
        draws = np.random.default_rng(seed).choice(kept, size=(2_000, len(kept)), replace=True)
        tail = (1 - 0.95) / 2 * 100
        mean_ci = tuple(float(v) for v in np.percentile(draws.mean(axis=1), [tail, 100 - tail]))
        median_ci = tuple(float(v) for v in np.percentile(np.median(draws, axis=1), [tail, 100 - tail]))
        assert bootstrap_ci(values, resamples=2_000, seed=seed) == mean_ci
        assert bootstrap_ci(values, resamples=2_000, seed=seed, statistic="median") == median_ci


def test_the_sign_flip_patterns_are_the_ones_rng_choice_draws():
    from harness.report.stats import FLIPS, sign_flip_p

    diff = np.random.default_rng(3).normal(0.1, 1.0, size=40)
    signs = np.random.default_rng(5).choice((1.0, -1.0), size=(FLIPS, 40))
    signs[0] = 1.0
    expected = float(
        np.mean(np.abs(signs @ diff) / 40 >= abs(diff.mean()) - 1e-12 * max(1.0, abs(diff.mean())))
    )
    assert sign_flip_p(diff, seed=5) == expected
    assert sign_flip_p(diff, seed=5) == expected  # the cached patterns are not changed by a call


def test_gqi_unit_is_kwh_and_its_sign_flips_at_one_kwh():
    assert gqi(0.9, JOULES_PER_KWH * 10) == pytest.approx(0.9 / 1.0)
    assert gqi(0.9, JOULES_PER_KWH / 10) == pytest.approx(-0.9)  # below 1 kWh: negative
    assert math.isnan(gqi(0.9, JOULES_PER_KWH))  # at 1 kWh: undefined
    assert gqi(0.5, JOULES_PER_KWH * 100, alpha=2, beta=3) == pytest.approx(3 * 0.25 / 2)


def test_pareto_front_keeps_only_undominated_rounds():
    energy = np.array([5.0, 1.0, 3.0, 2.0, 4.0, np.nan])
    accuracy = np.array([0.9, 0.2, 0.8, 0.5, 0.7, 0.99])
    fe, fa = pareto_front(energy, accuracy)
    assert list(fe) == [1.0, 2.0, 3.0, 5.0] and list(fa) == [0.2, 0.5, 0.8, 0.9]


@needs_paper
def test_paper_rq1_fm3_rounds_to_best_match_an_independent_reading():
    # Read the published file with the csv module alone: first round (1-based) equal to the maximum.
    expected = {}
    model = strategy = None
    with (PAPER / "RQ1_FM_3.csv").open() as fh:
        rows = list(csv.reader(fh))[1:]
    blocks: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row[0] in ("DensePolyNN", "DenseLinearNN", "SimpleCNN"):
            model = row[0]
        elif not row[0].isdigit():
            strategy = row[0]
        else:
            blocks.setdefault((model, strategy), []).append(float(row[7]))
    for key, accs in blocks.items():
        expected[key] = accs.index(max(accs)) + 1
    assert len(expected) == 9 and all(len(v) == 64 for v in blocks.values())

    summary = reduce_studies(load([], extra=[read_paper_csv(PAPER / "RQ1_FM_3.csv")]).trials, Definitions())
    names = {"DensePolyNN": "dense_poly", "DenseLinearNN": "dense_linear", "SimpleCNN": "simple_cnn"}
    strategies = {"random_uniform": "random", "grid": "grid", "bayesian_uniform": "bayes_pi"}
    got = {(r["model"], r["strategy"]): r["rounds_to_best"] for _, r in summary.iterrows()}
    assert got == {(names[m], strategies[s]): v for (m, s), v in expected.items()}


@needs_paper
def test_paper_headline_bayesian_mean_is_28_7_rounds_over_the_12_cells():
    frames = [read_paper_csv(p) for p in sorted(PAPER.glob("RQ1_*.csv"))]
    summary = reduce_studies(load([], extra=frames).trials, Definitions())
    assert len(summary) == 36
    means = summary.groupby("strategy")["rounds_to_best"].mean()
    assert means["bayes_pi"] == pytest.approx(28.7, abs=0.05)
    assert means["random"] == pytest.approx(38.8, abs=0.1) and means["grid"] == pytest.approx(35.9, abs=0.1)


@needs_paper
def test_paper_energy_is_per_round_of_eight_trainings():
    frame = read_paper_csv(PAPER / "RQ1_FM_3.csv")
    first = frame.iloc[0]
    assert first["round"] == 1 and first["energy_j"] == pytest.approx(196.4738252 * 8)
    assert first["dataset"] == "fashion_mnist" and first["space"] == "paper3"
    assert first["p_beta2"] == pytest.approx(0.927482232)


def test_sweep_directory_with_jobs_still_missing(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for name, accs in (("job_a", [0.5, 0.9]), ("job_b", None), ("job_c", [0.7, 0.6])):
        job = sweep / name
        (job / ".hydra").mkdir(parents=True)
        if accs is not None:
            write(table(name, accs), job / "trials.csv")
    loaded = load([str(sweep)])
    assert sorted(loaded.trials["study"].unique()) == ["job_a", "job_c"]
    assert loaded.missing_jobs == [sweep / "job_b"]
    assert "job_b has no trials yet" in capsys.readouterr().err


def test_parquet_input(tmp_path):
    path = tmp_path / "t.parquet"
    table("p", [0.3, 0.6]).to_parquet(path)
    s = reduce_studies(load([str(path)]).trials, Definitions()).set_index("study")
    assert s.loc["p", "rounds_to_best"] == 2


def test_cli_writes_tables_and_plots(tmp_path, capsys):
    a = write(table("a", [0.5, 0.9], strategy="bayes"), tmp_path / "a.csv")
    b = write(table("b", [0.8, 0.85], strategy="grid"), tmp_path / "b.csv")
    with pytest.raises(SystemExit) as code:
        report_main([a, b, "--out", str(tmp_path / "rep"), "--svg"])
    assert code.value.code == 0
    out = capsys.readouterr().out
    assert "| harness | d | m | s | bayes | 1 | 0.9000 | 2.0 |" in out
    for name in (
        "summary.csv",
        "summary_by_strategy.csv",
        "summary.md",
        "convergence_energy.png",
        "convergence_rounds.png",
        "pareto.png",
        "joules_to_target.png",
        "pareto.svg",
        "summary.parquet",
        "summary_by_strategy.parquet",
    ):
        assert (tmp_path / "rep" / name).stat().st_size > 0, name
    parquet = pd.read_parquet(tmp_path / "rep" / "summary.parquet")
    assert (
        parquet["joules_to_best"].tolist()
        == pd.read_csv(tmp_path / "rep" / "summary.csv")["joules_to_best"].tolist()
    )
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    contract = [
        "study",
        "dataset",
        "model",
        "strategy",
        "seed",
        "rounds",
        "best_accuracy",
        "rounds_to_best",
        "joules_to_best",
        "total_joules",
        "rounds_to_target",
        "joules_to_target",
    ]
    assert set(contract) <= set(summary.columns)


def test_the_whole_search_in_kwh_and_co2e(tmp_path, capsys):
    one_kwh = write(table("a", [0.5, 0.9], [1.8e6, 1.8e6]), tmp_path / "a.csv")  # 3.6 MJ = 1 kWh
    with pytest.raises(SystemExit):
        report_main([one_kwh, "--out", str(tmp_path / "default"), "--no-plots"])
    row = pd.read_csv(tmp_path / "default" / "summary.csv").iloc[0]
    assert row["search_total_kwh"] == pytest.approx(1.0)
    assert row["search_total_kgco2e"] == pytest.approx(0.48)  # the world's 2023 average, 480 g/kWh
    with pytest.raises(SystemExit):
        report_main(
            [
                one_kwh,
                "--out",
                str(tmp_path / "site"),
                "--no-plots",
                "--carbon-intensity",
                "200",
                "--pue",
                "1.5",
            ]
        )
    row = pd.read_csv(tmp_path / "site" / "summary.csv").iloc[0]
    assert row["search_total_kwh"] == pytest.approx(1.5) and row["search_total_kgco2e"] == pytest.approx(0.3)
    out = capsys.readouterr().out
    assert "3,600,000 J, 300.00 g" in out and "at 200 gCO2e/kWh (given with --carbon-intensity)" in out


@pytest.mark.parametrize(
    ("region", "said"),
    [
        ("FRA", "France (FRA): Our World in Data energy mix 20"),
        ("france", "France (FRA): Our World in Data energy mix 20"),
        ("USA/california", "USA/california: EPA eGRID"),
    ],
)
def test_carbon_by_region_reads_codecarbon_s_offline_data_and_names_its_source(
    tmp_path, capsys, region, said
):
    """CodeCarbon (the optional extra 'carbon') ships each country's and US state's grid intensity;
    the report uses the region's and prints its source and year beside the CO2e."""
    import json

    pytest.importorskip("codecarbon", reason="CodeCarbon is the optional extra 'carbon'")
    from harness.report.carbon import by_region

    one_kwh = write(table("a", [0.5, 0.9], [1.8e6, 1.8e6]), tmp_path / "a.csv")
    with pytest.raises(SystemExit):
        report_main([one_kwh, "--out", str(tmp_path / "r"), "--no-plots", "--carbon-region", region])
    intensity = by_region(region)
    assert said in intensity.source and "via CodeCarbon" in intensity.source
    # The figure is the data file's own, read directly.
    data = (
        Path(importlib.util.find_spec("codecarbon").submodule_search_locations[0]) / "data" / "private_infra"
    )
    if region.startswith("USA/"):
        lbs_per_mwh = json.loads((data / "2023" / "usa_emissions.json").read_text())["california"][
            "emissions"
        ]
        assert intensity.g_per_kwh == pytest.approx(lbs_per_mwh * 0.45359237)
    else:
        fra = json.loads((data / "global_energy_mix.json").read_text())["FRA"]["carbon_intensity"]
        assert intensity.g_per_kwh == pytest.approx(fra)
    row = pd.read_csv(tmp_path / "r" / "summary.csv").iloc[0]
    assert row["search_total_kgco2e"] == pytest.approx(intensity.g_per_kwh / 1000)  # one kWh
    summary_md = (tmp_path / "r" / "summary.md").read_text()
    for text in (capsys.readouterr().out, summary_md):
        assert f"at {intensity.g_per_kwh:g} gCO2e/kWh ({intensity.source})" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--carbon-region", "Frnace"], "no country of that code or name in CodeCarbon's data"),
        (["--carbon-region", "USA/californa"], "did you mean USA/california?"),
        (["--carbon-region", "FRA/paris"], "regions within a country exist for the USA only"),
        (["--carbon-region", "FRA", "--carbon-intensity", "5"], "not allowed with argument"),
    ],
)
def test_a_bad_carbon_region_is_one_line_exit_2(tmp_path, args, message):
    pytest.importorskip("codecarbon", reason="CodeCarbon is the optional extra 'carbon'")
    ok = write(table("ok", [0.5]), tmp_path / "ok.csv")
    out = run_cli(["harness-report", ok, "--no-plots", *args, "--out", str(tmp_path / "rep")], tmp_path)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "rep").exists()


def test_without_codecarbon_a_carbon_region_says_how_to_install_it(monkeypatch):
    from harness.errors import HarnessError
    from harness.report import carbon

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "codecarbon" else real(name, *a)
    )
    with pytest.raises(HarnessError, match=r"pip install -e '\.\[carbon\]'"):
        carbon.by_region("FRA")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing_dir"], "missing_dir does not exist"),
        (["ok.csv", "--pue", "0.5"], "--pue at least 1"),
        (["bad.csv"], "bad.csv lacks the column(s) energy_j"),
        (["ok.csv", "--target", "7"], "--target=7.0 must be an accuracy in (0, 1]"),
        (["empty"], "no trial rows found"),
        (["odd.csv"], "odd.csv has status 'running'; a round's status is one of complete, failed, pruned"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, args, message):
    pd.DataFrame(
        {
            "study": ["x"],
            "dataset": ["d"],
            "model": ["m"],
            "strategy": ["s"],
            "seed": [0],
            "round": [1],
            "accuracy": [0.5],
        }
    ).to_csv(tmp_path / "bad.csv", index=False)
    write(table("ok", [0.5]), tmp_path / "ok.csv")
    (tmp_path / "empty").mkdir()
    write(table("odd", [0.5], status=["running"]), tmp_path / "odd.csv")
    out = run_cli(["harness-report", *args, "--out", str(tmp_path / "rep")], tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "rep" / "summary.csv").exists()


def test_reducer_does_not_import_torch():
    code = (
        "import sys, harness.report.cli, harness.report.plots;"
        "banned = ('torch', 'harness.train', 'harness.energy', 'harness.search');"
        "bad = [m for m in banned if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_net_joules_replace_gross_ones_when_asked(tmp_path, capsys):
    frame = table("a", [0.5, 0.9]).assign(energy_net_j=[4.0, 6.0])
    path = write(frame, tmp_path / "a.csv")
    with pytest.raises(SystemExit):
        report_main([path, "--out", str(tmp_path / "rep"), "--net", "--no-plots"])
    assert "net of each study's idle baseline" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "rep" / "summary.csv").loc[0, "joules_to_best"] == 10.0
    out = run_cli(
        [
            "harness-report",
            write(table("b", [0.5]), tmp_path / "b.csv"),
            "--net",
            "--out",
            str(tmp_path / "rep2"),
        ],
        tmp_path,
    )
    assert out.returncode == 2 and "meter.idle_s > 0" in out.stderr


def test_machine_and_shared_counters_reach_the_summary(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    write(
        table("a", [0.5, 0.9]).assign(shared_counters=[True, False], energy_source="rapl"), run / "trials.csv"
    )
    (run / "study.json").write_text(
        '{"machine": {"hostname": "node7", "cpu_model": "EPYC 7742", "gpu_names": ["A100"]}}'
    )
    with pytest.raises(SystemExit):
        report_main([str(run), "--out", str(tmp_path / "rep"), "--no-plots"])
    assert "1 round(s) were metered while other jobs ran" in capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    assert summary.loc[0, "machine"] == "node7 / EPYC 7742 / A100"
    assert summary.loc[0, "shared_counter_rounds"] == 1


def test_storage_url_input_reads_the_recorded_rounds(make_config, tmp_path):
    from harness import study as study_mod

    cfg = make_config("strategy=random", "study.rounds=2")
    study_mod.run(cfg, tmp_path / "run")
    from_storage = load([cfg.study.storage]).trials
    from_csv = load([str(tmp_path / "run" / "trials.csv")]).trials
    assert list(from_storage["round"]) == [1, 2]
    assert list(from_storage["accuracy"]) == list(from_csv["accuracy"])
    assert from_storage["machine"].iloc[0] == from_csv["machine"].iloc[0] != ""


def test_the_same_study_name_on_two_machines_is_two_studies(tmp_path):
    for host, accs in (("a", [0.5, 0.9]), ("b", [0.8, 0.7])):
        run = tmp_path / host / "digits-simple_cnn-bayes-paper3-s0"
        run.mkdir(parents=True)
        write(table("digits-simple_cnn-bayes-paper3-s0", accs), run / "trials.csv")
        (run / "study.json").write_text(f'{{"machine": {{"hostname": "{host}"}}}}')
    summary = reduce_studies(load([str(tmp_path)]).trials, Definitions())
    assert sorted(zip(summary["machine"], summary["best_accuracy"], strict=True)) == [("a", 0.9), ("b", 0.8)]
    by = reduce_strategies(summary)
    assert sorted(by["machine"]) == ["a", "b"] and list(by["seeds"]) == [1, 1]


def test_an_estimated_domain_inside_a_joined_source_is_still_flagged(tmp_path, capsys):
    frame = table("a", [0.5, 0.9]).assign(energy_source="nvml_counter+estimate")
    with pytest.raises(SystemExit):
        report_main([write(frame, tmp_path / "a.csv"), "--out", str(tmp_path / "rep"), "--no-plots"])
    assert (
        "Energy sources include estimate: these joules are not hardware readings." in capsys.readouterr().out
    )


def test_the_search_energy_is_reported_beside_the_training_energy(tmp_path):
    frame = table("a", [0.5, 0.9, 0.7], [10.0, 20.0, 40.0]).assign(suggest_j=[1.0, 2.0, 4.0])
    s = reduce(tmp_path, frame, table("paper-like", [0.4, 0.8]))
    row = s.loc["a"]
    assert row["joules_to_best"] == 30.0  # training and evaluation only, as before
    assert row["joules_to_best_with_search"] == 33.0
    assert row["search_joules"] == 7.0
    assert row["joules_to_target_with_search"] == 33.0
    # A table without suggest_j (the paper's CSVs, older runs) has no search figures, not zeros.
    assert math.isnan(s.loc["paper-like", "search_joules"])
    assert math.isnan(s.loc["paper-like", "joules_to_best_with_search"])
    by = reduce_strategies(s.reset_index()).set_index("model")
    assert "joules_to_best_with_search_mean" in by.columns and "search_joules_mean" in by.columns


def test_with_search_counts_the_search_in_every_figure(tmp_path, capsys):
    frame = table("a", [0.5, 0.9], [10.0, 20.0]).assign(suggest_j=[1.0, 2.0])
    path = write(frame, tmp_path / "a.csv")
    with pytest.raises(SystemExit):
        report_main([path, "--out", str(tmp_path / "rep"), "--with-search", "--no-plots"])
    assert "include the search's own" in capsys.readouterr().out
    row = pd.read_csv(tmp_path / "rep" / "summary.csv").iloc[0]
    assert row["joules_to_best"] == 33.0 and row["joules_to_best_with_search"] == 33.0
    assert row["search_joules"] == 3.0
    out = run_cli(
        [
            "harness-report",
            write(table("b", [0.5]), tmp_path / "b.csv"),
            "--with-search",
            "--out",
            str(tmp_path / "r"),
        ],
        tmp_path,
    )
    assert out.returncode == 2 and "needs suggest_j" in out.stderr


def seeds_of(strategy, first_hits, seeds, n=12):
    """One study per seed whose accuracy first reaches 0.9 at round first_hits[i] (None: never)."""
    frames = []
    for seed, hit in zip(seeds, first_hits, strict=True):
        acc = [0.5] * n
        if hit is not None:
            acc[hit - 1] = 0.9
        frames.append(table(f"{strategy}-s{seed}", acc, [2.0] * n, strategy=strategy, seed=seed))
    return frames


def test_strategies_are_compared_paired_by_seed_with_an_interval_and_a_test(tmp_path):
    from harness.report.compare import compare_strategies, verdict

    frames = seeds_of("grid", [11, 12, 11, 12, 11], range(5)) + seeds_of("bayes", [1, 2, 1, 2, 1], range(5))
    s = reduce(tmp_path, *frames, target=0.85).reset_index()
    c = compare_strategies(s).set_index("metric")
    row = c.loc["rounds_to_target"]
    assert (row["strategy_a"], row["strategy_b"]) == ("bayes", "grid")
    assert row["pairs"] == 5 and row["mean_difference"] == -10.0
    assert row["ci_low"] == row["ci_high"] == -10.0
    assert row["wilcoxon_p"] == pytest.approx(0.0625)  # 5 pairs, all one sign: the exact two-sided p
    assert row["sign_flip_p"] == pytest.approx(2 / 32)  # the smallest p five pairs can give
    # Five seeds cannot make a claim at the 5% level, however one-sided: the reading says so.
    assert verdict(row).startswith("cannot tell")
    assert c.loc["joules_to_target", "mean_difference"] == -20.0  # 2 J per round


def test_a_one_sided_difference_over_ten_seeds_survives_holm_and_reads_as_a_finding(tmp_path):
    from harness.report.compare import compare_strategies, verdict

    frames = seeds_of("grid", [11, 12] * 5, range(10)) + seeds_of("bayes", [1, 2] * 5, range(10))
    c = compare_strategies(reduce(tmp_path, *frames, target=0.85).reset_index()).set_index("metric")
    row = c.loc["rounds_to_target"]
    assert row["sign_flip_p"] == pytest.approx(2 / 1024)
    tests = int(c["test_p"].notna().sum())
    assert row["sign_flip_p"] < row["p_holm"] <= tests * 2 / 1024 and row["p_holm"] < 0.05
    assert verdict(row) == "bayes needs less"
    # Every seed reached the target, so the censored analysis agrees: 10 rounds sooner, log-rank.
    censored = c.loc["rounds_to_target_censored"]
    assert censored["mean_difference"] == pytest.approx(-10.0) and censored["logrank_p"] < 0.001


def test_no_interval_and_no_claim_below_five_paired_seeds(tmp_path):
    from harness.report.compare import compare_strategies, verdict

    frames = seeds_of("grid", [11, None, 11, 12, 11], range(5)) + seeds_of(
        "random", [3, 2, 1, 2, 1], range(5)
    )
    frames += seeds_of("tpe", [4, 4], [0, 9])  # seed 9 has no partner: never paired
    s = reduce(tmp_path, *frames, target=0.85).reset_index()
    c = compare_strategies(s)
    gr = c[(c["strategy_a"] == "grid") & (c["strategy_b"] == "random") & (c["metric"] == "rounds_to_target")]
    row = gr.iloc[0]
    assert row["pairs"] == 4 and row["a_reached"] == 4 and row["b_reached"] == 5
    assert math.isnan(row["ci_low"]) and math.isnan(row["wilcoxon_p"])
    assert verdict(row).startswith("cannot tell (4 paired seeds")
    tpe = c[(c["strategy_b"] == "tpe") & (c["metric"] == "rounds_to_target")]
    assert set(tpe["seeds"]) == {1}


def test_the_cli_writes_the_comparisons(tmp_path, capsys):
    frames = seeds_of("grid", [11, 12, 11, 12, 11], range(5)) + seeds_of("bayes", [1, 2, 1, 2, 1], range(5))
    paths = [write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]
    with pytest.raises(SystemExit):
        report_main([*paths, "--out", str(tmp_path / "rep"), "--no-plots", "--target", "0.85"])
    printed = capsys.readouterr().out
    assert "paired by seed" in printed and "bayes needs less" in printed
    assert "## Strategies compared, paired by seed" in (tmp_path / "rep" / "summary.md").read_text()
    comparisons = pd.read_csv(tmp_path / "rep" / "comparisons.csv")
    assert set(comparisons["metric"]) >= {"rounds_to_target", "joules_to_target"}


# --------------------------------------------------------------------------------------------------
# Figures over seeds


def test_a_seed_that_ends_early_keeps_its_best_in_the_median():
    from harness.report.plots import best_so_far, seed_curves

    short = table("a", [0.5, 0.9], seed=0)  # ends after 20 J
    long = table("b", [0.6, 0.6, 0.6, 0.95], seed=1)  # ends after 40 J
    curves = best_so_far(pd.concat([short, long]).assign(origin="harness", machine=""))
    grid = np.array([5.0, 10.0, 20.0, 30.0, 40.0])
    stack = seed_curves(curves, "cumulative_j", grid)
    assert np.isnan(stack[:, 0]).all()  # before every seed has a round: nothing, for all of them
    assert stack[:, -1].tolist() == [0.9, 0.95]  # the short seed carries its best to the end
    assert not np.isnan(stack[:, 1:]).any()


def test_studies_with_other_settings_are_other_cells_and_repeated_seeds_are_flagged(tmp_path):
    from harness.report.reduce import duplicate_seeds

    frames = [
        table("d-m-random-s-s0-e2", [0.5, 0.9], seed=0),
        table("d-m-random-s-s1-e2", [0.5, 0.8], seed=1),
        table("d-m-random-s-s0", [0.9, 0.9], seed=0),  # the options' own epochs: another cell
    ]
    for f in frames:
        f["model"], f["space"] = "m", "s"
    summary = reduce_studies(
        load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials, Definitions()
    )
    by = reduce_strategies(summary).set_index("settings")
    assert by.loc["e2", "seeds"] == 2 and by.loc["", "seeds"] == 1
    assert not duplicate_seeds(summary)
    again = table("d-m-random-s-s0-e2-copy", [0.5, 0.9], seed=0)  # a copy under another name
    again["settings"] = "e2"
    twice = reduce_studies(
        load([write(f, tmp_path / f"x{i}.csv") for i, f in enumerate([frames[0], again])]).trials,
        Definitions(),
    )
    (warning,) = duplicate_seeds(twice)
    assert "seed 0 appears more than once" in warning


def test_small_joule_ticks_are_distinct():
    from harness.report.plots import tick_formatter

    ticks = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    labels = [tick_formatter(ticks)(t) for t in ticks]
    assert len(set(labels)) == len(labels) and labels[1] == "0.5"
    big = np.array([0.0, 2000.0, 4000.0])
    assert [tick_formatter(big)(t) for t in big] == ["0", "2,000", "4,000"]


def test_no_interval_is_claimed_below_five_seeds(tmp_path):
    from harness.report.plots import joules_to_target_figure

    frames = [table(f"r{k}", [0.5, 0.9], seed=k) for k in range(3)]
    summary = reduce_studies(
        load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials, Definitions()
    )
    fig = joules_to_target_figure(reduce_strategies(summary))
    label = fig.axes[0].get_xlabel()
    assert "CI" not in label and "mean" in label


def test_the_pareto_panel_names_the_round_to_round_energy_noise():
    from harness.report.plots import energy_noise_note

    noisy = table("a", [0.5, 0.6, 0.7, 0.8], [7.0, 9.9, 7.2, 9.5]).assign(origin="harness", machine="")
    assert "vary by 18% in energy" in energy_noise_note(noisy)


def test_the_layer_ablation_reports_each_factor_s_energy_change(tmp_path):
    from harness.report.ablation import ablation

    frames = []
    for seed in range(5):
        for conv, joules in ((1, 10.0), (4, 19.0 + seed * 0.5)):
            for linear, extra in ((3, 0.0), (7, 0.5)):
                f = table(f"s{seed}-c{conv}-l{linear}", [0.8, 0.9], [joules + extra] * 2, seed=seed)
                frames.append(f.assign(conv_layers=conv, linear_layers=linear, relu=True))
    trials = load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials
    table_ = ablation(trials).set_index("factor")
    assert set(table_.index) == {"conv_layers", "linear_layers"}  # relu has one level: no row
    conv = table_.loc["conv_layers"]
    assert (conv["from"], conv["to"], conv["studies_from"], conv["studies_to"]) == ("1", "4", 10, 10)
    assert conv["energy_change_pct"] == pytest.approx(100 * (20.25 / 10.25 - 1))
    # Paired by seed and the other factor: 10 pairs, a t interval on their log ratios.
    assert conv["pairs"] == 10
    ratios = [(19.0 + s * 0.5 + e) / (10.0 + e) for s in range(5) for e in (0.0, 0.5)]
    logs = np.log(ratios)
    half = 2.262157 * logs.std(ddof=1) / math.sqrt(10)  # Student's t, 9 degrees of freedom
    assert conv["energy_change_geo_pct"] == pytest.approx(100 * (math.exp(logs.mean()) - 1))
    assert conv["energy_change_ci_low"] == pytest.approx(100 * (math.exp(logs.mean() - half) - 1), rel=1e-5)
    assert conv["energy_change_ci_high"] == pytest.approx(100 * (math.exp(logs.mean() + half) - 1), rel=1e-5)
    assert conv["accuracy_from"] == pytest.approx(0.85)


def test_best_accuracy_within_a_joule_budget(tmp_path, capsys):
    path = write(table("a", [0.5, 0.9, 0.95], [10.0, 10.0, 10.0]), tmp_path / "a.csv")
    with pytest.raises(SystemExit):
        report_main([path, "--out", str(tmp_path / "rep"), "--no-plots", "--budget", "25"])
    row = pd.read_csv(tmp_path / "rep" / "summary.csv").iloc[0]
    assert row["best_accuracy_within_budget"] == 0.9  # the third round would end at 30 J
    assert "d / m / s / random: 0.9000" in capsys.readouterr().out


def test_who_found_the_best_accuracy_in_each_seed_and_how_steady_a_round_s_energy_is(tmp_path):
    from harness.report.compare import compare_strategies, verdict

    frames = []
    for seed in range(5):
        frames.append(
            table(
                f"b{seed}", [0.5, 0.9 if seed else 0.7], [10.0, 10.0, 10.0][:2], strategy="bayes", seed=seed
            )
        )
        frames.append(table(f"r{seed}", [0.8, 0.8, 0.8], [9.0, 10.0, 11.0], strategy="random", seed=seed))
    summary = reduce_studies(
        load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials, Definitions()
    )
    by = reduce_strategies(summary).set_index("strategy")
    assert by.loc["bayes", "best_in_seeds"] == 4 and by.loc["random", "best_in_seeds"] == 1
    assert by.loc["random", "energy_cv_mean"] == pytest.approx(0.1)  # 9, 10, 11 J
    rows = compare_strategies(summary)
    best = rows[rows["metric"] == "best_accuracy"].iloc[0]
    assert best["pairs"] == 5 and best["mean_difference"] == pytest.approx((4 * 0.1 - 0.1) / 5)
    assert verdict(best).startswith("cannot tell")  # five seeds: no claim at the 5% level


def test_the_pareto_table_lists_the_non_dominated_rounds(tmp_path):
    from harness.report.reduce import pareto_rounds

    t = table("a", [0.5, 0.9, 0.6, 0.9, 0.95], [5.0, 10.0, 20.0, 30.0, 40.0]).assign(p_lr=[1, 2, 3, 4, 5])
    front = pareto_rounds(load([write(t, tmp_path / "a.csv")]).trials)
    assert front["round"].tolist() == [1, 2, 5] and front["p_lr"].tolist() == [1, 2, 5]


def test_the_corrected_protocol_s_test_accuracy_is_compared_over_seeds(tmp_path):
    from harness.report.compare import compare_strategies, verdict

    frames = []
    for seed in range(5):
        frames.append(
            table(f"b{seed}", [0.8], strategy="bayes", seed=seed).assign(
                final_test_accuracy=0.75 + seed / 1000
            )
        )
        frames.append(table(f"r{seed}", [0.8], strategy="random", seed=seed).assign(final_test_accuracy=0.70))
    summary = reduce_studies(
        load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials, Definitions()
    )
    assert reduce_strategies(summary).set_index("strategy").loc[
        "bayes", "test_accuracy_mean"
    ] == pytest.approx(0.752)
    rows = compare_strategies(summary)
    (row,) = rows[rows["metric"] == "test_accuracy"].to_dict("records")
    # Higher in every seed, but five seeds cannot carry a claim at the 5% level.
    assert row["pairs"] == 5 and row["ci_low"] > 0 and row["sign_flip_p"] == pytest.approx(2 / 32)
    assert verdict(pd.Series(row)).startswith("cannot tell")


def test_every_strategy_has_its_own_colour_and_a_pruned_variant_is_its_strategy_dashed():
    from harness.report.plots import STRATEGY_ORDER, _colour, _line_style

    colours = [_colour(s) for s in STRATEGY_ORDER]
    assert len(set(colours)) == len(colours)
    assert _colour("bayes_pi+median") == _colour("bayes_pi") and _line_style("bayes_pi+median") == "--"
    assert _colour("someone_elses") != (0.3, 0.3, 0.3) and _colour("someone_elses") == _colour(
        "someone_elses"
    )


def test_figures_say_what_the_rounds_were_scored_on_and_drop_the_noise_note_where_cost_is_searched(tmp_path):
    from harness.report.plots import _searches_cost, convergence_figure, plot_pareto

    validated = table("d-m-random-s-s0-val0.2", [0.5, 0.6, 0.7], [1.0, 8.0, 3.0])
    validated = validated.assign(study="d-m-random-s-s0-val0.2", p_epochs=[1, 4, 2])
    loaded = load([write(validated, tmp_path / "v.csv")]).trials
    fig = convergence_figure(loaded, by="energy")
    assert fig.axes[0].get_ylabel() == "best-so-far validation accuracy"
    plot_pareto(loaded, tmp_path, svg=False)
    plain = load([write(table("a", [0.5, 0.6, 0.7], [7.0, 9.9, 7.2]), tmp_path / "p.csv")]).trials
    assert convergence_figure(plain, by="energy").axes[0].get_ylabel() == "best-so-far test accuracy"
    # Rounds that train other epochs differ in energy by design: no "that is noise" note there.
    assert _searches_cost(loaded) and not _searches_cost(plain)


def test_the_score_label_comes_from_the_recorded_configuration_whatever_the_study_is_named(tmp_path):
    """A study named by study.name carries no ``val`` token: its study.json says it was scored on a
    validation split."""
    import json

    from harness.report.plots import convergence_figure

    for name, validation in (("custom", 0.2), ("other", 0.0)):
        folder = tmp_path / name
        folder.mkdir()
        write(table(name, [0.5, 0.6, 0.7], [1.0, 2.0, 3.0]), folder / "trials.csv")
        config = {
            "dataset": {"name": "digits", "validation": validation} if validation else {"name": "digits"}
        }
        (folder / "study.json").write_text(json.dumps({"config": config}))
    custom = load([str(tmp_path / "custom" / "trials.csv")]).trials
    assert set(custom["scored_on"]) == {"validation"}
    assert convergence_figure(custom, by="energy").axes[0].get_ylabel() == "best-so-far validation accuracy"
    other = load([str(tmp_path / "other" / "trials.csv")]).trials
    assert convergence_figure(other, by="energy").axes[0].get_ylabel() == "best-so-far test accuracy"
    both = load([str(tmp_path / "custom" / "trials.csv"), str(tmp_path / "other" / "trials.csv")]).trials
    assert (
        convergence_figure(both, by="energy").axes[0].get_ylabel()
        == "best-so-far validation or test accuracy"
    )
    # A study that recorded nothing (an outside table) beside one that did: its name's split token
    # speaks for it alone, and the recorded study keeps its own.
    from harness.report.plots import _score_label

    mixed = pd.DataFrame({"scored_on": ["validation", None], "settings": ["", "e1-val0.2"]})
    assert _score_label(mixed, "best") == "best validation accuracy"
    mixed["settings"] = ["e1-val0.2", ""]  # the unrecorded one names no split: the test set
    assert _score_label(mixed, "best") == "best validation or test accuracy"


def test_studies_export_to_mlflow_as_one_run_each_with_every_round_a_step(tmp_path):
    """A real MLflow tracking store (SQLite): per round accuracy, joules and their running sum, per
    study its summary and energy source; exporting again adds nothing and keeps the run IDs."""
    from mlflow.tracking import MlflowClient

    a = table("a", [0.5, None, 0.7], [1.0, 2.0, 4.0], status=["complete", "failed", "complete"])
    a = a.assign(energy_source="estimate")
    b = table("b", [0.6, 0.8], [3.0, 5.0], strategy="grid", seed=1).assign(energy_source="rapl")
    paths = [write(a, tmp_path / "a.csv"), write(b, tmp_path / "b.csv")]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["harness-report", *paths, "--out", str(tmp_path / "out"), "--no-plots", "--mlflow", uri]
    ids = []
    for _ in range(2):  # the second export finds the runs and adds nothing
        out = run_cli(args, tmp_path)
        assert out.returncode == 0, out.stderr
        assert "mlflow: 2 run(s) in experiment 'harness'" in out.stdout
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("harness")
        every = client.search_runs([experiment.experiment_id])
        ids.append(sorted(r.info.run_id for r in every))
    assert ids[0] == ids[1]  # stable run IDs: links to them keep working
    runs = {r.info.run_name: r for r in every if "mlflow.parentRunId" not in r.data.tags}
    assert sorted(runs) == ["a", "b", "report"]
    run = runs["a"]
    assert run.data.params["strategy"] == "random" and run.data.tags["energy_source"] == "estimate"
    history = {
        key: [
            (m.step, m.value)
            for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        ]
        for key in ("energy_j", "cumulative_j", "accuracy", "best_accuracy_so_far")
    }
    assert history["energy_j"] == [(1, 1.0), (2, 2.0), (3, 4.0)]  # the failed round's joules count
    assert history["cumulative_j"] == [(1, 1.0), (2, 3.0), (3, 7.0)]
    assert history["accuracy"] == [(1, 0.5), (3, 0.7)]  # no accuracy is made up for the failed round
    assert history["best_accuracy_so_far"] == [(1, 0.5), (2, 0.5), (3, 0.7)]
    assert run.data.metrics["study_total_joules"] == 7.0 and run.data.metrics["study_rounds_to_best"] == 3
    assert runs["b"].data.tags["energy_source"] == "rapl" and runs["b"].data.params["seed"] == "1"
    children = [r for r in every if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["round 1", "round 2", "round 3"]  # once each
    assert {r.info.status for r in children if r.data.tags["status"] == "failed"} == {"FAILED"}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["trials.csv"]
    assert "summary.csv" in [a.path for a in client.list_artifacts(runs["report"].info.run_id)]


def test_a_real_study_exports_its_settings_rounds_and_times_and_a_resumed_one_updates_in_place(tmp_path):
    """Parameters are the study's real settings; each round is a nested run with its hyperparameters,
    stamped with the time it was recorded; resumed with more rounds, the export adds only those."""
    import datetime as dt

    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    study = [
        "harness",
        *TINY,
        "strategy=random",
        f"study.storage=sqlite:///{tmp_path}/o.db",
        f"hydra.run.dir={run_dir}",
    ]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = ["harness-report", str(run_dir), "--out", str(tmp_path / "out"), "--no-plots", "--mlflow", uri]
    for rounds in (2, 3):
        assert run_cli([*study, f"study.rounds={rounds}"], tmp_path).returncode == 0
        out = run_cli(report, tmp_path)
        assert out.returncode == 0, out.stderr
        client = MlflowClient(uri)
        every = client.search_runs([client.get_experiment_by_name("harness").experiment_id])
        parents = [
            r for r in every if "harness.study" in r.data.tags and "mlflow.parentRunId" not in r.data.tags
        ]
        assert len(parents) == 1
        parent = parents[0]
        children = sorted(
            (r for r in every if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
            key=lambda r: int(r.data.tags["harness.round"]),
        )
        assert [r.info.run_name for r in children] == [f"round {i}" for i in range(1, rounds + 1)]
    assert parent.data.params["study.epochs"] == "1" and parent.data.params["dataset.name"] == "synthetic"
    rows = list(csv.DictReader((run_dir / "trials.csv").open()))
    for child, row in zip(children, rows, strict=True):
        assert child.data.params["lr"] == row["p_lr"]
        assert child.data.metrics["accuracy"] == pytest.approx(float(row["accuracy"]))
        finished = dt.datetime.fromisoformat(row["finished_at"])
        assert child.info.end_time == int(finished.timestamp() * 1000)  # the round's own time
    history = client.get_metric_history(parent.info.run_id, "energy_j")
    assert sorted(m.step for m in history) == [1, 2, 3]  # each round once, though exported twice


def test_an_mlflow_export_without_mlflow_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from harness.report.mlflow_export import export

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as where MLflow is not installed
    monkeypatch.setitem(sys.modules, "mlflow.entities", None)
    with pytest.raises(HarnessError, match=r"--mlflow needs MLflow .*pip install -e '\.\[mlflow\]'"):
        export(table("a", [0.5]), pd.DataFrame({"study": ["a"]}), f"sqlite:///{tmp_path / 'm.db'}")


def test_anytime_best_so_far_is_averaged_over_seeds_and_strategies_are_ranked_across_cells(tmp_path):
    from harness.report.anytime import anytime, ranks

    frames = []
    for model in ("m1", "m2", "m3"):
        for seed in range(4):
            # bayes climbs faster than random in every cell; both end at their seed's best.
            fast = [0.5, 0.8, 0.9, 0.9 + seed / 1000]
            slow = [0.5, 0.6, 0.7, 0.85]
            frames.append(table(f"b-{model}-{seed}", fast, strategy="bayes", seed=seed, model=model))
            frames.append(table(f"r-{model}-{seed}", slow, strategy="random", seed=seed, model=model))
    loaded = load([write(f, tmp_path / f"{i}.csv") for i, f in enumerate(frames)]).trials
    summary = reduce_studies(loaded, Definitions())
    curves = anytime(loaded, summary)
    bayes = curves[(curves["model"] == "m1") & (curves["strategy"] == "bayes")].set_index("round")
    assert list(bayes.index) == [1, 2, 4]  # rounds 1, 2, 4 ... and the last
    assert bayes.loc[2, "best_so_far_mean"] == pytest.approx(0.8)
    assert bayes.loc[4, "best_so_far_mean"] == pytest.approx(0.9 + 1.5 / 1000)
    assert (
        bayes.loc[4, "best_so_far_ci_low"]
        < bayes.loc[4, "best_so_far_mean"]
        < bayes.loc[4, "best_so_far_ci_high"]
    )
    # Regret against the cell's best: bayes's last seed reached 0.903.
    assert bayes.loc[4, "regret_mean"] == pytest.approx(0.903 - (0.9 + 1.5 / 1000))
    assert bayes.loc[4, "joules_mean"] == pytest.approx(40.0)
    r = ranks(curves).set_index("strategy")
    assert r.loc["bayes", "average_rank"] == 1.0 and r.loc["random", "average_rank"] == 2.0
    assert r.loc["bayes", "cells"] == 3
    assert r.loc["bayes", "critical_difference"] == pytest.approx(1.96 * math.sqrt(2 * 3 / 18))


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("accuracy", "high", "not a number"),
        ("accuracy", 1.5, "an accuracy lies in [0, 1]"),
        ("energy_j", float("inf"), "joules must be finite"),
        ("energy_j", -3.0, "joules are never negative"),
        ("round", -1, "rounds count from 1"),
        ("round", 0, "rounds count from 1"),
        ("round", 2.5, "not a whole number"),
        ("seed", "x", "not a number"),
        ("energy_j", 1e308, "more than 1e+12 J"),  # two of them sum to infinity in the cumulative curves
    ],
)
def test_the_report_refuses_a_value_no_round_can_have_naming_the_file_and_row(tmp_path, column, value, words):
    t = table("a", [0.5, 0.6, 0.7]).astype({column: object})
    t.loc[1, column] = value
    with pytest.raises(HarnessError, match=re.escape(words)) as error:
        load([write(t, tmp_path / "t.csv")])
    assert "t.csv: row 3 has" in str(error.value)


@pytest.mark.parametrize("sidecar", ["[1, 2]", '{"machine": "x"}', '{"final": {"test_accuracy": "high"}}'])
def test_a_study_json_that_is_not_a_studys_record_is_one_line_naming_it(tmp_path, sidecar):
    run = tmp_path / "run"
    run.mkdir()
    write(table("a", [0.5, 0.6]), run / "trials.csv")
    (run / "study.json").write_text(sidecar)
    with pytest.raises(
        HarnessError, match=r"study\.json(:| is not a study's record).*restore the study\.json"
    ):
        load([str(run)])


def test_a_round_recorded_twice_with_different_values_is_refused_and_identical_copies_kept_once(tmp_path):
    t = table("a", [0.9, 0.45])
    t.loc[1, "round"] = 1  # round 1 twice: 0.9 and 0.45
    with pytest.raises(HarnessError, match="round 1 of study 'a' appears twice"):
        load([write(t, tmp_path / "t.csv")])
    same = pd.concat([table("b", [0.5, 0.9])] * 2)
    assert len(load([write(same, tmp_path / "s.csv")]).trials) == 2


def test_with_fewer_seeds_than_a_comparison_needs_the_section_is_one_line_saying_how(tmp_path):
    from harness.report.compare import compare_strategies, markdown_comparisons

    summary = reduce(tmp_path, table("g", [0.5, 0.7], strategy="grid"), table("r", [0.6, 0.6])).reset_index()
    text = markdown_comparisons(compare_strategies(summary))
    assert text.count("\n") == 1 and text.startswith("No comparison yet: 1 paired seed(s) per cell")
    assert "study.seed=range(0,5)" in text


def _committed_reports() -> list[tuple[str, list[str], str]]:
    """Every committed study folder's report as its README makes it: (name, harness-report inputs and
    options relative to the project, the folder holding the committed tables)."""
    from tests.conftest import ROOT

    tables = sorted(str(t.relative_to(ROOT)) for t in (ROOT / "studies" / "replay" / "tables").iterdir())
    replay = sorted(
        str(t.relative_to(ROOT)) for t in (ROOT / "studies" / "replay").glob("*/*/trials.parquet")
    )
    return [
        ("rq1_digits", ["studies/rq1_digits/runs"], "studies/rq1_digits"),
        ("rq2_fashion", ["studies/rq2_fashion/runs"], "studies/rq2_fashion"),
        ("rq1_fashion_corrected", ["studies/rq1_fashion_corrected/runs"], "studies/rq1_fashion_corrected"),
        ("energy_aware", ["studies/energy_aware/runs"], "studies/energy_aware"),
        (
            "energy_aware_delta",
            ["studies/energy_aware/runs", "--delta", "0.03"],
            "studies/energy_aware/delta_0.03",
        ),
        (
            "rq1_fashion",
            ["studies/rq1_fashion/runs", "--paper", str(PAPER / "RQ1_FM_3.csv")],
            "studies/rq1_fashion",
        ),
        ("replay", [*replay, *(a for t in tables for a in ("--table", t))], "studies/replay/report"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name, args, folder", _committed_reports(), ids=[c[0] for c in _committed_reports()])
def test_a_committed_study_folder_regenerates_its_tables_unchanged(tmp_path, name, args, folder):
    """The reducer's speed-ups must not move a number: every committed study folder's tables (live
    runs, paired comparisons, the RQ2 ablation, a --delta, the paper's rounds beside ours, replayed
    Parquet rows with their tables' optima) come out byte for byte."""
    from tests.conftest import ROOT

    if "--paper" in args and not (PAPER / "RQ1_FM_3.csv").exists():
        pytest.skip("../shared/paper absent")
    out = run_cli(["harness-report", *args, "--no-plots", "--out", str(tmp_path)], ROOT)
    assert out.returncode == 0, out.stderr
    compared = 0
    for name in ("summary.csv", "summary_by_strategy.csv", "comparisons.csv", "anytime.csv", "ablation.csv"):
        if (ROOT / folder / name).exists():
            assert (tmp_path / name).read_bytes() == (ROOT / folder / name).read_bytes(), name
            compared += 1
    assert compared >= 2


def test_a_bad_row_in_one_of_many_trials_files_is_named_by_its_file_and_row(tmp_path):
    """A sweep's files are checked as one table for speed; a failing check still names the file."""
    for i in range(3):
        (tmp_path / f"job{i}").mkdir()
        t = table(f"s{i}", [0.5, 0.6, 0.7], seed=i)
        if i == 1:
            t = t.astype({"energy_j": object})
            t.loc[2, "energy_j"] = -1.0
        write(t, tmp_path / f"job{i}" / "trials.csv")
    with pytest.raises(
        HarnessError, match=r"job1/trials\.csv: row 4 has energy_j=-1\.0: joules are never negative"
    ):
        load([str(tmp_path)])
    assert len(load([str(tmp_path / "job0"), str(tmp_path / "job2")]).trials) == 6


def test_a_storage_s_tables_read_in_bulk_give_the_api_s_rows_exactly(make_config, tmp_path):
    """The report reads an Optuna database's tables in one query each (the API, study by study, took
    77 s for 1,000 studies); on a storage with whole-number and log-scale hyperparameters, per-epoch
    reports (a pruner), an interrupted attempt and two studies, the frames are the same, row for row."""
    import optuna

    from harness import study as study_mod
    from harness.records import INTERRUPTED_ATTR
    from harness.report.load import _read_studies, _read_tables

    for strategy in ("random", "grid"):
        cfg = make_config(
            "space=cost_aware", f"strategy={strategy}", "study.rounds=4", "dataset.validation=0.25",
            *(["strategy.pruner=median"] if strategy == "random" else []),
        )  # fmt: skip
        study_mod.run(cfg, tmp_path / strategy)
    url = cfg.study.storage
    study = optuna.load_study(study_name=cfg.study_name, storage=url)
    trial = study.ask()  # an attempt a signal interrupted: flagged, never a round
    trial.set_user_attr("record", dict(study.trials[0].user_attrs["record"]))
    trial.set_user_attr(INTERRUPTED_ATTR, True)
    bulk, api = _read_tables(url), _read_studies(url)
    assert bulk is not None and len(api) == 8
    pd.testing.assert_frame_equal(bulk, api)
    assert bulk.attrs["configs"] == api.attrs["configs"] and len(bulk.attrs["configs"]) == 2


def test_a_stored_record_becomes_the_row_its_trial_record_writes():
    """row_of, the report's fast path from a stored record to a trials.csv row, is the record's own
    row() for a full record, for an older one without the later fields, and refuses what the record
    refuses."""
    import dataclasses

    from harness.records import TrialRecord, row_of

    full = TrialRecord(
        study="s", dataset="d", model="m", strategy="random", space="p", seed=1, round=3, status="pruned",
        accuracy=None, accuracy_std=float("nan"), energy_j=1.5, energy_source="rapl", duration_s=0.1,
        train_s=0.1, eval_s=0.1, suggest_s=0.1, samples_per_s=None, repetitions=2, stack=2, reason="pruned",
        energy_net_j=0.5, shared_counters=True, contended=False, others_cores=0.1, steal_frac=0.0,
        gpu_j=1.0, cpu_j=0.5, suggest_j=0.01, interrupted_j=0.2, table="abc", finished_at="t", host="h",
    )  # fmt: skip
    params = {"lr": 0.01, "epochs": 3}
    assert row_of(full.to_attrs(), params) == TrialRecord.from_attrs(full.to_attrs(), params).row()
    later = {f.name for f in dataclasses.fields(TrialRecord) if f.default is not dataclasses.MISSING}
    old = {k: v for k, v in full.to_attrs().items() if k not in later}
    assert row_of(old, params) == TrialRecord.from_attrs(old, params).row()
    with pytest.raises(TypeError):
        row_of({**full.to_attrs(), "no_such_field": 1}, params)
    with pytest.raises(TypeError):
        row_of({k: v for k, v in full.to_attrs().items() if k != "study"}, params)


def test_a_sweep_s_files_parsed_as_one_text_give_the_rows_read_file_by_file(tmp_path):
    """A sweep's trials.csv files of one header are parsed as one CSV text (10,000 files one by one
    took most of a report). The rows, their study.json columns and the recorded configurations are
    those of reading each file alone: with and without study.json, a second header (an older table
    without suggest_j), quoted text, blank lines and a file of no rows."""
    import json

    from harness.report.load import STUDY_KEY, _read_file, _read_many, normalise

    jobs = []
    for i in range(6):
        job = tmp_path / "sweep" / f"job{i}"
        job.mkdir(parents=True)
        t = table(f"s{i}", [0.5, 0.6 + i / 100, 0.7], seed=i, strategy="grid" if i % 2 else "random")
        if i != 3:
            t["suggest_j"] = [0.1, 0.2, 0.3]  # job3: the older header
        if i == 4:
            t["reason"] = ["", "diverged, lr too high", ""]  # quoted: read on its own
        write(t, job / "trials.csv")
        if i % 3 != 2:  # job2 and job5 have no study.json
            config = {
                "model": {"linear_layers": i + 1, "relu": True},
                "dataset": {"validation": 0.1 * (i % 2)},
            }
            record = {
                "machine": {"hostname": f"h{i}"},
                "final": {"test_accuracy": 0.8 + i / 100},
                "config": config,
            }
            (job / "study.json").write_text(json.dumps(record))
        jobs.append(job / "trials.csv")
    (jobs[1]).write_text(jobs[1].read_text().replace("\n", "\n\n", 1))  # a blank line after the header
    (tmp_path / "sweep" / "job6").mkdir()
    write(table("s6", [0.5])[0:0], tmp_path / "sweep" / "job6" / "trials.csv")  # a header only

    loaded = load([str(tmp_path / "sweep")])
    alone = [_read_file(path) for path in sorted((tmp_path / "sweep").rglob("trials.csv"))]
    frames = [read.table for read in alone if len(read.table)]
    by_file = normalise(pd.concat(frames, ignore_index=True), "files")
    by_file = by_file.sort_values([*STUDY_KEY, "round"], kind="stable").reset_index(drop=True)
    got = loaded.trials[by_file.columns]
    pd.testing.assert_frame_equal(got, by_file, check_dtype=False)
    assert set(loaded.trials.columns) == set(by_file.columns)
    assert loaded.configs == {k: v for read in alone for k, v in read.configs.items()}
    assert loaded.configs["s0"]["model"]["linear_layers"] == 1 and "s2" not in loaded.configs
    assert set(loaded.trials.loc[loaded.trials["study"] == "s4", "machine"]) == {"h4"}
    assert loaded.trials.loc[loaded.trials["study"] == "s3", "suggest_j"].isna().all()
    assert len(loaded.sources) == 6  # the file of no rows is no source, as before
    together = [read.files for read in _read_many(sorted((tmp_path / "sweep").rglob("trials.csv")))]
    # Jobs 4 (quoted) and 6 (no rows) read alone, job 3's header as a text of one, jobs 0, 1, 2, 5 as one.
    assert sorted(len(files) for files in together) == [0, 0, 1, 4]


def test_the_scale_benchmark_s_storage_reads_as_one_written_through_optuna(tmp_path):
    """bench/report_scale.py writes its 10,000-study storage into Optuna's tables directly (through the
    API it took over an hour): Optuna's API and the report read it as they read the same studies
    written through the API."""
    import optuna

    from bench.report_scale import synthetic_rows, write_storage, write_storage_by_api
    from harness.report.load import _read_studies, _read_tables

    rows = synthetic_rows(6).iloc[lambda f: f.index % 64 < 5]  # 6 studies of 5 rounds
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    fast.mkdir(), slow.mkdir()
    urls = write_storage(rows, fast), write_storage_by_api(rows, slow)
    studies = [optuna.load_study(study_name=str(rows["study"].iloc[0]), storage=url) for url in urls]
    assert studies[0].user_attrs == studies[1].user_attrs and studies[0].direction == studies[1].direction
    for a, b in zip(*(s.get_trials() for s in studies), strict=True):
        assert (a.number, a.state, a.value, a.params, a.user_attrs) == (
            b.number,
            b.state,
            b.value,
            b.params,
            b.user_attrs,
        )
        assert a.distributions == b.distributions
    ignore = ["finished_at"]  # when each was written
    for read in (_read_tables, _read_studies):
        frames = [read(url).drop(columns=ignore) for url in urls]
        pd.testing.assert_frame_equal(frames[0], frames[1])
    assert len(frames[0]) == 30


def test_what_a_study_is_grouped_by_is_recorded_not_parsed_from_its_name(make_config, tmp_path):
    """A study records its strategy, pruner, scoring split and settings (Config.facts) in the storage
    and study.json; the report reads them there. They are what its name says when the harness named
    it, and a study.name of one's own no longer loses them (its settings and pruner were read from the
    name, so such a study was pooled apart and its pruner unlabelled)."""
    from harness import study as study_mod
    from harness.report.load import _pruner_in_strategy, settings_of
    from harness.report.plots import _score_label

    common = ("strategy=random", "study.rounds=2", "strategy.pruner=median", "dataset.validation=0.25")
    named, own = make_config(*common), make_config(*common, "study.name=my-own-study")
    facts = named.facts()
    parsed = settings_of(named.study_name, named.dataset.name, named.model.name, "random", named.space.name)
    relabelled = _pruner_in_strategy(pd.DataFrame({"settings": [parsed], "strategy": ["random"]}))
    assert facts["settings"] == relabelled["settings"][0] and "val0.25" in facts["settings"]
    assert f"random+{facts['pruner']}" == relabelled["strategy"][0] == "random+median"
    assert facts["scored_on"] == "validation" and own.facts() == facts
    for cfg, where in ((named, "named"), (own, "own")):
        study_mod.run(cfg, tmp_path / where)
    assert json.loads((tmp_path / "own" / "study.json").read_text())["facts"] == facts
    # Each row carries them too: rows read without their study.json (files concatenated) group alike.
    rows = pd.concat([pd.read_csv(tmp_path / where / "trials.csv") for where in ("named", "own")])
    assert len(rows) == 4
    for key in ("pruner", "scored_on", "settings"):
        assert set(rows[key]) == {facts[key]}
    rows.to_csv(tmp_path / "alone.csv", index=False)
    for inputs in (
        [str(tmp_path / "named"), str(tmp_path / "own")],
        [named.study.storage],
        [str(tmp_path / "alone.csv")],
    ):
        trials = load(inputs).trials
        assert _score_label(trials, "best") == "best validation accuracy"
        assert set(trials["study"]) == {named.study_name, "my-own-study"}
        assert set(trials["settings"]) == {facts["settings"]}, (
            inputs,
            trials.groupby("study")["settings"].unique(),
        )
        assert set(trials["strategy"]) == {"random+median"}
