"""Locating, verifying and downloading distribution files."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import DataError


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def with_checksums(
    published: Mapping[str, Sequence[str]], given: Mapping[str, Sequence[str]] | None
) -> Mapping[str, Sequence[str]]:
    """The accepted md5 sums per file: those given replace a file's published ones, the other files
    keep theirs."""
    return {**published, **dict(given)} if given is not None else published


def verify(path: Path, accepted: Sequence[str]) -> None:
    """Raise DataError unless the file's md5 is one of ``accepted``."""
    actual = md5sum(path)
    if actual not in accepted:
        raise DataError(
            f"{path} is corrupted (md5 {actual}, expected {accepted[0]}); delete it and download it again"
        )


def find(names: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    """The first directory that holds every one of ``names``."""
    for directory in dirs:
        if all((directory / n).is_file() for n in names):
            return directory
    return None


def download(url: str, dest: Path, *, progress: bool = True, timeout_s: float = 30.0) -> None:
    """Fetch ``url`` into ``dest`` through a .part file, so a broken transfer leaves nothing."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, part.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=dest.name,
                disable=not progress,
                file=sys.stderr,
                leave=False,
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def ensure(
    names: Sequence[str],
    checksums: Mapping[str, Sequence[str]],
    *,
    root: Path,
    extra_dirs: Sequence[Path] = (),
    url: str | None,
    allow_download: bool,
    what: str,
    progress: bool = True,
) -> Path:
    """Return a directory holding verified copies of ``names``, downloading into ``root`` if needed."""
    found = find(names, [root, *extra_dirs])
    if found is None and allow_download and url:
        missing = [n for n in names if not (root / n).is_file()]
        try:
            for name in missing:
                download(url.rstrip("/") + "/" + name, root / name, progress=progress)
            found = root
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"{what}: cannot download {', '.join(missing)} ({reason}); put the files in "
                f"{root}/ (or set dataset.root) and run again"
            ) from exc
    if found is None:
        where = " or ".join(str(d) for d in [root, *extra_dirs])
        raise DataError(
            f"{what}: missing {', '.join(n for n in names if not (root / n).is_file())}; "
            f"put them in {where} (or set dataset.root), or allow dataset.download=true online"
        )
    for name in names:
        verify(found / name, checksums[name])
    return found
