from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def copy_project(dest: Path) -> Path:
    """The project's tracked files as a fresh clone has them (the committed studies left out), with
    the set-up .venv beside them. Run its commands with ``clone_env(dest)``: the copy's own package is
    imported, not the checkout's that the .venv's editable install points at."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file() and not name.startswith("studies/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def clone_env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root)}


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


# --------------------------------------------------------------------------------------------------
# PostgreSQL: one real server per test session in a temporary directory, where Debian's postgresql
# package is installed (make postgres); each test gets a database of its own on it.


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL is not installed (make postgres installs Debian's package)")
    pytest.importorskip("psycopg2", reason="psycopg2 is missing: pip install -e '.[postgres]'")
    # Not under pytest's tmp_path: as root, the server runs as the postgres user, who cannot enter it.
    home = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    data = home / "pgdata"
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the package's user
        shutil.chown(home, "postgres")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*as_user, str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    start = [*as_user, str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(home / "pg.log"), "-o", options]
    subprocess.run([*start, "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_user, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgres(postgres_server: str) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    import uuid

    import psycopg2

    name = f"t_{uuid.uuid4().hex[:12]}"
    server = postgres_server.replace("postgresql+psycopg2://", "postgresql://")
    conn = psycopg2.connect(f"{server}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return f"{postgres_server}/{name}"


# The local SLURM cluster of this session, started before the first test when SLURM tests are
# selected: {"conf": its slurm.conf} or {"error": why it could not start}, and "time_limit", the
# time-limit scenario's sweep (SLURM's shortest time limit is a minute: it runs beside the suite).
SLURM: dict[str, Any] = {}


@pytest.fixture(scope="session", autouse=True)
def _slurm_started_early(request, tmp_path_factory) -> Iterator[None]:
    from tests import slurm_cluster

    selected = [i.nodeid for i in request.session.items if "test_slurm.py::" in i.nodeid]
    if not selected or slurm_cluster.missing():
        yield
        return
    root = Path(tempfile.mkdtemp(prefix="harness-slurm-"))
    try:
        SLURM["conf"] = slurm_cluster.start(root)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # the SLURM tests skip, saying why
        SLURM["error"] = f"the local SLURM cluster did not start: {exc}"
    if "conf" in SLURM and any("time_limit" in nodeid for nodeid in selected):
        from tests.test_slurm import start_time_limit

        SLURM["time_limit"] = start_time_limit(SLURM["conf"], tmp_path_factory.mktemp("slurm-time-limit"))
    try:
        yield
    finally:
        if "time_limit" in SLURM and SLURM["time_limit"][0].poll() is None:
            SLURM["time_limit"][0].kill()
        slurm_cluster.stop(root)


@pytest.fixture(scope="session")
def slurm() -> Path:
    """The session's one-node SLURM cluster with accounting (tests/slurm_cluster.py): the path of its
    slurm.conf. Skips with the reason where it cannot run (make slurm installs it)."""
    from tests import slurm_cluster

    why = slurm_cluster.missing() or SLURM.get("error", "")
    if why or "conf" not in SLURM:
        pytest.skip(why or "the local SLURM cluster was not started for this session")
    return Path(SLURM["conf"])
