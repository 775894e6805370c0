"""The packet path's INSERT/UPDATE statements sent straight to SQLite's driver (``fastpath.run``) write exactly
what SQLAlchemy would, fail as SQLAlchemy would, and stay inside the session's transaction."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.ingest.test_pipeline_batches import BACKLOG, START, fill, one_by_one, processor_for
from tracet_gui.core.vocabulary import Channel
from tracet_gui.pipeline.decider import RequestJob
from tracet_gui.storage import events as event_store
from tracet_gui.storage import fastpath
from tracet_gui.storage.database import Database
from tracet_gui.storage.engine import SQLITE_BUSY_TIMEOUT_ENV
from tracet_gui.storage.errors import lost_a_race, storage_unavailable
from tracet_gui.storage.inbox import _INSERT, RawPacket
from tracet_gui.storage.schema import InboxRow

PIPELINE_TABLES = ("inbox", "event", "event_group", "proposal_decision", "decision_log", "observation")
PACKET_PATH_WRITES = (
    "INSERT INTO inbox",
    "UPDATE inbox",
    "INSERT INTO event ",
    "INSERT INTO event_group",
    "UPDATE event_group",
    "INSERT INTO proposal_decision",
    "INSERT INTO decision_log",
    "INSERT INTO observation",
)
VALUES = {
    "received_utc": datetime(2026, 1, 1, tzinfo=UTC),
    "channel": Channel.FILE,
    "peer": None,
    "topic": None,
    "ivorn": "ivo://test/direct#1",
    "sha256": "1" * 64,
    "size_bytes": 1,
    "raw": b"x",
}


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the packet path writes, as SQLite holds them (text, numbers, bytes)."""
    with sqlite3.connect(path) as connection:
        tables = {t: connection.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in PIPELINE_TABLES}
        # A failure is recorded with the wall clock (not the pipeline's): the only value two runs cannot share.
        when = [d[0] for d in connection.execute("SELECT * FROM inbox").description].index("processed_utc")
    tables["inbox"] = [
        (*r[:when], "failed at" if r[when] and "failed" in r else r[when], *r[when + 1 :]) for r in tables["inbox"]
    ]
    return tables


def run_backlog(path: Path) -> tuple[dict[str, list[tuple[Any, ...]]], list[str]]:
    """Store the test backlog (plus a duplicate), process it packet by packet with a fixed clock; the tables
    and the INSERT/UPDATE statements SQLAlchemy itself sent."""
    db = Database.open(f"sqlite:///{path}")
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(("INSERT", "UPDATE")):
            sent.append(statement)

    try:
        jobs: list[RequestJob] = []
        processor = processor_for(db, jobs)
        event.listen(db.engine, "before_cursor_execute", seen)
        fill(db, [*BACKLOG, BACKLOG[3]])  # the last one again: counted as a duplicate
        one_by_one(db, processor)
        assert jobs, "the backlog makes proposals trigger"
    finally:
        db.close()
    return dump(path), sent


def test_direct_writes_equal_sqlalchemys_row_for_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    direct, sent_by_sqlalchemy = run_backlog(tmp_path / "direct.sqlite3")
    with monkeypatch.context() as m:
        m.setattr(fastpath, "_PREPARED", {})  # nothing prepared: every statement through SQLAlchemy
        through_sqlalchemy, sent_without = run_backlog(tmp_path / "sqlalchemy.sqlite3")
    assert all(direct[t] for t in PIPELINE_TABLES), {t: len(rows) for t, rows in direct.items()}
    for table in PIPELINE_TABLES:
        assert direct[table] == through_sqlalchemy[table], table
    # Through SQLAlchemy every one of them passes its execution; the direct path sent none of them that way.
    assert all(any(s.startswith(w) for s in sent_without) for w in PACKET_PATH_WRITES), sent_without
    assert [s for s in sent_by_sqlalchemy if s.startswith(PACKET_PATH_WRITES)] == []


