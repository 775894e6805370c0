"""Engine creation and schema migration at start-up."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

#: How long a SQLite connection waits for another writer's lock before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: Environment variable overriding :data:`SQLITE_BUSY_TIMEOUT_MS` (ms; e.g. longer on a slow network disk).
SQLITE_BUSY_TIMEOUT_ENV = "TRACET_SQLITE_BUSY_TIMEOUT_MS"


def sqlite_busy_timeout_ms() -> int:
    """The busy timeout in force: :data:`SQLITE_BUSY_TIMEOUT_ENV` when set to a whole number ≥ 0, else the default."""
    text = os.environ.get(SQLITE_BUSY_TIMEOUT_ENV, "").strip()
    if text.isdigit():
        return int(text)
    return SQLITE_BUSY_TIMEOUT_MS


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge the packet, even across a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={sqlite_busy_timeout_ms()}")
    cursor.close()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    """Create an engine for any SQLAlchemy URL; SQLite gets WAL mode and foreign keys."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url not in ("sqlite://", "sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if url.startswith(("postgresql://", "postgres://")):
            # psycopg (v3, the `postgres` extra) whatever SQLAlchemy's default driver for the scheme is.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_KEPT_OPEN: dict[tuple[str, int], int] = {}
_KEPT_OPEN_LOCK = threading.Lock()


def _kept_open(path: Path) -> int:
    """A read-only descriptor of ``path`` (a ``-shm`` file), opened once per file per process and never closed.

    Closing *any* descriptor of a file drops every POSIX lock this process holds on it, SQLite's included: another
    process opening the database then takes itself for the only user, truncates the ``-shm`` file, and this
    process's SQLite dies of SIGBUS on its mapping of it (seen in tests/reliability). So the file is read through
    one descriptor that stays open; a new one only when the file was replaced (another inode).
    """
    inode = os.stat(path).st_ino  # stat opens nothing
    key = (str(path), inode)
    with _KEPT_OPEN_LOCK:
        fd = _KEPT_OPEN.get(key)
        if fd is None:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            if os.fstat(fd).st_ino != inode:  # replaced in between: use it anyway, keyed by what it is
                key = (str(path), os.fstat(fd).st_ino)
            _KEPT_OPEN[key] = fd
        return fd


class WalCheckpointer:
    """Keeps a SQLite database's write-ahead log short from a background thread.

    SQLite otherwise checkpoints inside whichever commit takes the log past 1000 pages (``wal_autocheckpoint``):
    that commit then also copies the log into the database and syncs it, several milliseconds on the path of
    whatever it was committing (a packet's inbox write before its ACK, a decision). Here a PASSIVE checkpoint
    (it never blocks a writer or a reader) runs on its own connection once ``pages`` pages wait in the log,
    checked every ``interval_s``, so the log is copied off the hot path and SQLite's own checkpoint (still
    armed, as the safety net) normally never triggers. Does nothing for other databases.

    The waiting pages are read from the wal-index header in the ``-shm`` file (``mxFrame`` − ``nBackfill``,
    SQLite's documented WAL-index layout), which costs a read of 100 bytes; if that file cannot be read, a
    checkpoint is simply attempted every interval.
    """

    def __init__(self, engine: Engine, *, pages: int = 200, interval_s: float = 0.05) -> None:
        self._engine = engine
        self._pages = pages
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._shm = Path(database + "-shm") if database and database != ":memory:" else None

    def start(self) -> None:
        if self._shm is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def waiting_pages(self) -> int | None:
        """Pages in the log not yet copied into the database (None: unknown)."""
        assert self._shm is not None
        try:
            header = os.pread(_kept_open(self._shm), 100, 0)
        except OSError:
            return None
        if len(header) < 100:
            return None
        max_frame = int.from_bytes(header[16:20], sys.byteorder)  # WalIndexHdr.mxFrame
        backfilled = int.from_bytes(header[96:100], sys.byteorder)  # WalCkptInfo.nBackfill
        return max(0, max_frame - backfilled)

    def _run(self) -> None:
        connection = None
        try:
            while not self._stop.wait(self._interval_s):
                waiting = self.waiting_pages()
                if waiting is not None and waiting < self._pages:
                    continue
                try:
                    if connection is None:
                        connection = self._engine.raw_connection()
                    cursor = connection.cursor()
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    cursor.close()
                    self.checkpoints += 1
                except Exception:
                    log.exception("WAL checkpoint failed; SQLite's own checkpoints still run")
                    if connection is not None:
                        connection.invalidate()
                        connection = None
                    self._stop.wait(1.0)
        finally:
            if connection is not None:
                connection.close()
