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
