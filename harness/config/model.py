"""The options of ``model``: each builds its network for a data set's image shape."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.base import Option, at_least, import_target

if TYPE_CHECKING:
    from torch import nn


@dataclasses.dataclass
class ModelConfig(Option):
    """dense_poly (widths halving) and dense_linear (widths shrinking linearly): Linear layers with no
    activations, as published."""

    linear_layers: int = 3  # Linear layers of the classifier head (the paper: 3)

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

    conv_layers: int = 2  # conv blocks before the head (the paper: 2)
    relu: bool = True  # the ReLU after each conv block (RQ2 drops it)

    OPTIONS: ClassVar[tuple[str, ...]] = ("simple_cnn",)

    def check(self) -> None:
        super().check()
        at_least(self.conv_layers, 1, "model.conv_layers")


@dataclasses.dataclass
class CustomModelConfig(Option):
    """custom: your own network. ``_target_`` is the dotted path of a class or function called as
    ``target(shape=(C, H, W), classes=K, **kwargs)``; it returns a torch.nn.Module that maps images
    [B, C, H, W] to logits [B, K]. Repetitions stack when it is an nn.Sequential of Linear, Conv2d,
    BatchNorm2d, ReLU, MaxPool2d and Flatten layers, and run one after another otherwise."""

    _target_: str = ""  # package.module.Name: called with shape=(C, H, W), classes=K, **kwargs
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # +model.kwargs.width=64

    OPTIONS: ClassVar[tuple[str, ...]] = ("custom",)

    def build(self, shape: tuple[int, int, int], classes: int) -> nn.Module:
        from torch import nn

        from harness.errors import ConfigError

        target = import_target(self._target_, "model._target_")
        try:
            network = target(shape=shape, classes=classes, **dict(self.kwargs))
        except TypeError as exc:
            raise ConfigError(
                f"model._target_={self._target_}: calling it as target(shape={shape}, classes={classes}, "
                f"**model.kwargs) failed ({exc})"
            ) from None
        if not isinstance(network, nn.Module):
            raise ConfigError(
                f"model._target_={self._target_} returned a {type(network).__name__}, not a torch.nn.Module"
            )
        return network

    def check(self) -> None:
        import_target(self._target_, "model._target_")


SCHEMAS: tuple[type[Any], ...] = (ModelConfig, SimpleCNNConfig, CustomModelConfig)
