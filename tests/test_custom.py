"""Your own model and data (model=custom, dataset=custom), through the CLI, with examples/."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from harness.data.custom import from_arrays
from harness.errors import ConfigError
from tests.conftest import ROOT, run_cli

FAST = ["strategy=random", "study.epochs=2", "study.repetitions=2", "study.progress=true", "study.threads=1"]


def rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def harness(tmp_path, run: str, *overrides: str):
    out = run_cli(
        [
            "harness",
            *FAST,
            *overrides,
            f"study.storage=sqlite:///{tmp_path}/o.db",
            f"hydra.run.dir={tmp_path}/{run}",
        ],
        ROOT,  # examples/ is importable from the project's root, as from any working directory
    )
    assert out.returncode == 0, out.stderr
    return out


def test_your_own_network_on_your_own_data_runs_stacked_and_names_both(tmp_path):
    out = harness(
        tmp_path,
        "mine",
        "model=custom",
        "model._target_=examples.nets.mlp",
        "+model.kwargs.width=32",
        "dataset=custom",
        "dataset._target_=examples.data.breast_cancer",
        "study.rounds=3",
    )
    assert "repetitions stacked" in out.stderr
    recorded = rows(tmp_path / "mine" / "trials.csv")
    assert [r["round"] for r in recorded] == ["1", "2", "3"]
    assert recorded[0]["study"].startswith("custom.breast_cancer-custom.mlp-random-")
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in recorded)


def test_a_network_that_is_not_a_sequence_of_layers_runs_its_repetitions_one_after_another(tmp_path):
    out = harness(
        tmp_path, "res", "model=custom", "model._target_=examples.nets.ResidualMLP", "study.rounds=2"
    )
    assert (
        "repetitions one after another, sequential: model=custom cannot be stacked (it is a ResidualMLP"
        in (out.stderr)
    )
    assert len(rows(tmp_path / "res" / "trials.csv")) == 2


def test_a_custom_network_stacked_learns_what_it_learns_one_repetition_at_a_time(tmp_path):
    """The same configurations, and the same accuracies to within an image: a stacked (batched)
    matrix product sums in another order than one network's on some CPUs (seen on AMD EPYC, not on
    the Intel machine this was written on), which can flip one boundary image of digits' 360 in one
    repetition (1/720 of the mean). tests/test_stacking.py holds the weights themselves close."""
    common = ["model=custom", "model._target_=examples.nets.mlp", "+model.kwargs.width=16", "study.rounds=2"]
    harness(tmp_path, "stacked", *common, "study.stack_repetitions=true", "study.name=stacked")
    harness(tmp_path, "one", *common, "study.stack_repetitions=false", "study.name=one")
    a, b = rows(tmp_path / "stacked" / "trials.csv"), rows(tmp_path / "one" / "trials.csv")
    assert [r["p_lr"] for r in a] == [r["p_lr"] for r in b]
    assert [float(r["accuracy"]) for r in a] == pytest.approx(
        [float(r["accuracy"]) for r in b], abs=2.5 / 720
    )


def test_the_target_and_its_settings_are_in_the_study_name_and_fingerprint(tmp_path):
    from tests.conftest import compose_config

    def name(*overrides: str) -> str:
        return compose_config(tmp_path, "model=custom", *overrides).study_name

    mlp = name("model._target_=examples.nets.mlp")
    assert "-custom.mlp-" in mlp
    assert name("model._target_=examples.nets.mlp", "+model.kwargs.width=32") != mlp
    assert "-custom.ResidualMLP-" in name("model._target_=examples.nets.ResidualMLP")


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        ("nothing", "returned a str; return (train_x, train_y, test_x, test_y)"),
        ({"train_x": 1}, "returned a mapping without train_y, test_x, test_y"),
        ((np.zeros((4, 8)),) * 2 + (np.zeros((2, 8)),) * 2, "train_x has shape (4, 8)"),
        (
            (np.zeros((4, 1, 2, 2)), np.array([0, 1, 0]), np.zeros((2, 1, 2, 2)), np.array([0, 1])),
            "one label per image",
        ),
        (
            (np.zeros((4, 1, 2, 2)), np.array([0.5] * 4), np.zeros((2, 1, 2, 2)), np.array([0, 1])),
            "integer class labels",
        ),
        (
            (np.full((4, 1, 2, 2), np.nan), np.array([0, 1, 0, 1]), np.zeros((2, 1, 2, 2)), np.array([0, 1])),
            "finite",
        ),
        (
            (np.zeros((4, 1, 2, 2)), np.array([0, 1, 0, 1]), np.zeros((2, 1, 3, 2)), np.array([0, 1])),
            "differ in shape",
        ),
    ],
)
def test_custom_data_that_cannot_be_used_is_one_line_naming_what_is_wrong(returned, words):
    with pytest.raises(ConfigError, match=__import__("re").escape(words)):
        from_arrays(returned, where="dataset._target_=x.f")


def test_custom_data_as_tensors_of_grey_images_gains_its_channel_and_classes():
    import torch

    data = from_arrays(
        {
            "train_x": torch.zeros(6, 4, 4, dtype=torch.uint8),
            "train_y": torch.tensor([0, 1, 2, 0, 1, 2]),
            "test_x": torch.zeros(3, 4, 4, dtype=torch.uint8),
            "test_y": torch.tensor([0, 1, 2]),
            "classes": 5,
        },
        where="w",
    )
    assert data.shape == (1, 4, 4) and data.classes == 5 and data.train_x.dtype == np.uint8
