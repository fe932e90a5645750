from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from harness.models import build_model, count_parameters

FASHION = (1, 28, 28)
CIFAR = (3, 32, 32)


def linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def dense_params(shapes: list[tuple[int, int]]) -> int:
    return sum(i * o + o for i, o in shapes)


@pytest.mark.parametrize("shape", [FASHION, CIFAR])
@pytest.mark.parametrize("n", [3, 7])
def test_dense_poly_widths_follow_the_paper(shape, n):
    c, d, _ = shape
    size = c * d * d
    widths = [max(math.floor(size / 2 ** (k + 1)), c) for k in range(n - 1)]
    expected = list(zip([size, *widths], [*widths, 10], strict=True))
    model = build_model("dense_poly", shape, 10, linear_layers=n)
    assert linear_shapes(model) == expected
    assert count_parameters(model) == dense_params(expected)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_dense_poly_fashion_numbers_by_hand():
    # 784 -> 392 -> 196 -> 10
    model = build_model("dense_poly", FASHION, 10, linear_layers=3)
    assert linear_shapes(model) == [(784, 392), (392, 196), (196, 10)]
    assert count_parameters(model) == 784 * 392 + 392 + 392 * 196 + 196 + 196 * 10 + 10


@pytest.mark.parametrize("shape", [FASHION, CIFAR])
@pytest.mark.parametrize("n", [3, 7])
def test_dense_linear_widths_follow_the_paper(shape, n):
    c, d, _ = shape
    size = c * d * d
    widths = [max(math.floor(size - (k + 1) * size / n), c) for k in range(n - 1)]
    expected = list(zip([size, *widths], [*widths, 10], strict=True))
    model = build_model("dense_linear", shape, 10, linear_layers=n)
    assert linear_shapes(model) == expected
    assert count_parameters(model) == dense_params(expected)


def test_dense_linear_cifar_numbers_by_hand():
    # 3072 -> 2048 -> 1024 -> 10
    model = build_model("dense_linear", CIFAR, 10, linear_layers=3)
    assert linear_shapes(model) == [(3072, 2048), (2048, 1024), (1024, 10)]


@pytest.mark.parametrize("shape", [FASHION, CIFAR])
@pytest.mark.parametrize(("convs", "relu"), [(1, True), (2, True), (4, False)])
def test_simple_cnn_blocks_and_parameter_count(shape, convs, relu):
    c, d, _ = shape
    model = build_model("simple_cnn", shape, 10, linear_layers=3, conv_layers=convs, relu=relu)
    convs_found = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    channels = [c * 3 ** (k + 1) for k in range(convs)]
    assert [m.out_channels for m in convs_found] == channels
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in convs_found)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == convs
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == (convs if relu else 0)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == convs
    flat = channels[-1] * (d // 2**convs) ** 2
    widths = [max((c * d * d) // 2 ** (k + 1), c) for k in range(2)]
    dense = list(zip([flat, *widths], [*widths, 10], strict=True))
    assert linear_shapes(model) == dense
    conv_params = sum(
        i * o * 9 + o + 2 * o for i, o in zip([c, *channels[:-1]], channels, strict=True)
    )  # conv weights + bias, BatchNorm weight + bias
    assert count_parameters(model) == conv_params + dense_params(dense)
    out = model(torch.zeros(2, *shape))
    assert out.shape == (2, 10)


def test_simple_cnn_rejects_too_many_conv_layers_for_the_image():
    with pytest.raises(ValueError, match="conv_layers=4"):
        build_model("simple_cnn", (1, 8, 8), 10, conv_layers=4)
