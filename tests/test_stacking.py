"""Repetitions trained together: the same science as one after another, in bounded memory."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch

from harness import study as study_mod
from harness import train
from harness.config.options import make
from harness.errors import ConfigError
from harness.models import StackedLinear
from harness.train import (
    Hyperparameters,
    bytes_per_copy,
    chunks,
    plan_stacking,
    prepare,
    stacked_model,
    train_round,
    train_trial,
)

SEEDS = [101, 202, 303, 404]
# Stacked and sequential training run the same arithmetic in another order (batched matmuls, grouped
# convolutions), so weights agree to float rounding and a test image near a decision boundary may
# flip: per-repetition accuracies agree within 2 of the 128 test images.
ACCURACY_TOLERANCE = 2 / 128

SPECS = [
    make("model", "dense_poly", linear_layers=3),
    make("model", "dense_linear", linear_layers=4),
    make("model", "simple_cnn", linear_layers=3, conv_layers=2, relu=True),
    make("model", "simple_cnn", linear_layers=2, conv_layers=1, relu=False),
]


def tiny_data(shape=(3, 8, 8), train_size=256):
    synthetic = {"shape": list(shape), "classes": 5, "train_size": train_size, "test_size": 128, "seed": 7}
    data = make("dataset", "synthetic", **synthetic).load()
    return prepare(data, torch.device("cpu"))


@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: "-".join(str(v) for v in dataclasses.asdict(s).values())
)
def test_stacked_and_sequential_repetitions_agree(spec):
    data = tiny_data()
    hp = Hyperparameters(lr=3e-3, beta1=0.8, beta2=0.99, epsilon=1e-7, weight_decay=1e-3)
    sequential = [train_trial(spec, data, hp, epochs=2, batch_size=32, seed=seed).accuracy for seed in SEEDS]
    stacked = train_round(spec, data, hp, epochs=2, batch_size=32, seeds=SEEDS, stack=len(SEEDS))
    assert stacked.stack == len(SEEDS) and not stacked.failed
    assert len(stacked.accuracies) == len(SEEDS)
    for one, together in zip(sequential, stacked.accuracies, strict=True):
        assert one is not None
        assert abs(one - together) <= ACCURACY_TOLERANCE
    # The repetitions differ from each other (their own seeds), so agreement is not trivial.
    assert len(set(stacked.accuracies)) > 1 or len(set(sequential)) == 1


@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: "-".join(str(v) for v in dataclasses.asdict(s).values())
)
def test_in_double_precision_stacked_and_sequential_predict_identically(spec):
    """Rounding is the only difference: in float64, even a learning rate where float32 training is
    chaotic (tiny rounding differences grow through Adam's normalised steps) gives the same accuracies."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        data = tiny_data()
        data = dataclasses.replace(data, train_x=data.train_x.double(), test_x=data.test_x.double())
        hp = Hyperparameters(lr=0.085, beta1=0.57, beta2=0.86)
        sequential = [
            train_trial(spec, data, hp, epochs=2, batch_size=32, seed=seed).accuracy for seed in SEEDS
        ]
        stacked = train_round(spec, data, hp, epochs=2, batch_size=32, seeds=SEEDS, stack=len(SEEDS))
    finally:
        torch.set_default_dtype(previous)
    assert stacked.accuracies == sequential


@pytest.mark.parametrize("spec", SPECS[::2], ids=lambda s: s.name)
def test_repetition_r_starts_from_the_weights_sequential_repetition_r_would(spec):
    data = tiny_data()
    model = stacked_model(spec, data, SEEDS)
    for r, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = train._make(spec, data)
        linears = [m for m in alone if isinstance(m, torch.nn.Linear)]
        stacked_linears = [m for m in model if isinstance(m, StackedLinear)]
        for one, many in zip(linears, stacked_linears, strict=True):
            assert torch.equal(one.weight.t(), many.weight[r])  # stored as [R, in, out]
            assert torch.equal(one.bias, many.bias[r, 0])
        convs = [m for m in alone if isinstance(m, torch.nn.Conv2d)]
        stacked_convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
        for one, many in zip(convs, stacked_convs, strict=True):
            assert torch.equal(one.weight, many.weight.view(len(SEEDS), *one.weight.shape)[r])


def test_one_diverging_repetition_fails_the_round_and_leaves_the_others_alone(monkeypatch):
    data = tiny_data()
    spec = make("model", "dense_poly")
    real = train.stacked_model
    poisoned = []

    def poison_second_copy(spec, data, seeds):
        model = real(spec, data, seeds)
        with torch.no_grad():
            model[-1].bias[1].fill_(float("nan"))  # the second copy of the chunk
        poisoned.append(model)
        return model

    monkeypatch.setattr(train, "stacked_model", poison_second_copy)
    hp = Hyperparameters(lr=1e-3)
    # 4 repetitions in chunks of 2: the second chunk's second copy is repetition 4.
    outcome = train_round(spec, data, hp, epochs=2, batch_size=32, seeds=SEEDS, stack=2)
    assert outcome.failed
    assert outcome.reason == "repetition 2: diverged at epoch 1"
    assert outcome.accuracies == []
    assert len(poisoned) == 1  # the round stopped at the failing chunk
    # The NaN stayed in its own copy: the first copy's weights are finite.
    first_copy = [p[0] for p in poisoned[0].parameters() if p.dim() > 1 and p.shape[0] == 2]
    assert first_copy and all(torch.isfinite(p).all() for p in first_copy)


def test_a_failure_in_a_later_chunk_is_numbered_within_the_round(monkeypatch):
    data = tiny_data()
    real = train.stacked_model
    calls = []

    def poison_later_chunk(spec, data, seeds):
        model = real(spec, data, seeds)
        calls.append(seeds)
        if len(calls) == 2:
            with torch.no_grad():
                model[-1].bias[1].fill_(float("inf"))
        return model

    monkeypatch.setattr(train, "stacked_model", poison_later_chunk)
    outcome = train_round(
        make("model", "dense_poly"),
        data,
        Hyperparameters(lr=1e-3),
        epochs=1,
        batch_size=32,
        seeds=SEEDS,
        stack=2,
    )
    assert calls == [SEEDS[:2], SEEDS[2:]]
    assert outcome.reason == "repetition 4: diverged at epoch 1"
    assert len(outcome.accuracies) == 2  # the first chunk completed


def test_a_learning_rate_that_overflows_fails_the_stacked_round():
    outcome = train_round(
        make("model", "simple_cnn"),
        tiny_data(),
        Hyperparameters(lr=1e30),
        epochs=3,
        batch_size=32,
        seeds=SEEDS,
        stack=4,
    )
    assert outcome.failed and outcome.reason.endswith(tuple(f"epoch {e}" for e in (1, 2, 3)))
    assert outcome.reason.startswith("repetition ")


def test_chunks_are_as_equal_as_possible():
    assert chunks(list(range(8)), 8) == [list(range(8))]
    assert chunks(list(range(8)), 5) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [len(c) for c in chunks(list(range(8)), 3)] == [3, 2, 3]
    assert chunks(list(range(3)), 1) == [[0], [1], [2]]


def test_the_memory_cap_splits_the_repetitions_into_chunks():
    data = tiny_data()
    spec = make("model", "dense_linear")
    per_copy = bytes_per_copy(spec, data, 32)
    # Room for three copies: 8 repetitions train as 3 + 2 + 3, never more than 3 at once.
    cap_mb = 3.5 * per_copy / 2**20
    plan = plan_stacking(spec, data, repetitions=8, batch_size=32, setting=True, memory_mb=cap_mb)
    assert plan.stack == 3 and "chunks of 3" in plan.why
    whole = plan_stacking(spec, data, repetitions=8, batch_size=32, setting=True, memory_mb=10_000)
    assert whole.stack == 8
    chunked = train_round(
        spec, data, Hyperparameters(lr=1e-3), epochs=1, batch_size=32, seeds=SEEDS * 2, stack=3
    )
    together = train_round(
        spec, data, Hyperparameters(lr=1e-3), epochs=1, batch_size=32, seeds=SEEDS * 2, stack=8
    )
    assert chunked.stack == 3 and together.stack == 8
    for a, b in zip(chunked.accuracies, together.accuracies, strict=True):
        assert abs(a - b) <= ACCURACY_TOLERANCE


def test_the_memory_estimate_grows_with_the_model_and_the_batch():
    data = tiny_data(shape=(1, 28, 28))
    small = bytes_per_copy(make("model", "dense_poly"), data, 64)
    assert bytes_per_copy(make("model", "dense_poly"), data, 512) > small
    # DensePolyNN on 28x28: 784*392 + 392*196 + 196*10 weights (+ biases), 16 bytes each with
    # gradient and Adam's two moments.
    weights = 784 * 392 + 392 + 392 * 196 + 196 + 196 * 10 + 10
    assert small >= 16 * weights


def test_auto_stacks_what_fits_the_cache_and_says_why(monkeypatch):
    data = tiny_data()
    monkeypatch.setattr(train, "last_level_cache_bytes", lambda: 64 * 2**20)
    plan = plan_stacking(
        make("model", "dense_poly"), data, repetitions=8, batch_size=32, setting="auto", memory_mb=768
    )
    assert plan.stack == 8 and plan.setting == "auto" and plan.why.startswith("auto: 8 repetitions together")
    monkeypatch.setattr(train, "last_level_cache_bytes", lambda: 1024)
    plan = plan_stacking(
        make("model", "dense_poly"), data, repetitions=8, batch_size=32, setting="auto", memory_mb=768
    )
    assert plan.stack == 1 and "last-level cache" in plan.why
    forced = plan_stacking(
        make("model", "dense_poly"), data, repetitions=8, batch_size=32, setting=True, memory_mb=768
    )
    assert forced.stack == 8  # true ignores the cache, only the memory cap applies
    off = plan_stacking(
        make("model", "dense_poly"), data, repetitions=8, batch_size=32, setting=False, memory_mb=768
    )
    assert off.stack == 1


def test_on_a_gpu_auto_stacks_what_fits_the_memory_cap_whatever_the_cpu_cache(monkeypatch):
    """The stacking decision on CUDA, run on a CPU: tensors on PyTorch's meta device (shapes, no
    storage) stand in for a GPU's; only the tensors' device type reaches plan_stacking."""
    cpu = tiny_data()
    tensors = {f.name: getattr(cpu, f.name) for f in dataclasses.fields(cpu)}
    data = dataclasses.replace(
        cpu, **{name: t.to("meta") for name, t in tensors.items() if isinstance(t, torch.Tensor)}
    )
    assert data.train_x.device.type == "meta"
    monkeypatch.setattr(train, "last_level_cache_bytes", lambda: 1024)  # a CPU cache that fits nothing
    spec = make("model", "dense_poly")
    plan = plan_stacking(spec, data, repetitions=8, batch_size=32, setting="auto", memory_mb=768)
    assert plan.stack == 8 and plan.why.startswith("auto: 8 repetitions together")
    per_copy_mb = bytes_per_copy(spec, data, 32) / 2**20
    capped = plan_stacking(
        spec, data, repetitions=8, batch_size=32, setting="auto", memory_mb=3 * per_copy_mb
    )
    assert capped.stack == 3 and "study.stack_memory_mb" in capped.why  # the cap, not the cache


def test_the_last_level_cache_is_read_from_sysfs(tmp_path):
    for index, level, size in (("index0", 1, "32K"), ("index2", 2, "1024K"), ("index3", 3, "32768K")):
        (tmp_path / index).mkdir()
        (tmp_path / index / "level").write_text(f"{level}\n")
        (tmp_path / index / "size").write_text(f"{size}\n")
    assert train.last_level_cache_bytes(tmp_path) == 32 * 2**20
    assert train.last_level_cache_bytes(tmp_path / "missing") == train.DEFAULT_CACHE_BYTES


@pytest.mark.parametrize("setting, expected", [("true", 3), ("false", 1)])
def test_a_study_records_how_its_repetitions_were_trained(make_config, tmp_path, setting, expected):
    cfg = make_config("study.rounds=2", "study.repetitions=3", f"study.stack_repetitions={setting}")
    study_mod.run(cfg, tmp_path / "run")
    with (tmp_path / "run" / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["stack"]) for r in rows] == [expected, expected]
    assert all(int(r["repetitions"]) == 3 for r in rows)
    stacking = json.loads((tmp_path / "run" / "study.json").read_text())["stacking"]
    assert stacking["setting"] == setting and stacking["stack"] == expected and stacking["why"]


