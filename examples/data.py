"""A data set of your own, as `dataset=custom` takes it: a function of its keyword settings
(``+dataset.kwargs.NAME=VALUE``) returning (train_x, train_y, test_x, test_y): images [N, C, H, W]
or [N, H, W] (uint8 or float) and integer labels from 0, as NumPy arrays or torch tensors.

    harness dataset=custom dataset._target_=examples.data.breast_cancer ...
"""

from __future__ import annotations

import numpy as np


def breast_cancer(test_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, ...]:
    """scikit-learn's bundled Wisconsin breast-cancer table (569 rows, 30 features, 2 classes), as
    one-pixel-high "images" [N, 1, 1, 30], split by a seeded permutation. Tabular data fits the
    harness this way; the harness normalises each channel from the training split."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    images = x.astype(np.float32)[:, None, None, :]
    return images[train], y[train], images[test], y[test]
