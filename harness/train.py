"""One round: train its configuration R times with Adam on in-memory tensors, evaluate on the test split.

Read top to bottom: ``prepare`` turns a Dataset into tensors once per study; ``train_trial`` trains
one model with one set of hyperparameters; ``train_stacked`` trains R copies of it at once as one
stacked model (same initial weights, same shuffling, same arithmetic per copy); ``train_round`` runs
a round's repetitions either way, in chunks that keep memory bounded. A loss that becomes NaN or
infinite ends the round as failed with the repetition and the epoch it happened in.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from harness.data import Dataset
from harness.models import StackedNet, activation_floats, parameter_bytes

FUSED_ADAM = True

# Called after each epoch but the last with (epoch, mean accuracy of the repetitions on the data's test
# split, which a pruned study makes a validation split); returns True to stop the round there (pruned).
EpochReport = Callable[[int, float], bool]
# Called after every epoch (the last too) of every chunk of repetitions, with (the chunk's first
# repetition, 1-based; epoch; score), where score(data) is each repetition's accuracy on data's test
# split. A table build records the round's learning curves through it.
EpochTrace = Callable[[int, int, Callable[["TensorData"], list[float]]], None]


class ModelSpec(Protocol):
    """The network a round trains: an option of the configuration's ``model`` group
    (harness/config/model.py) is one; training asks it for nothing but its network."""

    @property
    def name(self) -> str: ...

    def build(self, shape: tuple[int, int, int], classes: int) -> nn.Sequential: ...


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


# Data sets whose normalised float32 copy takes at most this much are normalised once, up front
# (digits, Fashion-MNIST); larger ones (CIFAR-10: 737 MB as floats) stay uint8, normalised per batch.
PRENORMALISE_MB = 256


@dataclass(frozen=True)
class TensorData:
    """A data set as tensors on the training device: normalised float32, or uint8 normalised per batch."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor  # [1, C, 1, 1] in raw pixel units
    std: torch.Tensor
    shape: tuple[int, int, int]
    classes: int

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        if images.is_floating_point():  # normalised up front
            return images
        return (images.float() - self.mean) / self.std


@dataclass(frozen=True)
class TrialOutcome:
    status: str  # complete, failed or pruned
    accuracy: float | None
    reason: str
    train_s: float
    eval_s: float
    samples: int  # training samples processed


def prepare(data: Dataset, device: torch.device) -> TensorData:
    def tensor(array: Any) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    c = data.shape[0]
    mean, std = data.channel_stats()
    raw = TensorData(
        train_x=tensor(data.train_x),
        train_y=tensor(data.train_y),
        test_x=tensor(data.test_x),
        test_y=tensor(data.test_y),
        mean=tensor(mean).reshape(1, c, 1, 1),
        std=tensor(std).reshape(1, c, 1, 1),
        shape=data.shape,
        classes=data.classes,
    )
    if 4 * (raw.train_x.numel() + raw.test_x.numel()) > PRENORMALISE_MB * 2**20:
        return raw
    # The same arithmetic as per batch, done once: identical floats, fewer operations per step.
    return dataclasses.replace(raw, train_x=raw.normalise(raw.train_x), test_x=raw.normalise(raw.test_x))


def _make(spec: ModelSpec, data: TensorData) -> nn.Sequential:
    return spec.build(data.shape, data.classes)


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


def _adam(params: Any, hp: Hyperparameters) -> torch.optim.Adam:
    """Adam with every sampled value; the fused kernel (one pass over each tensor) where torch has it."""
    return torch.optim.Adam(
        params,
        lr=hp.lr,
        betas=(hp.beta1, hp.beta2),
        eps=hp.epsilon,
        weight_decay=hp.weight_decay,
        fused=FUSED_ADAM,
    )