def test_auto_choice_is_recorded_in_study_json(make_config, tmp_path):
    cfg = make_config("study.rounds=1", "study.repetitions=2")
    assert cfg.study.stack_repetitions == "auto"
    study_mod.run(cfg, tmp_path / "run")
    stacking = json.loads((tmp_path / "run" / "study.json").read_text())["stacking"]
    assert stacking["setting"] == "auto" and stacking["why"].startswith("auto: ")
    with (tmp_path / "run" / "trials.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert int(row["stack"]) == stacking["stack"]


def test_stacked_and_sequential_studies_record_the_same_rounds(make_config, tmp_path):
    # Learning rates up to 0.01: above that, 2-epoch float32 training on 128 images is chaotic and
    # rounding alone moves accuracies by several images (the float64 test above shows it is rounding).
    common = ("strategy=random", "space.params.lr.high=0.01", "study.rounds=3", "study.repetitions=3")
    common += ("study.epochs=2",)
    results = {}
    for setting in ("true", "false"):
        cfg = make_config(*common, f"study.stack_repetitions={setting}", f"study.name=s-{setting}")
        study_mod.run(cfg, tmp_path / setting)
        with (tmp_path / setting / "trials.csv").open() as fh:
            results[setting] = list(csv.DictReader(fh))
    for a, b in zip(results["true"], results["false"], strict=True):
        assert a["p_lr"] == b["p_lr"]  # the same search
        assert abs(float(a["accuracy"]) - float(b["accuracy"])) <= ACCURACY_TOLERANCE
        assert float(a["energy_j"]) > 0 and a["energy_source"] == b["energy_source"]


def test_an_unknown_stacking_setting_is_one_line(make_config):
    with pytest.raises(ConfigError, match=r"study.stack_repetitions='sometimes' is unknown; choose auto"):
        make_config("study.stack_repetitions=sometimes")
    with pytest.raises(ConfigError, match=r"study\.stack_memory_mb=0 must be positive"):
        make_config("study.stack_memory_mb=0")
