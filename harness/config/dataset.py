"""The options of ``dataset``: each loads its data set."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.base import Option, at_least, import_target
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.data.base import Dataset


@dataclasses.dataclass
class DatasetConfig(Option):
    """digits: scikit-learn's bundled 8x8 digits, split 80/20 by a permutation seeded with ``seed``.
    Every data set takes these settings."""

    train_size: int | None = None  # first N training images (None: all); synthetic: required
    test_size: int | None = None  # first N test images (None: all); synthetic: required
    seed: int = 0  # the digits split, synthetic tensors and the validation split
    # Carve this fraction of the training images (seeded, disjoint) as a validation split: rounds are
    # scored on it, and the configuration the search picks is evaluated once on the test set.
    validation: float = 0.0
    # Where the distribution files come from (fashion_mnist, cifar10). Every data set takes them and
    # those that read no files ignore them, so that a sweep over data sets can share them
    # (dataset=cifar10,synthetic dataset.download=false).
    root: str | None = None  # directory of the distribution files (None: data/<name>)
    download: bool = True  # fetch missing files when the machine is online
    url: str | None = None  # base URL of the distribution files (a mirror, or file:// in tests)
    # File name -> md5; None means the official ones. Untyped for OmegaConf 2.3, which cannot merge
    # a mapping into a typed mapping that is null; check() types it.
    checksums: Any = None  # file name -> md5, for files other than the official ones

    OPTIONS: ClassVar[tuple[str, ...]] = ("digits",)
    RECORDED: ClassVar[dict[str, Any]] = {"shape": None, "classes": None}
    # Where the files are and how they arrive change no image.
    NOT_FINGERPRINTED: ClassVar[tuple[str, ...]] = ("root", "download", "url")

    def load(self, *, progress: bool = True) -> Dataset:
        """The whole data set (train and test), before any validation split."""
        from harness.data.load import load_digits

        return load_digits(self.seed).subset(self.train_size, self.test_size)

    def fetch(self, *, progress: bool = True) -> None:
        """Make sure the data set's files are there (a sweep calls it once, before any job runs)."""

    def check(self) -> None:
        at_least(self.train_size, 1, "dataset.train_size")
        at_least(self.test_size, 1, "dataset.test_size")
        if not 0.0 <= self.validation < 1.0:
            raise ConfigError(
                f"dataset.validation={self.validation:g} must be a fraction in [0, 1), e.g. 0.1"
            )
        sums = self.checksums
        if sums is not None and not (
            isinstance(sums, dict) and all(isinstance(v, str) for v in sums.values())
        ):
            raise ConfigError(
                f"dataset.checksums={sums!r} must map file names to md5 sums: {{name: md5, ...}}"
            )


@dataclasses.dataclass
class FileDatasetConfig(DatasetConfig):
    """fashion_mnist (the four IDX gzip files) and cifar10 (the python pickle tarball)."""

    OPTIONS: ClassVar[tuple[str, ...]] = ("fashion_mnist", "cifar10")

    def _source(self) -> dict[str, Any]:
        """Where the distribution files come from: what loading and fetching them both take."""
        return {"url": self.url, "download": self.download, "checksums": self.checksums}

    def load(self, *, progress: bool = True) -> Dataset:
        from harness.data.load import load_files

        data = load_files(self.name, self.root, progress=progress, **self._source())
        return data.subset(self.train_size, self.test_size)

    def fetch(self, *, progress: bool = True) -> None:
        from harness.data.load import fetch_files

        fetch_files(self.name, self.root, progress=progress, **self._source())


@dataclasses.dataclass
class SyntheticConfig(DatasetConfig):
    """synthetic: seeded random images with class-dependent means, for tests and benchmarks."""

    shape: list[int] | None = None  # [C, H, W]
    classes: int | None = None  # how many classes the labels take

    OPTIONS: ClassVar[tuple[str, ...]] = ("synthetic",)

    def load(self, *, progress: bool = True) -> Dataset:
        from harness.data.synthetic import make_synthetic

        assert self.shape is not None and self.classes is not None  # check() saw to it
        assert self.train_size is not None and self.test_size is not None
        c, h, w = self.shape
        return make_synthetic((c, h, w), self.classes, self.train_size, self.test_size, self.seed)

    def check(self) -> None:
        super().check()
        if self.shape is None or len(self.shape) != 3 or min(self.shape) < 1:
            raise ConfigError(f"dataset.shape={self.shape} must be [C, H, W] with positive sizes")
        if self.classes is None or self.classes < 2:
            raise ConfigError(f"dataset.classes={self.classes} must be at least 2")
        if self.train_size is None or self.test_size is None:
            raise ConfigError("dataset.train_size and dataset.test_size are required for synthetic")


@dataclasses.dataclass
class CustomDatasetConfig(DatasetConfig):
    """custom: your own data. ``_target_`` is the dotted path of a function called as
    ``target(**kwargs)`` that returns (train_x, train_y, test_x, test_y), or a mapping with those keys
    and optionally ``classes``: images [N, C, H, W] (or [N, H, W]; uint8 or float), integer labels
    from 0, as NumPy arrays or torch tensors. The settings every data set takes apply as usual."""

    _target_: str = ""  # package.module.function returning (train_x, train_y, test_x, test_y)
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # +dataset.kwargs.path=...

    OPTIONS: ClassVar[tuple[str, ...]] = ("custom",)
    NOT_FINGERPRINTED: ClassVar[tuple[str, ...]] = ("root", "download", "url")

    def load(self, *, progress: bool = True) -> Dataset:
        from harness.data.custom import from_arrays

        target = import_target(self._target_, "dataset._target_")
        try:
            returned = target(**dict(self.kwargs))
        except TypeError as exc:
            raise ConfigError(
                f"dataset._target_={self._target_}: calling it with dataset.kwargs failed ({exc})"
            ) from None
        return from_arrays(returned, where=f"dataset._target_={self._target_}").subset(
            self.train_size, self.test_size
        )

    def check(self) -> None:
        super().check()
        import_target(self._target_, "dataset._target_")


SCHEMAS: tuple[type[DatasetConfig], ...] = (
    DatasetConfig,
    FileDatasetConfig,
    SyntheticConfig,
    CustomDatasetConfig,
)
