"""The options of ``model``: each builds its network for a data set's image shape."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.base import Option, at_least

if TYPE_CHECKING:
    from torch import nn


@dataclasses.dataclass
class ModelConfig(Option):
    """dense_poly (widths halving) and dense_linear (widths shrinking linearly): Linear layers with no
    activations, as published."""

    linear_layers: int = 3

    OPTIONS: ClassVar[tuple[str, ...]] = ("dense_poly", "dense_linear")
    RECORDED: ClassVar[dict[str, Any]] = {"conv_layers": 2, "relu": True}

    def build(self, shape: tuple[int, int, int], classes: int) -> nn.Sequential:
        """The network for images of ``shape`` (C, H, W): every setting but the name is an argument."""
        from harness.models import build_model

        layers = {k: v for k, v in dataclasses.asdict(self).items() if k != "name"}
        return build_model(self.name, shape, classes, **layers)

    def check(self) -> None:
        at_least(self.linear_layers, 1, "model.linear_layers")


@dataclasses.dataclass
class SimpleCNNConfig(ModelConfig):
    """simple_cnn: conv blocks [Conv3x3, BatchNorm, ReLU, MaxPool2], then the DensePolyNN stack."""

    conv_layers: int = 2
    relu: bool = True  # the ReLU after each conv block (RQ2 drops it)

    OPTIONS: ClassVar[tuple[str, ...]] = ("simple_cnn",)

    def check(self) -> None:
        super().check()
        at_least(self.conv_layers, 1, "model.conv_layers")


SCHEMAS: tuple[type[ModelConfig], ...] = (ModelConfig, SimpleCNNConfig)
