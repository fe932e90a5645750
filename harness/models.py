"""The paper's three networks (Yarally et al., CAIN 2023), widths computed from the input shape.

C channels, H x W image (the paper's D x D), K classes:

- DensePolyNN: Flatten; Linear layers of width max(floor(C*H*W / 2^(d+1)), C) for d = 0..n-2;
  Linear to K. No activations between layers (as published).
- DenseLinearNN: as above with widths max(floor(C*H*W - (d+1)*C*H*W/n), C).
- SimpleCNN: n_conv blocks [Conv2d(C*3^(d+1), 3x3, padding 1), BatchNorm2d, ReLU, MaxPool2d(2)],
  Flatten, then the DensePolyNN hidden widths (from the input's C, H, W), then Linear to K.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODEL_NAMES = ("dense_poly", "dense_linear", "simple_cnn")


def poly_widths(c: int, h: int, w: int, linear_layers: int) -> list[int]:
    """Hidden widths of DensePolyNN (one per layer before the output layer)."""
    size = c * h * w
    return [max(size // 2 ** (d + 1), c) for d in range(linear_layers - 1)]


def linear_widths(c: int, h: int, w: int, linear_layers: int) -> list[int]:
    """Hidden widths of DenseLinearNN."""
    size = c * h * w
    return [max(math.floor(size - (d + 1) * size / linear_layers), c) for d in range(linear_layers - 1)]


def conv_channels(c: int, conv_layers: int) -> list[int]:
    return [c * 3 ** (d + 1) for d in range(conv_layers)]


def _dense_stack(in_features: int, widths: list[int], classes: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Linear(in_features, width))
        in_features = width
    layers.append(nn.Linear(in_features, classes))
    return layers


def build_model(
    name: str,
    shape: tuple[int, int, int],
    classes: int,
    *,
    linear_layers: int = 3,
    conv_layers: int = 2,
    relu: bool = True,
) -> nn.Sequential:
    """Build one of the paper's networks for images of ``shape`` = (C, H, W)."""
    c, h, w = shape
    if name == "dense_poly":
        return nn.Sequential(
            nn.Flatten(), *_dense_stack(c * h * w, poly_widths(c, h, w, linear_layers), classes)
        )
    if name == "dense_linear":
        return nn.Sequential(
            nn.Flatten(), *_dense_stack(c * h * w, linear_widths(c, h, w, linear_layers), classes)
        )
    if name == "simple_cnn":
        if h >> conv_layers < 1 or w >> conv_layers < 1:
            raise ValueError(
                f"model.conv_layers={conv_layers} halves a {h}x{w} image to nothing; "
                f"use at most {int(math.log2(min(h, w)))} conv layers"
            )
        layers: list[nn.Module] = []
        in_channels = c
        for out_channels in conv_channels(c, conv_layers):
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1),
                nn.BatchNorm2d(out_channels),
            ]
            if relu:
                layers.append(nn.ReLU())
            layers.append(nn.MaxPool2d(2))
            in_channels = out_channels
        flat = in_channels * (h >> conv_layers) * (w >> conv_layers)
        widths = poly_widths(c, h, w, linear_layers)
        return nn.Sequential(*layers, nn.Flatten(), *_dense_stack(flat, widths, classes))
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
