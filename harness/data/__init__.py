"""Data sets held in memory as compact uint8 arrays, normalised per batch by the trainer.

digits (bundled, offline), fashion_mnist (IDX gzip files), cifar10 (python pickle tarball) and
synthetic (seeded arrays of any shape); each option of ``dataset`` loads its own
(harness/config/dataset.py).
"""

from __future__ import annotations

from harness.data.base import Dataset, split_validation

__all__ = ["Dataset", "split_validation"]
