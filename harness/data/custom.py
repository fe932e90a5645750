"""A data set a user's own function returns (``dataset=custom``), checked and put in the harness's form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.data.base import Dataset
from harness.errors import ConfigError

PARTS = ("train_x", "train_y", "test_x", "test_y")


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def from_arrays(returned: Any, *, where: str) -> Dataset:
    """(train_x, train_y, test_x, test_y), or a mapping with those keys (and optionally ``classes``),
    as a Dataset; ConfigError in one line naming what is wrong."""
    classes = None
    if isinstance(returned, Mapping):
        missing = [k for k in PARTS if k not in returned]
        if missing:
            raise ConfigError(f"{where} returned a mapping without {', '.join(missing)}")
        parts = [returned[k] for k in PARTS]
        classes = returned.get("classes")
    elif isinstance(returned, tuple | list) and len(returned) == 4:
        parts = list(returned)
    else:
        raise ConfigError(
            f"{where} returned a {type(returned).__name__}; return (train_x, train_y, test_x, test_y)"
        )
    train_x, train_y, test_x, test_y = (_array(p) for p in parts)
    for name, x in (("train_x", train_x), ("test_x", test_x)):
        if x.ndim not in (3, 4):
            raise ConfigError(
                f"{where}: {name} has shape {x.shape}; give images as [N, C, H, W] or [N, H, W]"
            )
    if train_x.ndim == 3:
        train_x = train_x[:, None]
    if test_x.ndim == 3:
        test_x = test_x[:, None]
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ConfigError(
            f"{where}: train_x {train_x.shape[1:]} and test_x {test_x.shape[1:]} differ in shape"
        )
    for name, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        if y.ndim != 1 or len(y) != len(x):
            raise ConfigError(
                f"{where}: {name}_y must hold one label per image ({len(x)}), not shape {y.shape}"
            )
        if len(x) == 0:
            raise ConfigError(f"{where}: the {name} split is empty")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ConfigError(f"{where}: {name}_y must be integer class labels from 0")
        if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
            raise ConfigError(f"{where}: {name}_x must be finite numbers")
    found = int(max(train_y.max(), test_y.max())) + 1
    classes = int(classes) if classes is not None else found
    if classes < max(found, 2):
        raise ConfigError(
            f"{where}: classes={classes}, but the labels go up to {found - 1} (at least 2 needed)"
        )
    if train_x.dtype != np.uint8:
        train_x, test_x = train_x.astype(np.float32), test_x.astype(np.float32)
    return Dataset(
        "custom",
        np.ascontiguousarray(train_x),
        train_y.astype(np.int64),
        np.ascontiguousarray(test_x),
        test_y.astype(np.int64),
        classes,
    )
