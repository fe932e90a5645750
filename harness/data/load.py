"""The bundled digits and the data sets read from distribution files. Each option of ``dataset``
loads its own (harness/config/dataset.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.data.base import Dataset
from harness.data.cifar import fetch_cifar10, load_cifar10
from harness.data.idx import fetch_fashion_mnist, load_fashion_mnist
from harness.errors import DataError

DIGITS_TEST_FRACTION = 0.2
# Data sets read from distribution files: loader, fetcher (the files, not read) and default directory.
FILE_LOADERS = {
    "fashion_mnist": (load_fashion_mnist, fetch_fashion_mnist, "data/fashion_mnist"),
    "cifar10": (load_cifar10, fetch_cifar10, "data/cifar10"),
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


def _files(
    name: str, root: str | None, checksums: Mapping[str, str] | None
) -> tuple[Path, Mapping[str, tuple[str, ...]] | None]:
    """A file data set's directory (None: its default) and checksums as its format module takes them."""
    sums = {k: (v,) for k, v in checksums.items()} if checksums is not None else None
    return Path(root or FILE_LOADERS[name][2]), sums


def load_files(
    name: str,
    root: str | None,
    *,
    url: str | None = None,
    download: bool = True,
    checksums: Mapping[str, str] | None = None,
    progress: bool = True,
) -> Dataset:
    """A data set read from its distribution files (fashion_mnist, cifar10) in ``root`` (None: its
    default directory); ``checksums`` maps a file name to its md5 (None: the official sums)."""
    where, sums = _files(name, root, checksums)
    return FILE_LOADERS[name][0](where, url=url, download=download, checksums=sums, progress=progress)


def fetch_files(
    name: str,
    root: str | None,
    *,
    url: str | None = None,
    download: bool = True,
    checksums: Mapping[str, str] | None = None,
    progress: bool = True,
) -> None:
    """Make sure a file data set's distribution files are there (downloading them where allowed),
    without reading them: a sweep checks this once per data set before any job runs."""
    where, sums = _files(name, root, checksums)
    FILE_LOADERS[name][1](where, url=url, download=download, checksums=sums, progress=progress)
