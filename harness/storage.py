"""Opening the Optuna storage behind ``study.storage``: SQLite on one machine, Optuna's journal over a
file on a shared filesystem, a database server (PostgreSQL) for clusters."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage

from harness.errors import ConfigError

JOURNAL_PREFIX = "journal:///"

# What closes each open storage: SQLite folds its write-ahead log back into the database file.
_closers: weakref.WeakKeyDictionary[optuna.storages.BaseStorage, Callable[[], None]] = (
    weakref.WeakKeyDictionary()
)


def _local_path(url: str, prefix: str) -> Path | None:
    """The file behind a sqlite:/// or journal:/// URL (relative, or absolute after a fourth slash)."""
    if not url.startswith(prefix):  # in-memory SQLite is refused before this
        return None
    return Path(url.removeprefix(prefix))


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.storages.BaseStorage:
    """The Optuna storage behind ``study.storage``: an RDB URL (sqlite:///file.db on one machine,
    postgresql://... for a cluster) with Optuna's heartbeat on when an interval is given (``on_stale``
    is then called for each trial it fails), or journal:///file.log, Optuna's journal storage over a
    file, for a shared filesystem. Hand it to ``optuna.load_study`` / ``create_study``."""
    if url == "sqlite://" or url.startswith(("sqlite:///:memory:", "sqlite://?")):  # SQLite in memory
        raise ConfigError(
            f"study.storage={url} keeps nothing once the process ends (a resume would find no rounds); "
            f"give a file, such as sqlite:///runs/optuna.db"
        )
    path = _local_path(url, "sqlite:///") or _local_path(url, JOURNAL_PREFIX)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"study.storage={url}: cannot create {path.parent} ({exc.strerror}); choose a writable path"
            ) from exc
        # SQLite writes its log and lock files beside the database, the journal appends to its file.
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise ConfigError(
                f"study.storage={url}: {path} is on a read-only file system or not writable; its rounds "
                f"can still be read (harness-report), and to resume copy it to a writable place and point "
                f"study.storage there"
            )
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": on_stale,
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


def close_storage(storage: optuna.storages.BaseStorage) -> None:
    """Leave the storage whole on disk: a SQLite database gets its write-ahead log folded back in, so
    the .db file alone holds every round (users copy the .db, not its -wal beside it)."""
    closer = _closers.pop(storage, None)
    if closer is not None:
        closer()


def repair_journal(path: Path) -> int:
    """Cut a torn last record (a write that failed half-way, on a full disk) from a journal file, under
    the journal's own lock; returns how many bytes were cut. Every whole record before it stays, and
    the next append starts on a fresh line instead of gluing onto the torn one."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.exists() or path.stat().st_size == 0:
        return 0
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with path.open("rb+") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                return 0
            # Find the last newline: everything after it is the torn record.
            end, block = size, 1 << 16
            while end > 0:
                start = max(0, end - block)
                fh.seek(start)
                chunk = fh.read(end - start)
                at = chunk.rfind(b"\n")
                if at >= 0:
                    keep = start + at + 1
                    break
                end = start
            else:
                keep = 0
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            return size - keep
    finally:
        lock.release()


def _schema_race(message: str) -> bool:
    """Two processes created Optuna's tables in one new database at once; the loser's error."""
    markers = ("alembic_version", "already exists", "duplicate key value", "UNIQUE constraint failed")
    return any(marker in message for marker in markers)


def _open(url: str, path: Path | None, heartbeat: dict[str, Any]) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend

        assert path is not None
        if cut := repair_journal(path):
            print(
                f"harness: {path} ended in a torn record ({cut} bytes of a write that failed, as on a "
                f"full disk); removed it, every whole record before it is kept",
                file=sys.stderr,
            )
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    with warnings.catch_warnings():
        # The heartbeat is "experimental" in Optuna; it is what Optuna offers for this, and it works.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        rdb = _sqlite_storage(url, **heartbeat) if path is not None else RDBStorage(url, **heartbeat)
    _closers[rdb] = (lambda: _checkpoint(rdb)) if path is not None else rdb.engine.dispose
    return rdb  # load_study puts Optuna's cache in front of it


def _checkpoint(rdb: RDBStorage) -> None:
    """Fold SQLite's write-ahead log into the database file, leave the file in rollback-journal mode
    (a WAL-mode file cannot be opened on a read-only medium, such as an archive's mount) and close the
    connections. While another worker still has the file open neither can finish; the last one to
    close does it. The next run switches write-ahead logging on again."""
    from sqlalchemy.exc import SQLAlchemyError

    rdb.engine.dispose()  # this process's pooled connections: the mode change needs the file alone
    with contextlib.suppress(SQLAlchemyError), rdb.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("PRAGMA journal_mode=DELETE")
    rdb.engine.dispose()


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
