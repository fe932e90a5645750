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


# --------------------------------------------------------------------------------------------------
# R independent copies of one network, trained as one model


class StackedLinear(nn.Module):
    """R Linear layers side by side, one batched matmul for all R.

    Stored in the layout the product takes (weight [R, in, out], bias [R, 1, out]), so a step makes
    no transposed or unsqueezed views: copy r's weight is ``weight[r].T`` of its Linear.
    """

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers]).contiguous())
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [R, B, in] -> [R, B, out]
        return torch.baddbmm(self.bias, x, self.weight)


def _grouped_conv(layers: list[nn.Conv2d]) -> nn.Conv2d:
    """R convolutions as one over stacked channels: groups=R keeps each copy to its own channels."""
    first = layers[0]
    r = len(layers)
    conv = nn.Conv2d(
        first.in_channels * r,
        first.out_channels * r,
        kernel_size=first.kernel_size,  # type: ignore[arg-type]
        stride=first.stride,  # type: ignore[arg-type]
        padding=first.padding,  # type: ignore[arg-type]
        groups=r,
        device=first.weight.device,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.cat([layer.weight for layer in layers]))
        assert conv.bias is not None
        conv.bias.copy_(torch.cat([layer.bias for layer in layers if layer.bias is not None]))
    return conv


def _stacked_batch_norm(layers: list[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    """Per-channel statistics over stacked channels are each copy's own statistics."""
    first = layers[0]
    norm = nn.BatchNorm2d(
        first.num_features * len(layers), eps=first.eps, momentum=first.momentum, device=first.weight.device
    )
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).copy_(torch.cat([getattr(layer, name) for layer in layers]))
    return norm


class _ToChannels(nn.Module):
    """[R, B, C, H, W] -> [B, R*C, H, W]: the copies' images side by side as channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, b, c, h, w = x.shape
        return x.transpose(0, 1).reshape(b, r * c, h, w)


class _FlattenStacked(nn.Module):
    """Back to one feature vector per copy: [R, B, ...] or [B, R*C, H, W] -> [R, B, F]."""

    def __init__(self, copies: int, from_channels: bool) -> None:
        super().__init__()
        self.copies = copies
        self.from_channels = from_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.from_channels:
            return x.reshape(x.shape[0], self.copies, -1).transpose(0, 1)
        return x.reshape(self.copies, x.shape[1], -1)


class StackedNet(nn.Sequential):
    """R copies of one paper network as a single module (inputs [R, B, C, H, W], logits [R, B, K]).

    Built from R already initialised networks, so copy r starts from exactly the weights of network r.
    Linear layers become batched matmuls, convolutions one grouped convolution over the copies'
    stacked channels, batch norms one batch norm over those channels; ReLU and pooling act per channel
    as before. Nothing mixes the copies, so the gradient of the summed per-copy losses is each copy's
    own gradient, and one Adam over the stacked tensors is R independent Adams (Adam is elementwise).
    """

    def __init__(self, networks: list[nn.Sequential]) -> None:
        copies = len(networks)
        if not isinstance(networks[0], nn.Sequential):
            raise TypeError(f"it is a {type(networks[0]).__name__}, not an nn.Sequential of layers")
        layers: list[nn.Module] = []
        channels = False  # whether activations are in the [B, R*C, H, W] layout
        for parts in zip(*networks, strict=True):
            first = parts[0]
            if isinstance(first, nn.Conv2d):
                if not channels:
                    layers.append(_ToChannels())
                    channels = True
                layers.append(_grouped_conv(list(parts)))
            elif isinstance(first, nn.BatchNorm2d):
                layers.append(_stacked_batch_norm(list(parts)))
            elif isinstance(first, nn.Flatten):
                layers.append(_FlattenStacked(copies, channels))
                channels = False
            elif isinstance(first, nn.Linear):
                layers.append(StackedLinear(list(parts)))
            elif isinstance(first, nn.ReLU | nn.MaxPool2d):
                layers.append(first)
            else:
                raise TypeError(f"cannot stack a {type(first).__name__} layer")
        super().__init__(*layers)
        self.copies = copies


def parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def activation_floats(model: nn.Sequential, shape: tuple[int, int, int]) -> int:
    """Floats each layer of ``model`` outputs for one image: what training keeps per sample."""
    total = 0
    x = torch.zeros(2, *shape, device=next(model.parameters()).device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            total += x[0].numel()
    model.train(was_training)
    return total
