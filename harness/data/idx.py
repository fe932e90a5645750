"""Fashion-MNIST: the four IDX gzip files of the standard distribution."""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from harness.data.base import Dataset
from harness.data.files import ensure, with_checksums
from harness.errors import DataError

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# md5 of each file as distributed: the official gzip files, and Debian's dataset-fashion-mnist
# (the same images, gzipped again without the file-name header).
CHECKSUMS: dict[str, tuple[str, ...]] = {
    FILES[0]: ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"),
    FILES[1]: ("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"),
    FILES[2]: ("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"),
    FILES[3]: ("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01"),
}
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Parse one gzip-compressed IDX file (magic 0x0000TTNN: type TT, NN dimensions)."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}); delete it and fetch it again") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file of unsigned bytes; delete it and fetch it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(
            f"{path} holds {len(raw)} bytes where its header promises {expected}; "
            f"delete it and fetch it again"
        )
    # A writable array (torch warns about read-only buffers): one copy of the payload, no more.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def fetch_fashion_mnist(
    root: Path,
    *,
    url: str | None,
    download: bool,
    checksums: Mapping[str, Sequence[str]] | None,
    progress: bool = True,
) -> Path:
    """The directory holding verified copies of the four files (downloaded into ``root`` if needed)."""
    return ensure(
        FILES,
        with_checksums(CHECKSUMS, checksums),
        root=root,
        extra_dirs=[DEBIAN_DIR],
        url=url or URL,
        allow_download=download,
        what="fashion_mnist",
        progress=progress,
    )


def load_fashion_mnist(
    root: Path,
    *,
    url: str | None,
    download: bool,
    checksums: Mapping[str, Sequence[str]] | None,
    progress: bool = True,
) -> Dataset:
    found = fetch_fashion_mnist(root, url=url, download=download, checksums=checksums, progress=progress)
    arrays = [read_idx(found / name) for name in FILES]
    train_x, train_y, test_x, test_y = arrays
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"fashion_mnist: {split} images {images.shape} and labels {labels.shape} "
                f"do not match; fetch the files again"
            )
    return Dataset(
        "fashion_mnist",
        np.ascontiguousarray(train_x[:, None]),
        train_y.astype(np.int64),
        np.ascontiguousarray(test_x[:, None]),
        test_y.astype(np.int64),
        classes=10,
    )
