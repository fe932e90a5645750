"""The readers on tiny files written in the real distribution formats."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from harness.config.options import make
from harness.data.idx import FILES as FASHION_FILES
from harness.errors import DataError

RNG = np.random.default_rng(7)
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def load(name: str, *, progress: bool = True, **settings):
    """The data set as a study loads it: its option, with these settings."""
    return make("dataset", name, **settings).load(progress=progress)


@pytest.fixture(autouse=True)
def no_system_dataset(tmp_path, monkeypatch):
    """Tests see only the files they write, whether or not Debian's copy is installed here."""
    monkeypatch.setattr("harness.data.idx.DEBIAN_DIR", tmp_path / "no-system-copy")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(magic + dims + array.astype(np.uint8).tobytes())


def fashion_files(root: Path, n_train: int = 20, n_test: int = 10) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    arrays = [
        RNG.integers(0, 256, (n_train, 28, 28)),
        RNG.integers(0, 10, n_train),
        RNG.integers(0, 256, (n_test, 28, 28)),
        RNG.integers(0, 10, n_test),
    ]
    for name, array in zip(FASHION_FILES, arrays, strict=True):
        write_idx(root / name, array)
    return {name: md5(root / name) for name in FASHION_FILES}


def test_fashion_mnist_reads_idx_gzip_files(tmp_path):
    sums = fashion_files(tmp_path / "fm")
    data = load("fashion_mnist", root=str(tmp_path / "fm"), download=False, checksums=sums)
    assert data.train_x.shape == (20, 1, 28, 28) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (10, 1, 28, 28)
    assert data.train_y.dtype == np.int64 and data.classes == 10
    raw = gzip.decompress((tmp_path / "fm" / FASHION_FILES[0]).read_bytes())
    assert np.array_equal(data.train_x[3, 0], np.frombuffer(raw[16:], np.uint8).reshape(20, 28, 28)[3])


def test_fashion_mnist_subset_takes_the_first_images(tmp_path):
    sums = fashion_files(tmp_path / "fm")
    full = load("fashion_mnist", root=str(tmp_path / "fm"), download=False, checksums=sums)
    part = load(
        "fashion_mnist",
        root=str(tmp_path / "fm"),
        download=False,
        checksums=sums,
        train_size=5,
        test_size=4,
    )
    assert np.array_equal(part.train_x, full.train_x[:5]) and len(part.test_y) == 4


def test_corrupted_file_fails_its_checksum(tmp_path):
    sums = fashion_files(tmp_path / "fm")
    target = tmp_path / "fm" / FASHION_FILES[2]
    blob = bytearray(target.read_bytes())
    blob[-5] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is corrupted .*download it again"):
        load("fashion_mnist", root=str(tmp_path / "fm"), download=False, checksums=sums)


def test_truncated_idx_file_is_reported_even_when_its_checksum_is_accepted(tmp_path):
    root = tmp_path / "fm"
    fashion_files(root)
    raw = gzip.decompress((root / FASHION_FILES[0]).read_bytes())
    with gzip.open(root / FASHION_FILES[0], "wb") as fh:
        fh.write(raw[:-100])
    sums = {name: md5(root / name) for name in FASHION_FILES}
    with pytest.raises(DataError, match="header promises"):
        load("fashion_mnist", root=str(root), download=False, checksums=sums)


def test_missing_files_offline_name_the_files_and_where_to_put_them(tmp_path):
    with pytest.raises(DataError) as info:
        load("fashion_mnist", root=str(tmp_path / "nothing"), download=False)
    message = str(info.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "nothing") in message


def test_download_fetches_missing_files_and_verifies_them(tmp_path):
    mirror = tmp_path / "mirror"
    sums = fashion_files(mirror)
    root = tmp_path / "data"
    data = load("fashion_mnist", root=str(root), url=mirror.as_uri() + "/", checksums=sums, progress=False)
    assert len(data.train_y) == 20
    assert sorted(p.name for p in root.iterdir()) == sorted(FASHION_FILES)  # no .part left


def test_unreachable_download_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"cannot download .* put the files in"):
        load(
            "fashion_mnist",
            root=str(tmp_path / "d"),
            url=(tmp_path / "absent").as_uri() + "/",
            progress=False,
        )
    assert not any((tmp_path / "d").glob("*.part"))


def cifar_batch(n: int) -> bytes:
    batch = {
        b"data": RNG.integers(0, 256, (n, 3072)).astype(np.uint8),
        b"labels": list(RNG.integers(0, 10, n)),
    }
    return pickle.dumps(batch)


def write_cifar_tarball(path: Path, n: int = 6) -> dict[str, bytes]:
    members = {f"data_batch_{i}": cifar_batch(n) for i in range(1, 6)}
    members["test_batch"] = cifar_batch(n)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return members


