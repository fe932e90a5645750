"""Two networks of your own, as `model=custom` takes them: a callable given the image shape (C, H, W),
the number of classes and its keyword settings (``+model.kwargs.NAME=VALUE``), returning a
torch.nn.Module from images [B, C, H, W] to logits [B, classes].

    harness model=custom model._target_=examples.nets.mlp +model.kwargs.width=64 ...
    harness model=custom model._target_=examples.nets.ResidualMLP ...
"""

from __future__ import annotations

import math

from torch import Tensor, nn


def mlp(shape: tuple[int, int, int], classes: int, width: int = 128, depth: int = 2) -> nn.Sequential:
    """A ReLU multilayer perceptron. An nn.Sequential of Linear, ReLU and Flatten layers: the harness
    trains a round's repetitions stacked, as one model."""
    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(shape)
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)


class ResidualMLP(nn.Module):
    """A perceptron with a skip connection: not a plain sequence of layers, so its repetitions train
    one after another (the harness says so when the study starts)."""

    def __init__(self, shape: tuple[int, int, int], classes: int, width: int = 64) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), width), nn.ReLU())
        self.block = nn.Sequential(nn.Linear(width, width), nn.ReLU())
        self.out = nn.Linear(width, classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x)
        return self.out(h + self.block(h))