def train_trial(
    spec: ModelSpec,
    data: TensorData,
    hp: Hyperparameters,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    report: EpochReport | None = None,
    trace: EpochTrace | None = None,
    first_repetition: int = 1,
) -> TrialOutcome:
    """Train one model from a seeded initialisation and return its test accuracy."""
    device = data.train_x.device
    torch.manual_seed(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    model = _make(spec, data).to(device)
    try:
        optimiser = _adam(model.parameters(), hp)
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
        if trace is not None:
            trace(first_repetition, epoch, lambda d: [evaluate(model, d, max(batch_size, 1024))])
            model.train()
        if report is not None and epoch < epochs:
            accuracy = evaluate(model, data, max(batch_size, 1024))
            model.train()
            if report(epoch, accuracy):
                reason = pruned_reason(epoch, accuracy)
                return TrialOutcome("pruned", None, reason, time.perf_counter() - start, 0.0, samples)
    _sync(device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = evaluate(model, data, max(batch_size, 1024))
    _sync(device)
    return TrialOutcome("complete", accuracy, "", train_s, time.perf_counter() - start, samples)


# --------------------------------------------------------------------------------------------------
# Repetitions trained together


@dataclass(frozen=True)
class RoundOutcome:
    """The repetitions of one round, however they were trained."""

    accuracies: list[float]  # test accuracy of each repetition that completed, in repetition order
    # empty, or why the round failed ("repetition 2: diverged at epoch 3") or was pruned
    reason: str
    train_s: float
    eval_s: float
    samples: int  # training samples processed, all repetitions together
    stack: int  # repetitions trained together (1: one after another)
    pruned: bool = False  # stopped early by the study's pruner: its energy counts, never its accuracy

    @property
    def failed(self) -> bool:
        return bool(self.reason) and not self.pruned

    @property
    def scored(self) -> bool:
        return not self.reason

    @property
    def mean_accuracy(self) -> float | None:
        """The round's accuracy: the mean over its repetitions (None when it failed or was pruned)."""
        return sum(self.accuracies) / len(self.accuracies) if self.scored else None

    @property
    def spread(self) -> float | None:
        """Standard deviation over the repetitions (None when it failed or had one repetition)."""
        return statistics.stdev(self.accuracies) if self.scored and len(self.accuracies) > 1 else None


def pruned_reason(epoch: int, accuracy: float) -> str:
    return f"pruned after epoch {epoch} (validation accuracy {accuracy:.4f})"


def stacked_model(spec: ModelSpec, data: TensorData, seeds: list[int]) -> StackedNet:
    """R copies, copy r initialised exactly as ``train_trial`` initialises the network for seeds[r]."""
    networks = []
    for seed in seeds:
        torch.manual_seed(seed)
        networks.append(_make(spec, data).to(data.train_x.device))
    return StackedNet(networks)


def evaluate_stacked(model: StackedNet, data: TensorData, batch_size: int) -> list[float]:
    model.eval()
    copies = model.copies
    correct = torch.zeros(copies, dtype=torch.long, device=data.test_y.device)
    with torch.no_grad():
        for start in range(0, len(data.test_y), batch_size):
            images = data.normalise(data.test_x[start : start + batch_size])
            predicted = model(images.expand(copies, *images.shape)).argmax(dim=2)
            correct += (predicted == data.test_y[start : start + batch_size]).sum(dim=1)
    return [int(c) / len(data.test_y) for c in correct.tolist()]


def train_stacked(
    spec: ModelSpec,
    data: TensorData,
    hp: Hyperparameters,
    *,
    epochs: int,
    batch_size: int,
    seeds: list[int],
    first_repetition: int = 1,
    report: EpochReport | None = None,
    trace: EpochTrace | None = None,
) -> RoundOutcome:
    """Train ``len(seeds)`` repetitions at once; repetition r is what ``train_trial(seed=seeds[r])`` trains.

    Each copy draws its own shuffling order from its own seeded generator, so batch b of copy r holds
    the same images as batch b of the sequential repetition r. The loss is the sum of the copies' mean
    losses, whose gradient with respect to each copy's weights is that copy's own gradient.
    """
    device = data.train_x.device
    copies = len(seeds)
    model = stacked_model(spec, data, seeds)
    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    try:
        optimiser = _adam(model.parameters(), hp)
    except ValueError as exc:
        reason = f"repetition {first_repetition}: invalid Adam setting: {exc}"
        return RoundOutcome([], reason, 0.0, 0.0, 0, copies)
    n = len(data.train_y)
    samples = 0
    start = time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        loss_sum = torch.zeros(copies, device=device)
        for first in range(0, n, batch_size):
            index = orders[:, first : first + batch_size]  # [R, b]
            logits = model(data.normalise(data.train_x[index]))  # [R, b, K]
            losses = nn.functional.cross_entropy(
                logits.flatten(0, 1), data.train_y[index].flatten(), reduction="none"
            )
            losses = losses.view(copies, -1).mean(dim=1)
            optimiser.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimiser.step()
            loss_sum += losses.detach()
            samples += index.numel()
        finite = torch.isfinite(loss_sum).tolist()
        if not all(finite):
            train_s = time.perf_counter() - start
            reason = f"repetition {first_repetition + finite.index(False)}: diverged at epoch {epoch}"
            return RoundOutcome([], reason, train_s, 0.0, samples, copies)
        if trace is not None:
            trace(
                first_repetition, epoch, lambda d: evaluate_stacked(model, d, max(batch_size, 1024 // copies))
            )
            model.train()
        if report is not None and epoch < epochs:  # the stacked repetitions are judged on their mean
            accuracy = statistics.fmean(evaluate_stacked(model, data, max(batch_size, 1024 // copies)))
            model.train()
            if report(epoch, accuracy):
                train_s = time.perf_counter() - start
                return RoundOutcome(
                    [], pruned_reason(epoch, accuracy), train_s, 0.0, samples, copies, pruned=True
                )
    _sync(device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    accuracies = evaluate_stacked(model, data, max(batch_size, 1024 // copies))
    _sync(device)
    return RoundOutcome(accuracies, "", train_s, time.perf_counter() - start, samples, copies)


def chunks(items: list[int], size: int) -> list[list[int]]:
    """``items`` in consecutive chunks of at most ``size``, as equal as possible (8 by 5: 4 + 4)."""
    count = -(-len(items) // max(size, 1))
    bounds = [round(i * len(items) / count) for i in range(count + 1)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


def train_round(
    spec: ModelSpec,
    data: TensorData,
    hp: Hyperparameters,
    *,
    epochs: int,
    batch_size: int,
    seeds: list[int],
    stack: int,
    report: EpochReport | None = None,
    trace: EpochTrace | None = None,
) -> RoundOutcome:
    """Train a round's repetitions (one per seed), ``stack`` at a time; stop at the first failure.

    With ``report``, the first chunk's repetitions (all of them when they fit one stack) report their
    mean accuracy after each epoch and may be pruned together; later chunks train the round to its end.
    """
    accuracies: list[float] = []
    train_s = eval_s = 0.0
    samples = 0
    for chunk in chunks(seeds, stack):
        number = len(accuracies) + 1  # of the chunk's first repetition within the round
        if len(chunk) == 1:
            one = train_trial(
                spec,
                data,
                hp,
                epochs=epochs,
                batch_size=batch_size,
                seed=chunk[0],
                report=report,
                trace=trace,
                first_repetition=number,
            )
            pruned = one.status == "pruned"
            part = RoundOutcome(
                [] if one.accuracy is None else [one.accuracy],
                one.reason if pruned else f"repetition {number}: {one.reason}" if one.reason else "",
                one.train_s,
                one.eval_s,
                one.samples,
                1,
                pruned=pruned,
            )
        else:
            part = train_stacked(
                spec,
                data,
                hp,
                epochs=epochs,
                batch_size=batch_size,
                seeds=chunk,
                first_repetition=number,
                report=report,
                trace=trace,
            )
        report = None  # only the first chunk is judged
        train_s += part.train_s
        eval_s += part.eval_s
        samples += part.samples
        if not part.scored:
            return RoundOutcome(accuracies, part.reason, train_s, eval_s, samples, stack, pruned=part.pruned)
        accuracies += part.accuracies
    return RoundOutcome(accuracies, "", train_s, eval_s, samples, min(stack, len(seeds)))


# --------------------------------------------------------------------------------------------------
# Whether, and how many, repetitions to train together

INPUT_BYTES_PER_PIXEL = 9  # the gathered uint8 batch, its float copy, the normalised float copy
# Stacking removes per-step overhead (R small operations become one), and costs cache locality: on a CPU
# it pays while the stack's working set (weights, gradients, Adam's moments and a batch's activations)
# stays in the last-level cache, and loses up to 2x once a stack spills out of it where one repetition
# did not (bench/suite.py measures both sides; BENCHMARKS.md has the figures).
DEFAULT_CACHE_BYTES = 8 * 2**20


def last_level_cache_bytes(cpu_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Size of the CPU's largest cache level, from sysfs (8 MiB where it cannot be read)."""
    best = (0, DEFAULT_CACHE_BYTES)
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    for index in sorted(cpu_dir.glob("index*")):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
            size = int(text.rstrip("KMG")) * units.get(text[-1], 1)
        except (OSError, ValueError):
            continue
        best = max(best, (level, size))
    return best[1]


@dataclass(frozen=True)
class StackPlan:
    """How a study trains each round's repetitions."""

    stack: int  # repetitions trained together per chunk (1: one after another)
    setting: str  # what the user asked for: auto, true or false
    why: str  # one line a reader can check

    @property
    def stacked(self) -> bool:
        return self.stack > 1


def bytes_per_copy(spec: ModelSpec, data: TensorData, batch_size: int) -> int:
    """Memory one more stacked repetition needs while it trains (an estimate within about 15%).

    Parameters with their gradients and Adam's two moments (4 x 4 bytes per weight), each layer's
    output for a batch (kept for the backward pass), and the gathered input batch.
    """
    model = _make(spec, data)
    c, h, w = data.shape
    activations = 4 * batch_size * activation_floats(model, data.shape)
    return 4 * parameter_bytes(model) + activations + INPUT_BYTES_PER_PIXEL * batch_size * c * h * w


def plan_stacking(
    spec: ModelSpec,
    data: TensorData,
    *,
    repetitions: int,
    batch_size: int,
    setting: bool | str,
    memory_mb: float,
) -> StackPlan:
    """Decide the chunk size: ``setting`` is True, False or "auto"; chunks fit in ``memory_mb``."""
    name = str(setting).lower()  # auto, true or false
    if repetitions == 1:
        return StackPlan(1, name, "one repetition per round: nothing to stack")
    if setting is False:
        return StackPlan(1, name, "study.stack_repetitions=false")
    try:
        StackedNet([_make(spec, data), _make(spec, data)])
    except TypeError as exc:  # a network of other kinds of layers (a custom model)
        return StackPlan(1, name, f"sequential: model={spec.name} cannot be stacked ({exc})")
    per_copy = bytes_per_copy(spec, data, batch_size)
    mb = per_copy / 2**20
    fit = max(1, int(memory_mb * 2**20 // per_copy))
    limit = f"study.stack_memory_mb={memory_mb:g}"
    device = data.train_x.device
    if setting == "auto" and device.type == "cpu":
        cache = last_level_cache_bytes()
        in_cache = int(cache // per_copy)
        if in_cache < 2:
            return StackPlan(
                1,
                name,
                f"auto: sequential, one repetition needs about {mb:.1f} MB while it trains and two "
                f"would not fit the {cache / 2**20:.0f} MB last-level cache",
            )
        if in_cache < fit:
            fit, limit = in_cache, f"the {cache / 2**20:.0f} MB last-level cache"
    stack = len(chunks(list(range(repetitions)), min(fit, repetitions))[0])
    why = f"{name}: {repetitions} repetitions"
    if stack < repetitions:
        why += f" in chunks of {stack} (about {mb:.1f} MB per repetition; {limit})"
    else:
        why += f" together (about {stack * mb:.1f} MB)"
    return StackPlan(stack, name, why)
