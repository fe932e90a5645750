"""experiment=paper_rq1 / paper_rq2 compose exactly the published protocol, read from PROTOCOL.md."""

from __future__ import annotations

import re

import pytest

from tests.conftest import SHARED, run_cli

PROTOCOL = SHARED / "paper" / "PROTOCOL.md"
needs_protocol = pytest.mark.skipif(not PROTOCOL.exists(), reason="../shared/paper/PROTOCOL.md absent")


def protocol_rows() -> dict[str, str]:
    rows = {}
    for line in PROTOCOL.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return float(match.group(1))


def uniform(name: str, text: str) -> tuple[float, float]:
    match = re.search(rf"{name} U\[([^,\]]+), ([^\]]+)\]", text)
    assert match, f"{name} U[...] not in {text!r}"
    return float(match.group(1)), float(match.group(2))


@needs_protocol
def test_paper_rq1_is_the_published_protocol_field_by_field(make_config):
    rows = protocol_rows()
    cfg = make_config("experiment=paper_rq1", tiny=False)
    training, rounds, space3, space5 = (
        rows["training"],
        rows["rounds"],
        rows["3-HP space"],
        rows["5-HP space"],
    )
    assert cfg.study.batch_size == number(r"batch (\d+)", training)
    assert cfg.study.epochs == number(r"(\d+) epochs", training)
    assert cfg.study.seed == number(r"seed (\d+)", training)
    assert cfg.study.rounds == number(r"(\d+) search rounds", rounds)
    assert cfg.study.repetitions == number(r"(\d+) times \(repetitions\)", rounds)
    assert cfg.model.linear_layers == number(r"(\d+) linear layers", rows["models"])
    assert cfg.model.conv_layers == number(r"(\d+) conv layers", rows["models"])
    assert cfg.dataset.name == "fashion_mnist" and "Fashion-MNIST" in rows["data"]
    assert cfg.dataset.train_size is None and cfg.dataset.test_size is None  # the full test set
    # The search: the paper's Bayesian method, round 1 random, 10,000 candidates.
    assert cfg.strategy.name == "bayes_pi"
    assert cfg.strategy.n_candidates == number(r"over ([\d,]+) uniform", rows["Bayesian"].replace(",", ""))
    assert cfg.strategy.n_initial_points == 1 and "round 1 random" in rows["Bayesian"]
    # The 3-HP space, linear-uniform as published.
    assert "linear-uniform" in space3
    assert set(cfg.space.params) == {"lr", "beta1", "beta2"}
    for name in ("lr", "beta1", "beta2"):
        r = cfg.space.params[name]
        assert (r.low, r.high) == uniform(name, space3) and not r.log
    assert cfg.space.grid_points == number(r"(\d+) values per hyperparameter", rows["grid"])
    # The 5-HP space adds epsilon and weight decay.
    five = make_config("experiment=paper_rq1", "space=paper5", tiny=False).space.params
    for name in ("epsilon", "weight_decay"):
        assert (five[name].low, five[name].high) == uniform(name, space5) and not five[name].log
    assert cfg.study.beta2_defect is False  # the protocol applies beta2; the defect is a switch


@needs_protocol
def test_paper_rq2_is_the_published_ablation(make_config):
    cfg = make_config("experiment=paper_rq2", tiny=False)
    text = PROTOCOL.read_text()
    assert cfg.strategy.name == "random" and "random strategy" in text
    assert cfg.study.rounds == number(r"(\d+) rounds x \d+ repetitions", text)
    assert cfg.study.repetitions == number(r"\d+ rounds x (\d+) repetitions", text)
    assert (cfg.study.epochs, cfg.study.batch_size, cfg.study.seed) == (25, 512, 1234)


def test_cfg_job_prints_the_published_settings(tmp_path):
    out = run_cli(["harness", "--cfg", "job", "experiment=paper_rq1"], tmp_path)
    assert out.returncode == 0
    for line in ("rounds: 64", "repetitions: 8", "epochs: 25", "batch_size: 512", "seed: 1234"):
        assert line in out.stdout


def test_the_corrected_presets_search_on_a_validation_split_with_log_scales(make_config):
    for preset in ("rq1_corrected", "rq2_corrected"):
        cfg = make_config(f"experiment={preset}", tiny=False)
        assert cfg.dataset.validation == 0.1 and cfg.space.params["lr"].log
        assert "-val0.1" in cfg.study_name
    assert make_config("experiment=rq1_corrected", "space=log5", tiny=False).space.params["epsilon"].log


def test_the_validation_split_is_seeded_disjoint_and_leaves_the_test_set_alone():
    import numpy as np

    from harness.data import Dataset, split_validation

    n = 1000  # every training image unique: its two pixels encode its index
    index = np.arange(n)
    train_x = np.stack([index // 256, index % 256], axis=1).astype(np.uint8).reshape(n, 1, 1, 2)
    test_x = np.full((50, 1, 1, 2), 255, dtype=np.uint8)
    data = Dataset("d", train_x, index % 10, test_x, np.zeros(50, dtype=np.int64), classes=10)

    def ids(images):
        return {int(a) * 256 + int(b) for a, b in images.reshape(-1, 2)}

    search, final = split_validation(data, 0.1, seed=3)
    again, _ = split_validation(data, 0.1, seed=3)
    other, _ = split_validation(data, 0.1, seed=4)
    assert ids(search.test_x) == ids(again.test_x) != ids(other.test_x)  # seeded
    assert len(search.test_y) == 100 and not ids(search.train_x) & ids(search.test_x)  # disjoint
    assert ids(search.train_x) | ids(search.test_x) == set(range(n))  # nothing lost
    assert np.array_equal(final.train_x, search.train_x) and np.array_equal(final.test_x, data.test_x)


def test_a_corrected_study_reports_the_picked_configuration_on_the_test_set(make_config, tmp_path):
    import json

    from harness import study as study_mod
    from harness.report import Definitions, load, reduce_studies

    cfg = make_config("strategy=random", "study.rounds=4", "dataset.validation=0.25")
    result = study_mod.run(cfg, tmp_path / "run")
    final = json.loads((tmp_path / "run" / "study.json").read_text())["final"]
    assert final["validation_accuracy"] == result.best_accuracy
    assert 0.0 <= final["test_accuracy"] <= 1.0 and final["energy_j"] > 0
    assert final["round"] == result.best_round
    summary = reduce_studies(load([str(tmp_path / "run")]).trials, Definitions()).iloc[0]
    assert summary["test_accuracy"] == final["test_accuracy"]
    assert summary["best_accuracy"] == final["validation_accuracy"]
    # Resuming a finished study does not evaluate again.
    again = study_mod.run(cfg, tmp_path / "run")
    assert again.rounds == 4
    assert json.loads((tmp_path / "run" / "study.json").read_text())["final"] == final
