"""CIFAR-10: the python pickle tarball, or the directory it extracts to."""

from __future__ import annotations

import pickle
import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from harness.data.base import Dataset
from harness.data.files import ensure, find, verify, with_checksums
from harness.errors import DataError

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = "test_batch"
CHECKSUMS: dict[str, tuple[str, ...]] = {
    ARCHIVE: ("c58f30108f718f92721af3b95e74349a",),
    "data_batch_1": ("c99cafc152244af753f735de768cd75f",),
    "data_batch_2": ("d4bba439e000b95fd0a9bffe97cbabec",),
    "data_batch_3": ("54ebc095f3ab1f0389bbae665268c751",),
    "data_batch_4": ("634d18415352ddfa80567beed471001a",),
    "data_batch_5": ("482c414d41f54cd18b22e5b47cb7c3cb",),
    "test_batch": ("40351d587109b95175f43aff81a1287e",),
}
URL = "https://www.cs.toronto.edu/~kriz/"


# What a CIFAR-10 batch's pickle may build: numpy arrays and their dtypes, and plain containers.
# Anything else (a pickle can name any callable) is refused: a checksum the user supplies
# (dataset.checksums) must not turn a data file into code that runs.
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never holds")


def _read_batch(fh: IO[bytes], name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArraysOnly(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:  # any unpickling failure means a damaged file
        raise DataError(f"cifar10: {name} is not a CIFAR-10 batch ({exc}); fetch it again") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"cifar10: {name} has data {data.shape}, labels {labels.shape}; fetch it again")
    return data.reshape(-1, 3, 32, 32), labels


def _assemble(open_member: Callable[[str], IO[bytes]]) -> Dataset:
    parts = []
    for name in TRAIN:
        with open_member(name) as fh:
            parts.append(_read_batch(fh, name))
    with open_member(TEST) as fh:
        test_x, test_y = _read_batch(fh, TEST)
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return Dataset("cifar10", train_x, train_y, test_x, test_y, classes=10)


def fetch_cifar10(
    root: Path,
    *,
    url: str | None,
    download: bool,
    checksums: Mapping[str, Sequence[str]] | None,
    progress: bool = True,
) -> tuple[Path, bool]:
    """Where the data is, and whether it is the extracted batches (else the verified archive,
    downloaded into ``root`` if needed)."""
    extracted = find((*TRAIN, TEST), [root / FOLDER])
    if extracted is not None:
        return extracted, True
    found = ensure(
        (ARCHIVE,),
        with_checksums(CHECKSUMS, checksums),
        root=root,
        url=url or URL,
        allow_download=download,
        what="cifar10",
        progress=progress,
    )
    return found, False


def load_cifar10(
    root: Path,
    *,
    url: str | None,
    download: bool,
    checksums: Mapping[str, Sequence[str]] | None,
    progress: bool = True,
) -> Dataset:
    found, extracted = fetch_cifar10(root, url=url, download=download, checksums=checksums, progress=progress)
    if extracted:
        sums = with_checksums(CHECKSUMS, checksums)
        for name in (*TRAIN, TEST):
            verify(found / name, sums[name])
        return _assemble(lambda name: (found / name).open("rb"))
    try:
        with tarfile.open(found / ARCHIVE, "r:gz") as tar:

            def open_member(name: str) -> IO[bytes]:
                member = tar.extractfile(f"{FOLDER}/{name}")
                if member is None:
                    raise KeyError(name)
                return member

            return _assemble(open_member)
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise DataError(
            f"cifar10: {found / ARCHIVE} is damaged or incomplete ({exc}); delete it and fetch it again"
        ) from exc