def test_cifar10_reads_the_python_tarball(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    members = write_cifar_tarball(archive)
    data = load(
        "cifar10",
        root=str(tmp_path),
        download=False,
        checksums={"cifar-10-python.tar.gz": md5(archive)},
    )
    assert data.train_x.shape == (30, 3, 32, 32) and data.test_x.shape == (6, 3, 32, 32)
    first = pickle.loads(members["data_batch_1"])
    assert np.array_equal(data.train_x[0].reshape(-1), first[b"data"][0])
    assert data.train_y[0] == first[b"labels"][0]


def test_cifar10_reads_the_extracted_folder_and_checks_each_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    sums = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        (folder / name).write_bytes(cifar_batch(4))
        sums[name] = md5(folder / name)
    data = load("cifar10", root=str(tmp_path), download=False, checksums=sums)
    assert data.train_x.shape == (20, 3, 32, 32)
    (folder / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DataError, match="test_batch is corrupted"):
        load("cifar10", root=str(tmp_path), download=False, checksums=sums)


def test_cifar10_damaged_tarball_is_reported(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_tarball(archive)
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match="damaged or incomplete"):
        load(
            "cifar10",
            root=str(tmp_path),
            download=False,
            checksums={"cifar-10-python.tar.gz": md5(archive)},
        )


def test_cifar10_official_checksum_rejects_a_foreign_tarball(tmp_path):
    write_cifar_tarball(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataError, match="expected c58f30108f718f92721af3b95e74349a"):
        load("cifar10", root=str(tmp_path), download=False)


def test_digits_split_is_deterministic_and_covers_all_1797_images():
    a = load("digits")
    b = load("digits")
    assert a.train_x.shape == (1438, 1, 8, 8) and a.test_x.shape == (359, 1, 8, 8)
    assert np.array_equal(a.test_x, b.test_x) and np.array_equal(a.train_y, b.train_y)
    assert a.train_x.max() == 16


def test_synthetic_is_seeded_and_shaped():
    a = load("synthetic", shape=(3, 4, 5), classes=4, train_size=10, test_size=6, seed=3)
    b = load("synthetic", shape=(3, 4, 5), classes=4, train_size=10, test_size=6, seed=3)
    c = load("synthetic", shape=(3, 4, 5), classes=4, train_size=10, test_size=6, seed=4)
    assert a.train_x.shape == (10, 3, 4, 5) and a.classes == 4
    assert np.array_equal(a.train_x, b.train_x) and not np.array_equal(a.train_x, c.train_x)


def test_debian_directory_is_searched_after_the_root(tmp_path, monkeypatch):
    system = tmp_path / "usr-share"
    sums = fashion_files(system)
    monkeypatch.setattr("harness.data.idx.DEBIAN_DIR", system)
    data = load("fashion_mnist", root=str(tmp_path / "empty"), download=False, checksums=sums)
    assert len(data.train_y) == 20


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist_passes_the_known_checksums(monkeypatch):
    monkeypatch.setattr("harness.data.idx.DEBIAN_DIR", REAL_FASHION)
    data = load("fashion_mnist", root="/nonexistent", download=False)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert np.bincount(data.test_y).tolist() == [1000] * 10


def test_a_study_on_fashion_mnist_files_prints_no_library_warning(tmp_path):
    """torch warned "The given NumPy array is not writable" on every real Fashion-MNIST study."""
    sums = fashion_files(tmp_path / "fm", n_train=64, n_test=32)
    checksums = "{" + ",".join(f"{name}:{md5sum}" for name, md5sum in sums.items()) + "}"
    env = {**os.environ, "PYTHONWARNINGS": "default", "HYDRA_FULL_ERROR": "0"}
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "harness"),
            "dataset=fashion_mnist",
            f"dataset.root={tmp_path / 'fm'}",
            "dataset.download=false",
            f"dataset.checksums={checksums}",
            "model=dense_poly",
            "strategy=bayes",
            "study.rounds=2",
            "study.epochs=1",
            "study.repetitions=2",
            "study.progress=false",
            f"study.storage=sqlite:///{tmp_path / 'o.db'}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr, out.stderr


class _Payload:
    """A pickle that would run a command when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_cifar10_batches_are_read_without_running_what_a_pickle_names(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "ran"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(cifar_batch(4))
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": [0]}))
    # The user vouches for every file's checksum, the hostile one's too.
    sums = {p.name: md5(p) for p in folder.iterdir()}
    with pytest.raises(DataError, match="never holds"):
        load("cifar10", root=str(tmp_path), download=False, checksums=sums)
    assert not marker.exists()


def test_cifar10_checksums_given_for_some_files_keep_the_published_ones_for_the_rest(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(cifar_batch(4))
    # Only one file's checksum given: the others are checked against the published sums (and fail,
    # as these are not the published files), in one line rather than a KeyError.
    with pytest.raises(DataError, match="is corrupted"):
        load(
            "cifar10",
            root=str(tmp_path),
            download=False,
            checksums={"test_batch": md5(folder / "test_batch")},
        )
