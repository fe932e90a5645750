"""A full disk: one line, exit 2, no file half-written, and the same command resumes once there is
room. The run directory is a tiny tmpfs (mounting needs root; the tests skip elsewhere)."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest

from tests.conftest import TINY, run_cli, tmpfs


@pytest.fixture
def tiny_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "12k") as mount:
        yield mount


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_full_disk_stops_the_study_in_one_line_and_the_same_study_resumes(tmp_path, tiny_disk):
    db = tmp_path / "o.db"
    args = [
        "harness",
        *TINY,
        "strategy=random",
        "study.rounds=60",
        f"study.storage=sqlite:///{db}",
        "hydra.output_subdir=null",
    ]
    out = run_cli([*args, f"hydra.run.dir={tiny_disk}/run"], tmp_path)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "run the same command" in lines[0]
    assert "Traceback" not in out.stderr
    # trials.csv holds whole lines only, each a round the storage recorded.
    kept = rows(tiny_disk / "run" / "trials.csv")
    assert kept and all(row["energy_source"] for row in kept)
    assert not [p for p in (tiny_disk / "run").iterdir() if ".tmp" in p.name]  # no partial copies
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}")]
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    recorded = sorted(int(t.user_attrs["round"]) for t in study.trials if "record" in t.user_attrs)
    assert [int(r["round"]) for r in kept] == recorded[: len(kept)]

    # With room again, the same study resumes and ends with exactly 60 rounds, each once.
    again = run_cli([*args, f"hydra.run.dir={tmp_path}/roomy"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert [int(r["round"]) for r in rows(tmp_path / "roomy" / "trials.csv")] == list(range(1, 61))


def test_a_report_onto_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, tiny_disk):
    trials = tmp_path / "trials.csv"
    fields = ["study", "dataset", "model", "strategy", "seed", "round", "accuracy", "energy_j"]
    fields.append("energy_source")
    with trials.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        for r in range(1, 400):
            values = ["s", "d", "m", "random", 0, r, r / 1000, 1.0, "estimate"]
            writer.writerow(dict(zip(fields, values, strict=True)))
    (tiny_disk / "filler").write_bytes(b"x" * 6000)
    out = run_cli(["harness-report", str(trials), "--out", str(tiny_disk / "report")], tmp_path)
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line.startswith("harness-report: error: ") and "No space left on device" in line
    left = sorted(p.name for p in (tiny_disk / "report").iterdir())
    assert not [n for n in left if ".tmp" in n]  # whole files or none
