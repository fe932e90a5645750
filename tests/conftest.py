from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.__main__ import CONF_DIR
from harness.config import Config, from_container

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# Small enough that a round takes milliseconds on a CPU.
TINY = [
    "dataset=synthetic",
    "dataset.train_size=128",
    "dataset.test_size=64",
    "study.epochs=1",
    "study.repetitions=1",
    "study.batch_size=32",
    "study.progress=false",
    "study.threads=1",
]


def compose_config(tmp_path: Path, *overrides: str, tiny: bool = True) -> Config:
    """The real composed configuration, shrunk, with its storage under tmp_path."""
    args = [*(TINY if tiny else []), f"study.storage=sqlite:///{tmp_path}/optuna.db", *overrides]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=args)
    return from_container(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


@pytest.fixture
def make_config(tmp_path: Path):
    return lambda *overrides, **kw: compose_config(tmp_path, *overrides, **kw)


def run_cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run a console script of this venv the way a user does."""
    exe = Path(sys.executable).parent / args[0]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [str(exe), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@contextlib.contextmanager
def tmpfs(mount: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``mount`` (mounting needs root: the test skips elsewhere)."""
    mount.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