def test_direct_write_is_rolled_back_with_its_session(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the direct path is SQLite's")
    with db.session() as session:
        inbox_id = fastpath.run(session.connection(), _INSERT, VALUES).scalar_one()
        assert session.get_one(InboxRow, inbox_id).status == "new"  # the column default, written directly
        session.rollback()
    with db.session() as session:
        assert session.scalars(select(InboxRow)).all() == []


def test_direct_write_on_a_connection_without_a_transaction_is_committed(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the direct path is SQLite's")
    with db.engine.connect() as connection:  # no transaction yet: SQLAlchemy would begin one, so must we
        fastpath.run(connection, _INSERT, VALUES)
        connection.commit()
    with db.session() as session:
        assert [r.ivorn for r in session.scalars(select(InboxRow))] == [VALUES["ivorn"]]


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "errors.sqlite3"
    db = Database.open(f"sqlite:///{path}")
    values = VALUES
    try:
        with db.session() as session:
            fastpath.run(session.connection(), _INSERT, values)
            with pytest.raises(IntegrityError) as duplicate:  # the same IVORN again: unique
                fastpath.run(session.connection(), _INSERT, {**values, "sha256": "2" * 64})
            assert lost_a_race(duplicate.value)
            session.commit()
        # Another process holds the write lock: "locked", which the engine treats as "wait and retry".
        monkeypatch.setenv(SQLITE_BUSY_TIMEOUT_ENV, "50")
        locked_db = Database.open(f"sqlite:///{path}")
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with locked_db.session() as session, pytest.raises(OperationalError) as locked:
                fastpath.run(session.connection(), _INSERT, {**values, "ivorn": "ivo://x#2", "sha256": "3" * 64})
            assert storage_unavailable(locked.value) == "the database is locked by another process"
        finally:
            blocker.rollback()
            blocker.close()
            locked_db.close()
    finally:
        db.close()


def test_statements_sqlalchemy_must_complete_are_left_to_it() -> None:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    columns = tuple(c.key for c in event_store._EVENT_TABLE.columns if c.key != "id")
    assert fastpath._compile_direct(event_store._INSERT_EVENT, dialect, columns) is not None
    # Without "extra" SQLAlchemy computes the column's default (a function) per row: not sent directly.
    without_extra = tuple(c for c in columns if c != "extra")
    assert fastpath._compile_direct(event_store._INSERT_EVENT, dialect, without_extra) is None
    # A statement built for one call is never sent directly (its compiled form could outlive it).
    from sqlalchemy import insert

    fresh = insert(fastpath.table_of(InboxRow))
    assert fastpath._PREPARED.get(id(fresh)) is not fresh


def test_direct_reads_equal_sqlalchemys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The packet path's prepared SELECTs give the same values either way: aware UTC datetimes, booleans, text."""
    from tracet_gui.storage.inbox import _known_rows, _pending, unprocessed_before
    from tracet_gui.storage.proposals import ActiveProposals
    from tracet_gui.storage.schema import EventGroupRow

    path = tmp_path / "reads.sqlite3"
    run_backlog(path)
    db = Database.open(f"sqlite:///{path}")
    try:

        def reads() -> list[Any]:
            with db.session() as session:
                trig_ids = session.scalars(select(EventGroupRow.trig_id).order_by(EventGroupRow.id)).all()
                inbox = session.scalars(select(InboxRow).order_by(InboxRow.id)).all()
                known = [
                    _known_rows(session, [_pending(RawPacket(r.raw, Channel.FILE, r.ivorn, None, None, START), START)])
                    for r in inbox
                ]
                return [
                    [event_store.load_group(session, t) for t in [*trig_ids, "no such trigger"]],
                    [(p.pk, p.version, p.settings) for p in ActiveProposals()(session)],
                    known,
                    [unprocessed_before(session, r.id) for r in inbox],
                ]

        direct = reads()
        with monkeypatch.context() as m:
            m.setattr(fastpath, "_PREPARED", {})
            through_sqlalchemy = reads()
    finally:
        db.close()
    groups = direct[0]
    assert groups[-1] is None and all(g is not None for g in groups[:-1])
    assert all(g.state.first_received_utc.tzinfo is UTC and isinstance(g.state.ignored, bool) for g in groups[:-1])
    assert direct == through_sqlalchemy
