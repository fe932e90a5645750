"""Data sets held in memory as compact uint8 arrays, normalised per batch by the trainer.

``load_dataset`` is the one entry: digits (bundled, offline), fashion_mnist (IDX gzip files),
cifar10 (python pickle tarball) and synthetic (seeded arrays of any shape).
"""

from __future__ import annotations

from harness.data.base import Dataset, split_validation
from harness.data.load import load_dataset

__all__ = ["Dataset", "load_dataset", "split_validation"]
