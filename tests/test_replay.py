"""The replay benchmark: a table built by training every candidate once, and studies replayed against
it that the round loop, records, storage and report treat as any other study."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config import SpaceConfig
from harness.replay import ReplayTable
from harness.search.candidates import NearestCandidate, candidate_set, grid_points
from tests.conftest import TINY, run_cli

# A small space: 2 grid values per hyperparameter (8 cells), 16 candidates, 3 epochs, 4 repetitions.
PROTOCOL = [
    *[t for t in TINY if not t.startswith(("study.epochs", "study.repetitions"))],
    "dataset.train_size=256",
    "dataset.validation=0.25",
    "model=dense_poly",
    "space=paper3",
    "space.grid_points=2",
    "study.epochs=3",
]
TABLE_REPETITIONS = 4


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("table")
    out = where / "t"
    args = [
        "harness-table",
        "--out",
        str(out),
        *PROTOCOL,
        f"study.repetitions={TABLE_REPETITIONS}",
        "strategy.candidates=16",
        f"study.storage=sqlite:///{where}/build.db",
    ]
    done = run_cli(args, where, timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def replay(
    tmp_path: Path, table: Path, *overrides: str, name: str = "r"
) -> tuple[int, list[dict[str, str]], str]:
    run_dir = tmp_path / name
    args = [
        "harness",
        *PROTOCOL,
        "study.backend=replay",
        f"study.table={table}",
        f"study.storage=sqlite:///{tmp_path}/replay.db",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    done = run_cli(args, tmp_path)
    trials = rows(run_dir / "trials.csv") if (run_dir / "trials.csv").exists() else []
    return done.returncode, trials, done.stderr


def live(tmp_path: Path, *overrides: str, name: str = "live") -> list[dict[str, str]]:
    """The same protocol trained for real: its trials.csv rows."""
    run_dir = tmp_path / name
    args = [
        "harness",
        *PROTOCOL,
        *overrides,
        f"study.storage=sqlite:///{tmp_path}/live.db",
        f"hydra.run.dir={run_dir}",
    ]
    done = run_cli(args, tmp_path)
    assert done.returncode == 0, done.stderr
    return rows(run_dir / "trials.csv")


def test_the_candidates_are_the_grid_then_sobol_points_in_the_spaces_own_scaling():
    space = SpaceConfig(
        params={"lr": {"low": 1e-5, "high": 1e-1, "log": True}, "beta1": {"low": 0.0, "high": 1.0}}
    )
    cells = grid_points(space.params, 5)
    chosen = candidate_set(space.params, 5, 64, seed=3)
    assert chosen[: len(cells)] == cells and len(chosen) == 64
    assert candidate_set(space.params, 5, 64, seed=3) == chosen  # seeded
    extra = chosen[len(cells) :]
    assert all(1e-5 <= c["lr"] < 1e-1 and 0.0 <= c["beta1"] < 1.0 for c in extra)
    # Log-uniform: about half the Sobol points lie below the geometric middle (1e-3), not 1% of them.
    below = sum(c["lr"] < 1e-3 for c in extra) / len(extra)
    assert 0.35 < below < 0.65
    nearest = NearestCandidate(space.params, chosen)
    assert nearest.index(chosen[30]) == 30
    with pytest.raises(ValueError, match="grid points"):
        candidate_set(space.params, 5, 10, seed=0)


def test_a_table_keeps_every_candidate_repetition_and_epoch_with_its_cost_and_protocol(table):
    frame = pd.read_parquet(table / "table.parquet")
    manifest = json.loads((table / "manifest.json").read_text())
    assert manifest["candidates"] == 16 and manifest["repetitions"] == TABLE_REPETITIONS
    assert manifest["scored_on"] == "validation" and manifest["energy_source"] == "estimate"
    assert manifest["protocol"]["study"]["epochs"] == 3 and manifest["machine"]
    complete = frame[frame["status"] == "complete"]
    per = complete.groupby("candidate").size()
    assert (per == TABLE_REPETITIONS * 3).all()
    assert complete["score"].between(0, 1).all() and complete["test"].between(0, 1).all()
    assert (complete["train_j"] > 0).all() and (complete["eval_j"] >= 0).all()
    # Each candidate's per-epoch joules add up to no more than its round's measured joules.
    spent = complete.groupby("candidate").agg(parts=("train_j", "sum"), round=("round_j", "first"))
    assert (spent["parts"] <= spent["round"] * 1.0001).all()
    # The grid's cells come first, in the product order the grid sampler replays.
    loaded = ReplayTable.load(table)
    assert len(loaded.candidates) == 16 and loaded.digest == manifest["digest"]


def test_a_replayed_grid_study_proposes_the_live_grid_round_for_round_with_accuracy_within_noise(
    tmp_path, table
):
    code, replayed, err = replay(tmp_path, table, "strategy=grid", "study.rounds=8", "study.repetitions=4")
    assert code == 0, err
    lived = live(tmp_path, "strategy=grid", "study.rounds=8", "study.repetitions=4")
    params = [c for c in lived[0] if c.startswith("p_")]
    for a, b in zip(lived, replayed, strict=True):
        assert all(math.isclose(float(a[p]), float(b[p]), rel_tol=1e-9) for p in params)
    # The same configuration trained with other seeds: the difference is training noise. Its size is
    # judged against the table's own spread between repetitions.
    frame = pd.read_parquet(table / "table.parquet")
    last = frame[(frame["epoch"] == 3) & (frame["status"] == "complete")]
    noise = float(last.groupby("candidate")["score"].std().mean())
    gaps = [
        abs(float(a["accuracy"]) - float(b["accuracy"]))
        for a, b in zip(lived, replayed, strict=True)
        if a["accuracy"] and b["accuracy"]
    ]
    assert gaps and np.mean(gaps) <= 3 * noise + 0.02, (gaps, noise)


def test_replayed_random_rounds_are_the_nearest_candidates_of_the_live_draws(tmp_path, table):
    code, replayed, err = replay(tmp_path, table, "strategy=random", "study.rounds=12", "study.repetitions=2")
    assert code == 0, err
    lived = live(tmp_path, "strategy=random", "study.rounds=4", "study.repetitions=1")
    t = ReplayTable.load(table)
    nearest = NearestCandidate(SpaceConfig(**_space(table)).params, t.candidates)
    for a, b in zip(lived, replayed[:4], strict=False):
        drawn = {k[2:]: float(v) for k, v in a.items() if k.startswith("p_")}
        candidate = t.candidates[nearest.index(drawn)]
        assert all(math.isclose(candidate[k], float(b[f"p_{k}"])) for k in candidate)
    # Every row says it is a replay, of which table, and where its joules came from.
    digest = json.loads((table / "manifest.json").read_text())["digest"]
    assert all(r["table"] == digest and r["energy_source"] == "replay:estimate" for r in replayed)
    assert all(float(r["energy_j"]) > 0 and r["suggest_j"] for r in replayed if r["status"] == "complete")
    assert "replay" in replayed[0]["study"]


def _space(table: Path) -> dict:
    return {"params": json.loads((table / "manifest.json").read_text())["protocol"]["space"]["params"]}


def test_seeds_that_pick_one_candidate_see_its_repetitions_noise(tmp_path, table):
    a = replay(
        tmp_path, table, "strategy=grid", "study.rounds=8", "study.repetitions=2", "study.seed=1", name="a"
    )
    b = replay(
        tmp_path, table, "strategy=grid", "study.rounds=8", "study.repetitions=2", "study.seed=2", name="b"
    )
    assert a[0] == 0 and b[0] == 0, a[2] + b[2]
    by_params = lambda trials: {tuple(v for k, v in r.items() if k.startswith("p_")): r for r in trials}  # noqa: E731
    ra, rb = by_params(a[1]), by_params(b[1])
    assert set(ra) == set(rb)  # the same 8 cells, each in its seed's order
    assert any(ra[k]["accuracy"] != rb[k]["accuracy"] for k in ra)


def test_a_pruner_stops_a_replayed_round_and_charges_the_epochs_it_ran(tmp_path, table):
    code, trials, err = replay(
        tmp_path, table, "strategy=random", "strategy.pruner=median", "study.rounds=16", "study.repetitions=2"
    )
    assert code == 0, err
    pruned = [r for r in trials if r["status"] == "pruned"]
    complete = [r for r in trials if r["status"] == "complete"]
    assert pruned and complete
    assert np.mean([float(r["energy_j"]) for r in pruned]) < np.mean([float(r["energy_j"]) for r in complete])


def test_a_replay_with_other_settings_than_its_table_is_one_line_and_exit_2(tmp_path, table):
    code, _, err = replay(tmp_path, table, "strategy=random", "study.epochs=5")
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("harness: error:")]
    assert "built with other settings" in line and "study.epochs=5" in line
    code, _, err = replay(tmp_path, table, "strategy=random", f"study.repetitions={TABLE_REPETITIONS + 1}")
    assert code == 2 and "exceeds the table's" in err


def test_the_report_keeps_a_replayed_cell_apart_from_a_live_one(tmp_path, table):
    code, _, err = replay(
        tmp_path, table, "strategy=random", "study.rounds=6", "study.repetitions=2", name="rep"
    )
    assert code == 0, err
    live(tmp_path, "strategy=random", "study.rounds=6", "study.repetitions=2")
    out = run_cli(
        ["harness-report", str(tmp_path / "rep"), str(tmp_path / "live"), "--out", str(tmp_path / "o")],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert len(summary) == 2
    # Two cells, each its own target: never pooled.
    assert summary["settings"].nunique() == 2
