"""One entry point that picks the loader by name."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.data.base import Dataset
from harness.data.cifar import load_cifar10
from harness.data.idx import load_fashion_mnist
from harness.data.synthetic import make_synthetic
from harness.errors import DataError

DIGITS_TEST_FRACTION = 0.2
# Data sets read from distribution files: loader and default directory.
FILE_LOADERS = {
    "fashion_mnist": (load_fashion_mnist, "data/fashion_mnist"),
    "cifar10": (load_cifar10, "data/cifar10"),
}


def digits_file() -> Path:
    """scikit-learn's bundled digits.csv.gz, found without importing scikit-learn (about 1 s)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("dataset=digits needs scikit-learn's bundled copy: pip install scikit-learn")
    return Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"


def load_digits(seed: int) -> Dataset:
    """scikit-learn's bundled 8x8 digits (pixel values 0..16), split 80/20 by a seeded permutation.

    Read as ``sklearn.datasets.load_digits`` reads it: 64 pixel columns and the label, per row.
    """
    table = np.loadtxt(digits_file(), delimiter=",")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 8, 8)  # [1797, 1, 8, 8]
    labels = table[:, -1].astype(np.int64)
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
