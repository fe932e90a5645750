"""One trial: build the model, train it with Adam on in-memory tensors, evaluate on the test split.

Read top to bottom: ``prepare`` turns a Dataset into tensors once per study; ``train_trial`` trains
one model with one set of hyperparameters and returns a ``TrialOutcome``. A loss that becomes NaN or
infinite ends the trial as failed with the epoch it happened in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.data import Dataset
from harness.models import build_model


@dataclass(frozen=True)
class ModelSpec:
    name: str
    linear_layers: int = 3
    conv_layers: int = 2
    relu: bool = True


@dataclass(frozen=True)
class Hyperparameters:
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 0.0

    @classmethod
    def from_params(cls, params: dict[str, float]) -> Hyperparameters:
        """Every sampled value is applied; the rest keep Adam's defaults."""
        return cls(**params)


@dataclass(frozen=True)
class TensorData:
    """A data set as tensors on the training device: uint8 images, normalised per batch."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor  # [1, C, 1, 1] in raw pixel units
    std: torch.Tensor
    shape: tuple[int, int, int]
    classes: int

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std


@dataclass(frozen=True)
class TrialOutcome:
    status: str  # complete or failed
    accuracy: float | None
    reason: str
    train_s: float
    eval_s: float
    samples: int  # training samples processed


def prepare(data: Dataset, device: torch.device) -> TensorData:
    def tensor(array: Any) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    c = data.shape[0]
    return TensorData(
        train_x=tensor(data.train_x),
        train_y=tensor(data.train_y),
        test_x=tensor(data.test_x),
        test_y=tensor(data.test_y),
        mean=tensor(data.channel_mean).reshape(1, c, 1, 1),
        std=tensor(data.channel_std).reshape(1, c, 1, 1),
        shape=data.shape,
        classes=data.classes,
    )


def _make(spec: ModelSpec, data: TensorData) -> nn.Module:
    return build_model(
        spec.name,
        data.shape,
        data.classes,
        linear_layers=spec.linear_layers,
        conv_layers=spec.conv_layers,
        relu=spec.relu,
    )


def warm_up(spec: ModelSpec, data: TensorData) -> None:
    """Build the model and take one Adam step, outside any energy window.

    An impossible architecture fails here, before a study starts, and one-time costs (lazy imports
    inside torch.optim, kernel selection) are not charged to the first round's joules.
    """
    model = _make(spec, data).to(data.train_x.device)
    optimiser = torch.optim.Adam(model.parameters())
    images = data.normalise(data.train_x[:2])
    nn.functional.cross_entropy(model(images), data.train_y[:2]).backward()
    optimiser.step()
    evaluate(model, data, 1024)


def evaluate(model: nn.Module, data: TensorData, batch_size: int) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data.test_y), batch_size):
            images = data.normalise(data.test_x[start : start + batch_size])
            predicted = model(images).argmax(dim=1)
            correct += int((predicted == data.test_y[start : start + batch_size]).sum())
    return correct / len(data.test_y)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_trial(
    spec: ModelSpec,
    data: TensorData,
    hp: Hyperparameters,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
) -> TrialOutcome:
    """Train one model from a seeded initialisation and return its test accuracy."""
    device = data.train_x.device
    torch.manual_seed(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    model = _make(spec, data).to(device)
    try:
        optimiser = torch.optim.Adam(
            model.parameters(),
            lr=hp.lr,
            betas=(hp.beta1, hp.beta2),
            eps=hp.epsilon,
            weight_decay=hp.weight_decay,
        )
    except ValueError as exc:  # e.g. a beta of exactly 1
        return TrialOutcome("failed", None, f"invalid Adam setting: {exc}", 0.0, 0.0, 0)
    loss_fn = nn.CrossEntropyLoss()
    n = len(data.train_y)
    samples = 0
    start = time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        for first in range(0, n, batch_size):
            index = order[first : first + batch_size]
            loss = loss_fn(model(data.normalise(data.train_x[index])), data.train_y[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_sum += loss.detach()
            samples += len(index)
        # One host sync per epoch (not per batch): a NaN or inf anywhere in the epoch shows here.
        if not math.isfinite(loss_sum.item()):
            train_s = time.perf_counter() - start
            return TrialOutcome("failed", None, f"diverged at epoch {epoch}", train_s, 0.0, samples)
    _sync(device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = evaluate(model, data, max(batch_size, 1024))
    _sync(device)
    return TrialOutcome("complete", accuracy, "", train_s, time.perf_counter() - start, samples)
