"""Seeded synthetic images: each class a random prototype plus noise, so models can learn it.

Generated in uint8 and mixed in chunks, so a full-size CIFAR-10-shaped set (60,000 x 3x32x32) costs
its 184 MB and little more.
"""

from __future__ import annotations

import numpy as np

from harness.data.base import Dataset

CHUNK = 1024  # images mixed at a time (float32 scratch of CHUNK x C x H x W)


def make_synthetic(
    shape: tuple[int, int, int], classes: int, train_size: int, test_size: int, seed: int
) -> Dataset:
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(classes, *shape), dtype=np.uint8)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, classes, size=n)
        images = np.empty((n, *shape), dtype=np.uint8)
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            noise = rng.integers(0, 256, size=(stop - start, *shape), dtype=np.uint8)
            mixed = prototypes[labels[start:stop]].astype(np.float32)
            mixed *= np.float32(0.6)
            mixed += np.float32(0.4) * noise.astype(np.float32)
            images[start:stop] = mixed.astype(np.uint8)
        return images, labels.astype(np.int64)

    train_x, train_y = split(train_size)
    test_x, test_y = split(test_size)
    return Dataset("synthetic", train_x, train_y, test_x, test_y, classes)
