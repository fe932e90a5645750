"""The in-memory data set every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

    @property
    def channel_mean(self) -> np.ndarray:
        return self.train_x.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)

    @property
    def channel_std(self) -> np.ndarray:
        std = self.train_x.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
        return np.maximum(std, 1e-6)

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
