"""Seeded synthetic images: each class a random prototype plus noise, so models can learn it."""

from __future__ import annotations

import numpy as np

from harness.data.base import Dataset


def make_synthetic(
    shape: tuple[int, int, int], classes: int, train_size: int, test_size: int, seed: int
) -> Dataset:
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(classes, *shape))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, classes, size=n)
        noise = rng.integers(0, 256, size=(n, *shape))
        images = (0.6 * prototypes[labels] + 0.4 * noise).astype(np.uint8)
        return images, labels.astype(np.int64)

    train_x, train_y = split(train_size)
    test_x, test_y = split(test_size)
    return Dataset("synthetic", train_x, train_y, test_x, test_y, classes)
