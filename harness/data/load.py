"""One entry point that picks the loader by name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.data.base import Dataset
from harness.data.cifar import load_cifar10
from harness.data.idx import load_fashion_mnist
from harness.data.synthetic import make_synthetic

DIGITS_TEST_FRACTION = 0.2
# Data sets read from distribution files: loader and default directory.
FILE_LOADERS = {
    "fashion_mnist": (load_fashion_mnist, "data/fashion_mnist"),
    "cifar10": (load_cifar10, "data/cifar10"),
}


def load_digits(seed: int) -> Dataset:
    """scikit-learn's bundled 8x8 digits (pixel values 0..16), split 80/20 by a seeded permutation."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # [1797, 1, 8, 8]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = round(len(labels) * DIGITS_TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", images[train], labels[train], images[test], labels[test], classes=10)


def load_dataset(
    name: str,
    *,
    root: str | None = None,
    download: bool = True,
    url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    shape: tuple[int, int, int] | None = None,
    classes: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Dataset:
    sums = {k: (v,) for k, v in checksums.items()} if checksums is not None else None
    if name == "digits":
        data = load_digits(seed)
    elif name in FILE_LOADERS:
        loader, default_root = FILE_LOADERS[name]
        data = loader(
            Path(root or default_root), url=url, download=download, checksums=sums, progress=progress
        )
    elif name == "synthetic":
        assert shape is not None and classes is not None
        assert train_size is not None and test_size is not None
        return make_synthetic(shape, classes, train_size, test_size, seed)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return data.subset(train_size, test_size)
