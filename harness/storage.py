"""Opening the Optuna storage behind ``study.storage``: SQLite on one machine, Optuna's journal over a
file on a shared filesystem, a database server (PostgreSQL) for clusters."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage

from harness.errors import ConfigError
from harness.workers import requeue_stale

JOURNAL_PREFIX = "journal:///"


def _local_path(url: str, prefix: str) -> Path | None:
    """The file behind a sqlite:/// or journal:/// URL (relative, or absolute after a fourth slash)."""
    if not url.startswith(prefix) or url == "sqlite:///:memory:":
        return None
    return Path(url.removeprefix(prefix))


def open_storage(
    url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None
) -> optuna.storages.BaseStorage:
    """The Optuna storage behind ``study.storage``: an RDB URL (sqlite:///file.db on one machine,
    postgresql://... for a cluster) with Optuna's heartbeat on when an interval is given, or
    journal:///file.log, Optuna's journal storage over a file, for a shared filesystem."""
    path = _local_path(url, "sqlite:///") or _local_path(url, JOURNAL_PREFIX)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"study.storage={url}: cannot create {path.parent} ({exc.strerror}); choose a writable path"
            ) from exc
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": requeue_stale,
        }
    for attempt in range(5):
        try:
            return _open(url, path, heartbeat)
        except Exception as exc:  # sqlalchemy raises many kinds; all mean the URL is unusable
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if _schema_race(message) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))  # another process was creating the schema: it is there now
                continue
            raise ConfigError(
                f"study.storage={url} cannot be opened ({message}); give an Optuna storage URL such "
                f"as sqlite:///runs/optuna.db, journal:///runs/journal.log or postgresql://host/db"
            ) from exc
    raise AssertionError("unreachable")


def _schema_race(message: str) -> bool:
    """Two processes created Optuna's tables in one new database at once; the loser's error."""
    markers = ("alembic_version", "already exists", "duplicate key value", "UNIQUE constraint failed")
    return any(marker in message for marker in markers)


def _open(url: str, path: Path | None, heartbeat: dict[str, Any]) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend

        assert path is not None
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    with warnings.catch_warnings():
        # The heartbeat is "experimental" in Optuna; it is what Optuna offers for this, and it works.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        rdb = _sqlite_storage(url, **heartbeat) if path is not None else RDBStorage(url, **heartbeat)
    return optuna.storages.get_storage(rdb)  # Optuna's cache in front, as load_study would put


def _sqlite_storage(url: str, **kwargs: Any) -> optuna.storages.RDBStorage:
    """SQLite in write-ahead-log mode with synchronous=NORMAL: a round's writes commit without an
    fsync each (about 12 ms a round less here); a killed process still loses nothing committed, and
    readers (harness-report, a second worker) never block the writer. Workers on one file wait for
    each other's writes (a 60 s busy timeout) instead of failing with "database is locked"."""
    from sqlalchemy import event

    storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}}, **kwargs)

    @event.listens_for(storage.engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    storage.engine.dispose()  # connections opened before the listener get the pragmas too
    return storage
