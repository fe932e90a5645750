"""docs/extending.md's worked example, followed in a fresh copy of the project: a new strategy from
a schema class and a YAML file, then two rounds with it from the command line."""

from __future__ import annotations

import csv
import re
import subprocess

import pandas as pd
import pytest

from tests.conftest import ROOT, TINY, clone_env, copy_project

DOC = (ROOT / "docs" / "extending.md").read_text()
STEP = re.compile(r"<!-- extending: (append|create|run) ?(\S*) -->\n```\w+\n(.*?)```", re.S)


def test_the_worked_example_has_its_three_steps():
    assert [m.group(1) for m in STEP.finditer(DOC)] == ["append", "create", "run"]


@pytest.mark.slow
def test_a_strategy_added_as_the_docs_say_runs_two_rounds(tmp_path):
    clone = copy_project(tmp_path / "clone")
    commands = []
    for kind, path, body in (m.groups() for m in STEP.finditer(DOC)):
        if kind == "append":
            with (clone / path).open("a") as fh:
                fh.write("\n\n" + body)
        elif kind == "create":
            (clone / path).write_text(body)
        else:
            commands = [line for line in body.splitlines() if line.strip()]
    tiny = [*TINY, "study.storage=sqlite:///runs/o.db"]
    run, help_ = commands
    out = subprocess.run(
        [*run.split(), *tiny, "hydra.run.dir=runs/tpe_mv"],
        cwd=clone,
        env=clone_env(clone),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    with (clone / "runs" / "tpe_mv" / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["round"] for r in rows] == ["1", "2"] and {r["strategy"] for r in rows} == {"tpe_mv"}
    assert all(r["status"] == "complete" and float(r["energy_j"]) > 0 for r in rows)
    # Its look, from its schema class, is recorded with its study and drawn by the report.
    from matplotlib.colors import to_rgb

    from harness.report.load import load
    from harness.report.plots import _colour, _strategies, use_looks

    trials = load([str(clone / "runs" / "tpe_mv")]).trials
    with use_looks(trials):
        assert _colour("tpe_mv") == to_rgb("darkgoldenrod")
        mixed = trials[["strategy"]].iloc[:1].assign(strategy="grid")
        assert _strategies(pd.concat([trials[["strategy"]], mixed])) == ["grid", "tpe_mv"]
    shown = subprocess.run(help_.split(), cwd=clone, env=clone_env(clone), capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "n_startup_trials: 10  # random rounds before the model takes over" in shown.stdout
    # The checkout itself knows nothing of it: the example ran on the copy alone.
    assert not (ROOT / "conf" / "strategy" / "tpe_mv.yaml").exists()
