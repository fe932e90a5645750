"""Files a reader never sees half-written: whole or not at all, even on a full disk.

A file is written beside its final name and renamed over it (rename is atomic within a directory);
a failed write removes its partial copy and leaves the previous file as it was. trials.csv grows by
whole lines: a line that does not fit is cut off again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write in place of ``path`` (same suffix, so libraries infer the format);
    it replaces ``path`` when the block succeeds and is removed when it fails."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # on disk before the rename, so a crash leaves old or new
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def append_whole(path: Path, text: str) -> None:
    """Append ``text`` (whole lines) and flush it to disk; on failure the file is as it was."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        data = text.encode()
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "No space left on device", str(path))  # a short write: the disk filled
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
