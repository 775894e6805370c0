"""One engine per database, and live change notices, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from tracet_gui.core.vocabulary import Channel
from tracet_gui.storage.coordination import (
    CHANGES_CHANNEL,
    LISTEN_BATCH_WINDOW_S,
    MIGRATION_LOCK_KEY,
    ChangeListener,
    ChangeNotice,
    EngineLock,
    EngineLockHeldError,
    changed_tables,
    hold_migration_lock,
    notify_change,
    supports_notify,
)
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.schema import EventGroupRow, EventRow, InboxRow, OperatorActionRow

LOCK_RELEASE_WAIT_S = 30.0
"""Upper bound on waiting for a killed holder's lock to be freed (a bound, not an assertion)."""

NOTICE_WAIT_S = 15.0
"""Upper bound on waiting for one expected notice."""

HOLDER_SCRIPT = """
import sys
from tracet_gui.storage.coordination import EngineLock
from tracet_gui.storage.engine import make_engine
lock = EngineLock(make_engine(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def other_db(any_db_url: str) -> Iterator[Database]:
    """A second handle on the same database, as a second process would have."""
    database = Database.open(any_db_url, migrate=False)
    yield database
    database.close()


def test_second_engine_is_refused_naming_the_first(any_db: Database, other_db: Database) -> None:
    first = EngineLock(any_db.engine)
    first.acquire()
    assert first.acquired and first.still_held()
    second = EngineLock(other_db.engine)
    with pytest.raises(EngineLockHeldError) as refused:
        second.acquire()
    message = str(refused.value)
    assert "another tracet-gui engine is already running" in message
    assert f"pid {os.getpid()}" in message
    assert refused.value.holder is not None
    assert not second.acquired
    first.release()
    assert not first.still_held()
    with second:
        assert second.acquired
        assert not EngineLock(any_db.engine).try_acquire()
    assert EngineLock(any_db.engine).try_acquire() is True


def test_a_killed_engine_leaves_no_stale_lock(any_db: Database, any_db_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, any_db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        lock = EngineLock(any_db.engine)
        with pytest.raises(EngineLockHeldError, match=f"pid {holder.pid}"):
            lock.acquire()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + LOCK_RELEASE_WAIT_S
    while not lock.try_acquire() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.acquired
    lock.release()


def test_in_memory_sqlite_needs_no_lock_file(tmp_path: Path) -> None:
    database = Database.open("sqlite://")
    try:
        with EngineLock(database.engine) as lock:
            assert lock.acquired and lock.holder() is None
    finally:
        database.close()


def test_sqlite_lock_file_names_the_holder_and_is_emptied_on_release(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    lock_file = tmp_path / "x.sqlite3.engine-lock"
    try:
        with EngineLock(database.engine) as lock:
            assert f"pid {os.getpid()}" in lock_file.read_text(encoding="utf-8")
            assert lock.holder() == lock_file.read_text(encoding="utf-8").strip()
        assert lock_file.read_text(encoding="utf-8") == ""
        assert EngineLock(database.engine).holder() is None
    finally:
        database.close()


@pytest.mark.postgres
def test_pg_lock_is_lost_with_its_connection(pg_url: str) -> None:
    database = Database.open(pg_url)
    try:
        lock = EngineLock(database.engine)
        lock.acquire()
        with database.engine.connect() as conn:
            backend = conn.scalar(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'tracet-gui engine%' "
                    "AND datname = current_database()"
                )
            )
            assert conn.scalar(select(func.pg_terminate_backend(backend))) is True
        assert lock.still_held() is False
        assert EngineLock(database.engine).try_acquire() is True
        lock.release()  # idempotent on a dead connection
    finally:
        database.close()


@pytest.mark.postgres
def test_pg_migration_lock_serialises_migrations(pg_url: str) -> None:
    database = Database.open(pg_url)
    try:
        with database.engine.connect() as first, database.engine.connect() as second:
            with first.begin():
                hold_migration_lock(first)
                assert second.scalar(select(func.pg_try_advisory_xact_lock(MIGRATION_LOCK_KEY))) is False
                second.rollback()
            assert second.scalar(select(func.pg_try_advisory_xact_lock(MIGRATION_LOCK_KEY))) is True
            second.rollback()
    finally:
        database.close()


# ---------------------------------------------------------------------------------------------- notify


@pytest.mark.sqlite_only
def test_sqlite_has_no_notifications_but_writes_still_commit(db: Database) -> None:
    assert not supports_notify(db.engine)
    with db.session() as session:
        notify_change(session, CHANGES_CHANNEL, "event:1")
        session.add(
            InboxRow(
                received_utc=datetime.now(UTC),
                channel=Channel.FILE.value,
                sha256="0" * 64,
                size_bytes=1,
                raw=b"x",
                status="new",
                duplicate_count=0,
            )
        )
        session.commit()
    with db.session() as session:
        assert session.scalar(select(func.count(InboxRow.id))) == 1
    with pytest.raises(ValueError, match="PostgreSQL"):
        ChangeListener(db.engine, [CHANGES_CHANNEL], lambda batch: None)


@pytest.mark.parametrize(
    ("channel", "payload"),
    [("Bad-Channel", "x"), ("1abc", "x"), ("drop table;", "x"), (CHANGES_CHANNEL, "x" * 8000)],
)
def test_bad_channels_and_oversized_payloads_are_refused(any_db: Database, channel: str, payload: str) -> None:
    with any_db.session() as session, pytest.raises(ValueError):
        notify_change(session, channel, payload)


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    database = Database.open(pg_url)
    yield database
    database.close()


@pytest.fixture
def listening(pg_db: Database) -> Iterator[tuple[ChangeListener, queue.Queue[object]]]:
    received: queue.Queue[object] = queue.Queue()
    listener = ChangeListener(
        pg_db.engine,
        [CHANGES_CHANNEL, "tracet_other"],
        received.put,
        on_connected=lambda: received.put("connected"),
        reconnect_delay_s=0.1,
    )
    listener.start()
    assert received.get(timeout=NOTICE_WAIT_S) == "connected"
    yield listener, received
    listener.stop()
    assert not listener.is_alive()


@pytest.mark.postgres
def test_committed_changes_reach_listeners_and_rolled_back_ones_do_not(
    pg_db: Database, listening: tuple[ChangeListener, queue.Queue[object]]
) -> None:
    _listener, received = listening
    with pg_db.session() as session:
        notify_change(session, CHANGES_CHANNEL, "event:99")
        session.rollback()
    with pg_db.session() as session:
        stored = store_raw_packet(pg_db.sessions, b"<a/>", Channel.FILE, ivorn=None)
        for _ in range(3):  # folded into one notice by PostgreSQL
            notify_change(session, CHANGES_CHANNEL, f"inbox:{stored.inbox_id}")
        notify_change(session, "tracet_other", "ping")
        session.commit()
    notices: list[ChangeNotice] = []
    while len(notices) < 3:
        batch = received.get(timeout=NOTICE_WAIT_S)
        assert isinstance(batch, list)
        notices.extend(batch)
    assert notices == [
        ChangeNotice(CHANGES_CHANNEL, "inbox"),  # store_raw_packet's own commit announces itself
        ChangeNotice(CHANGES_CHANNEL, f"inbox:{stored.inbox_id}"),
        ChangeNotice("tracet_other", "ping"),
    ]
    assert received.empty()


@pytest.mark.postgres
def test_every_writing_commit_names_its_tables_and_nothing_else_is_announced(
    pg_db: Database, listening: tuple[ChangeListener, queue.Queue[object]]
) -> None:
    _listener, received = listening
    with pg_db.session() as session:  # read only: nothing to announce
        session.scalars(select(InboxRow)).all()
        session.commit()
    with pg_db.session() as session:  # written, then rolled back: never announced
        session.add(
            InboxRow(sha256="0" * 64, raw=b"<x/>", size_bytes=4, channel="file", received_utc=datetime.now(UTC))
        )
        session.flush()
        session.rollback()
    with pg_db.session() as session:  # ORM objects and a bulk UPDATE in one transaction: one notice
        row = InboxRow(sha256="1" * 64, raw=b"<y/>", size_bytes=4, channel="file", received_utc=datetime.now(UTC))
        session.add(row)
        session.flush()
        session.execute(update(OperatorActionRow).where(OperatorActionRow.id < 0).values(comment="x"))
        session.commit()
    assert received.get(timeout=NOTICE_WAIT_S) == [ChangeNotice(CHANGES_CHANNEL, "inbox,operator_action")]
    assert changed_tables([ChangeNotice(CHANGES_CHANNEL, "inbox,operator_action")]) == {"inbox", "operator_action"}
    with pg_db.session() as session:  # Core statements on the session's connection (the hot paths) count too
        session.connection().execute(update(EventGroupRow).where(EventGroupRow.id < 0).values(event_count=0))
        session.commit()
    with pg_db.session() as session:  # ... but not when rolled back
        session.connection().execute(update(EventRow).where(EventRow.id < 0).values(ignored=True))
        session.rollback()
    with pg_db.session() as session:
        session.scalars(select(InboxRow)).all()
        session.commit()
    assert received.get(timeout=NOTICE_WAIT_S) == [ChangeNotice(CHANGES_CHANNEL, "event_group")]
    time.sleep(2 * LISTEN_BATCH_WINDOW_S)
    assert received.empty()


@pytest.mark.postgres
def test_listener_reconnects_and_asks_for_a_full_refresh(
    pg_db: Database, listening: tuple[ChangeListener, queue.Queue[object]]
) -> None:
    listener, received = listening
    with pg_db.engine.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        ).all()
        assert len(pids) == 1
        conn.execute(select(func.pg_terminate_backend(pids[0])))
    assert received.get(timeout=NOTICE_WAIT_S) == "connected"
    assert listener.connections == 2
    with pg_db.session() as session:
        notify_change(session, CHANGES_CHANNEL, "group:7")
        session.commit()
    assert received.get(timeout=NOTICE_WAIT_S) == [ChangeNotice(CHANGES_CHANNEL, "group:7")]
