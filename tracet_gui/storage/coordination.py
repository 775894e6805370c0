"""Coordination between processes sharing one database: the single-engine lock and change notifications.

A shared deployment runs one ``tracet-gui headless`` engine (the only process that ingests, decides and
executes operator actions) and any number of viewer consoles against the same database.

* :class:`EngineLock` makes "only one engine per database" a fact rather than a convention. On PostgreSQL it
  is a session-level advisory lock (``pg_try_advisory_lock``) held by a dedicated connection for as long as
  the engine runs; the server releases it when that connection ends, so a crashed engine never leaves a stale
  lock. On SQLite it is an exclusive ``flock`` on ``<database file>.engine-lock``, released by the kernel when
  the process ends. A second engine gets :class:`EngineLockHeldError` naming the holder (host, pid, since when).
* :func:`notify_change` sends a PostgreSQL ``NOTIFY`` inside the writer's transaction, so listeners hear of
  a change only once it is committed (and never of a rolled-back one). On SQLite it does nothing: consoles
  there refresh on their own timer.
* :class:`ChangeListener` is a thread that ``LISTEN``\\ s on a dedicated connection and hands batches of
  notices to a callback (coalesced over :data:`LISTEN_BATCH_WINDOW_S`, duplicates dropped), reconnecting
  after a lost connection. A notice is only a hint to re-read: after every (re)connection ``on_connected`` is
  called so the consumer refreshes everything it shows, because notices sent while disconnected are lost.
* :func:`hold_migration_lock` serialises schema migrations of processes starting at the same moment.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import Connection, Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

ENGINE_LOCK_KEY: Final = int.from_bytes(b"tracetEN", "big")
"""PostgreSQL advisory-lock key (a signed 64-bit int) held by the one running engine."""

MIGRATION_LOCK_KEY: Final = int.from_bytes(b"tracetMG", "big")
"""PostgreSQL advisory-lock key held (per transaction) while the schema is migrated."""

CHANGES_CHANNEL: Final = "tracet_changes"
"""The NOTIFY channel for stored changes; payloads are ``"<kind>:<id>"`` (``event:12``, ``decision:4``)."""

NOTIFY_PAYLOAD_MAX_BYTES: Final = 7999
"""Largest NOTIFY payload PostgreSQL accepts (its limit is 8000 bytes, less than that)."""

LISTEN_BATCH_WINDOW_S: Final = 0.25
"""How long the listener gathers notices before one callback (s): latency bound and storm damper."""

LISTEN_HEALTH_CHECK_S: Final = 30.0
"""How often an idle listener checks its connection is alive (s); a dead one is reconnected."""

LISTEN_RECONNECT_DELAY_S: Final = 2.0
"""Wait between reconnection attempts of the listener (s)."""

SQLITE_LOCK_SUFFIX: Final = ".engine-lock"
"""Suffix of the lock file next to a SQLite database file."""

_CHANNEL_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_APPLICATION_NAME_MAX = 63


class EngineLockHeldError(RuntimeError):
    """Another engine already runs against this database; ``holder`` describes it (or is None if unknown)."""

    def __init__(self, database: str, holder: str | None) -> None:
        self.database = database
        self.holder = holder
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"another tracet-gui engine is already running against {database}{who}. Only one engine may ingest "
            "and decide per database: stop that one first, or open this console as a viewer."
        )


def _describe_self(started_utc: datetime) -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}, since {started_utc:%Y-%m-%d %H:%M:%S} UTC"


class EngineLock:
    """The one-engine-per-database lock. Use as a context manager or call :meth:`acquire`/:meth:`release`."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"no engine lock for {engine.dialect.name} databases (PostgreSQL or SQLite only)")
        self._engine = engine
        self._connection: Connection | None = None
        self._file: IO[str] | None = None
        self._acquired = False

    @property
    def database(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def acquired(self) -> bool:
        return self._acquired

    def acquire(self) -> None:
        """Take the lock or raise :class:`EngineLockHeldError` at once (never waits)."""
        if not self.try_acquire():
            raise EngineLockHeldError(self.database, self.holder())

    def try_acquire(self) -> bool:
        """Take the lock if free; False if another engine holds it."""
        if self._acquired:
            return True
        started = datetime.now(UTC)
        if self._engine.dialect.name == "postgresql":
            self._acquired = self._try_pg(started)
        else:
            self._acquired = self._try_sqlite(started)
        return self._acquired

    def _try_pg(self, started: datetime) -> bool:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.detach()  # never returned to the pool: closing it really ends the session (and the lock)
        try:
            name = f"tracet-gui engine {_describe_self(started)}"[:_APPLICATION_NAME_MAX]
            connection.execute(select(func.set_config("application_name", name, False)))
            got = bool(connection.scalar(select(func.pg_try_advisory_lock(ENGINE_LOCK_KEY))))
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _lock_path(self) -> Path | None:
        database = self._engine.url.database
        if not database or database == ":memory:":
            return None  # an in-memory database belongs to this process alone
        return Path(database).expanduser().resolve().with_name(Path(database).name + SQLITE_LOCK_SUFFIX)

    def _try_sqlite(self, started: datetime) -> bool:
        path = self._lock_path()
        if path is None:
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 – held open for the engine's lifetime
        if not _lock_file(handle):
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{_describe_self(started)}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str | None:
        """Who holds the lock now (host, pid and start time where known), or None if nobody or unknown."""
        if self._engine.dialect.name == "postgresql":
            return self._pg_holder()
        path = self._lock_path()
        if path is None or not path.is_file():
            return None
        return path.read_text(encoding="utf-8").strip() or None

    def _pg_holder(self) -> str | None:
        query = text(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
        )
        with self._engine.connect() as connection:
            row = connection.execute(query, {"key": ENGINE_LOCK_KEY}).first()
        if row is None:
            return None
        pid, application, client, since = row
        where = f"from {client}" if client else "via a local socket"
        return (
            f"{application or 'unnamed client'}; server backend {pid} {where}, "
            f"connected since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        )

    def still_held(self) -> bool:
        """True while this engine still holds the lock (a PostgreSQL lock dies with its connection)."""
        if not self._acquired:
            return False
        if self._connection is None:
            return True  # SQLite: the kernel keeps the flock until we close the file or exit
        try:
            held = self._connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objsubid = 1 "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": ENGINE_LOCK_KEY},
            )
        except Exception:  # the connection is gone, and with it the lock
            log.warning("engine lock connection lost", exc_info=True)
            return False
        return bool(held)

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._connection is not None:
            try:
                self._connection.scalar(select(func.pg_advisory_unlock(ENGINE_LOCK_KEY)))
            except Exception:
                log.debug("advisory unlock failed; closing the connection releases it", exc_info=True)
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()
            _unlock_file(self._file)
            self._file.close()
            self._file = None
        self._acquired = False

    def __enter__(self) -> EngineLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock_file(handle: IO[str]) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_file(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_file(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def hold_migration_lock(connection: Connection) -> None:
    """Serialise migrations: on PostgreSQL wait for a transaction-level advisory lock (released at commit).

    Call it inside the migration transaction, before ``alembic upgrade``; two processes starting together on
    an empty database then migrate one after the other instead of both creating the same tables.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))


# ------------------------------------------------------------------------------------------------ notify


def supports_notify(engine: Engine) -> bool:
    """Whether live change notifications exist for this database (PostgreSQL with psycopg 3)."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


def _check_channel(channel: str) -> None:
    if not _CHANNEL_RE.match(channel):
        raise ValueError(f"notify channel {channel!r} must be a lower-case SQL identifier")


def notify_change(session: Session, channel: str, payload: str = "") -> None:
    """Tell listeners on ``channel`` about a change, delivered when ``session`` commits; no-op on SQLite.

    PostgreSQL folds identical (channel, payload) notices of one transaction into one.
    """
    _check_channel(channel)
    if len(payload.encode("utf-8")) > NOTIFY_PAYLOAD_MAX_BYTES:
        raise ValueError(f"notify payload longer than {NOTIFY_PAYLOAD_MAX_BYTES} bytes")
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(select(func.pg_notify(channel, payload)))


_CHANGED_TABLES: Final = "tracet_changed_tables"
"""Key in ``Connection.info`` under which :func:`announce_commits` gathers the tables a transaction wrote."""


def announce_commits(sessions: sessionmaker[Session], channel: str = CHANGES_CHANNEL) -> None:
    """Make every commit through ``sessions`` that wrote rows send one NOTIFY naming the tables it wrote.

    The payload is the sorted, comma-separated table names (``"decision_log,event,proposal_decision"``); a
    listener re-reads what it shows from those tables. The notice is sent inside the transaction, just before
    it commits, so it is delivered only if the commit succeeds. Registered only for PostgreSQL (elsewhere there
    is nobody to tell); a transaction that only read sends nothing.

    The tables are noted where every write passes: each INSERT/UPDATE/DELETE executed on the engine's connections,
    whether the ORM's flush, ``Session.execute`` or a prepared Core statement on the session's connection (the
    packet path, see fastpath.py) sent it; a connection forgets them when its transaction commits or rolls back.
    """
    _check_channel(channel)
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("announce_commits needs a sessionmaker bound to an Engine")

    def before_execute(connection: Connection, statement: Any, *_args: Any) -> None:
        if getattr(statement, "is_dml", False):
            table = getattr(statement, "table", None)
            connection.info.setdefault(_CHANGED_TABLES, set()).add(str(getattr(table, "name", "unknown")))

    def connection_done(connection: Connection) -> None:
        if not connection.invalidated:  # a dead connection (its rollback after a lost server) has nothing to forget
            connection.info.pop(_CHANGED_TABLES, None)

    def before_commit(session: Session) -> None:
        if session.get_bind().dialect.name != "postgresql":
            return
        session.flush()  # pending objects are flushed after this hook; count them in now
        tables = session.connection().info.pop(_CHANGED_TABLES, None)
        if tables:
            payload = ",".join(sorted(tables))[:NOTIFY_PAYLOAD_MAX_BYTES]
            session.execute(select(func.pg_notify(channel, payload)))

    event.listen(sessions, "before_commit", before_commit)
    event.listen(bind, "before_execute", before_execute)
    event.listen(bind, "rollback", connection_done)
    event.listen(bind, "commit", connection_done)


def changed_tables(notices: Sequence[ChangeNotice]) -> frozenset[str]:
    """The table names a batch of :func:`announce_commits` notices speaks of."""
    return frozenset(t for n in notices for t in n.payload.split(",") if t)


@dataclass(frozen=True, slots=True)
class ChangeNotice:
    """One notification: the channel and the payload text (``"<kind>:<id>"`` on :data:`CHANGES_CHANNEL`)."""

    channel: str
    payload: str


class ChangeListener(threading.Thread):
    """LISTENs on ``channels`` on its own connection and calls ``on_changes`` with each batch of notices.

    Callbacks run in this thread: a GUI must hand them to its own thread (a queued signal). ``on_connected``
    runs after every successful (re)connection, before any notice of that connection: refresh everything then.
    """

    def __init__(
        self,
        engine: Engine,
        channels: Sequence[str],
        on_changes: Callable[[list[ChangeNotice]], None],
        *,
        on_connected: Callable[[], None] | None = None,
        batch_window_s: float = LISTEN_BATCH_WINDOW_S,
        health_check_s: float = LISTEN_HEALTH_CHECK_S,
        reconnect_delay_s: float = LISTEN_RECONNECT_DELAY_S,
    ) -> None:
        if not supports_notify(engine):
            raise ValueError(
                f"change notifications need PostgreSQL with the psycopg driver, not {engine.dialect.name}+"
                f"{engine.dialect.driver}; poll instead"
            )
        if not channels:
            raise ValueError("listen to at least one channel")
        for channel in channels:
            _check_channel(channel)
        super().__init__(name="tracet-change-listener", daemon=True)
        self._engine = engine
        self._channels = tuple(channels)
        self._on_changes = on_changes
        self._on_connected = on_connected
        self._batch_window_s = batch_window_s
        self._health_check_s = health_check_s
        self._reconnect_delay_s = reconnect_delay_s
        self._stopping = threading.Event()
        self._connection: Connection | None = None
        self.connected = threading.Event()
        """Set while listening; cleared while (re)connecting."""
        self.connections = 0
        """How many times a LISTEN connection was established (1 + the number of reconnections)."""

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to end and wait for it (at most about one batch window)."""
        self._stopping.set()
        if self.is_alive():
            self.join(timeout_s)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception:
                log.warning("change listener lost its connection; reconnecting", exc_info=True)
            finally:
                self.connected.clear()
                self._close()
            self._stopping.wait(self._reconnect_delay_s)

    def _listen(self) -> None:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.detach()  # LISTEN state must never go back to the pool
        self._connection = connection
        for channel in self._channels:
            connection.exec_driver_sql(f'LISTEN "{channel}"')
        raw: Any = connection.connection.dbapi_connection  # the psycopg.Connection itself (sync driver)
        self.connections += 1
        self.connected.set()
        if self._on_connected is not None:
            self._on_connected()
        idle_s = 0.0
        while not self._stopping.is_set():
            batch: dict[ChangeNotice, None] = {}
            for note in raw.notifies(timeout=self._batch_window_s):
                batch[ChangeNotice(note.channel, note.payload)] = None
            if batch:
                idle_s = 0.0
                self._on_changes(list(batch))
                continue
            idle_s += self._batch_window_s
            if idle_s >= self._health_check_s:
                idle_s = 0.0
                raw.execute("SELECT 1")  # raises on a dead connection, which the loop above reconnects

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the listener connection failed", exc_info=True)
