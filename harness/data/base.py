"""The in-memory data set every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import DataError

STATS_CHUNK = 512  # images per chunk when computing channel statistics


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 [N, C, H, W], labels as int64 [N]; mean/std per channel in raw pixel units."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    def channel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std of the training images (float32), summed in chunks.

        Never a float copy of the whole set: each chunk's sums are exact in float64.
        """
        c = self.train_x.shape[1]
        total = np.zeros(c)
        squares = np.zeros(c)
        for start in range(0, len(self.train_x), STATS_CHUNK):
            chunk = self.train_x[start : start + STATS_CHUNK].astype(np.float64)
            total += chunk.sum(axis=(0, 2, 3))
            squares += np.square(chunk).sum(axis=(0, 2, 3))
        count = self.train_x.size / c
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)

    def subset(self, train_size: int | None, test_size: int | None) -> Dataset:
        """The first N images of each split (deterministic; None keeps all)."""
        return Dataset(
            self.name,
            self.train_x[:train_size],
            self.train_y[:train_size],
            self.test_x[:test_size],
            self.test_y[:test_size],
            self.classes,
        )


def split_validation(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """(search, final): the search trains on part of the training images and is scored on the rest
    (a seeded, disjoint draw); the final evaluation trains on the same part and is scored on the test
    split, which the search never sees."""
    n = len(data.train_y)
    n_val = max(1, round(n * fraction))
    if n - n_val < 1:
        raise DataError(
            f"dataset.validation={fraction:g} of {data.name}'s {n} training images leaves none to train on; "
            f"give a smaller fraction, such as 0.2"
        )
    order = np.random.default_rng(seed).permutation(n)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    train_x, train_y = data.train_x[train], data.train_y[train]
    search = Dataset(data.name, train_x, train_y, data.train_x[val], data.train_y[val], data.classes)
    final = Dataset(data.name, train_x, train_y, data.test_x, data.test_y, data.classes)
    return search, final
