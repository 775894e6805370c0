"""A packet that arrives alone at an idle engine is stored and processed in one transaction; anything else (a
backlog, an unreadable packet, a duplicate) takes the usual path and ends the same way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.ingest.conftest import wait_for
from tracet_gui.app import ensure_default_proposals
from tracet_gui.config import Settings
from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.ingest.engine import Engine
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.pipeline.processor import ProcessedPacket
from tracet_gui.storage import inbox as inbox_module
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.schema import EventRow, InboxRow

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def engine(db: Database) -> Iterator[tuple[Engine, list[ProcessedPacket]]]:
    ensure_default_proposals(db, "test")
    results: list[ProcessedPacket] = []  # packets' results (telescope reports' are left out)

    def on_result(result: ProcessedPacket) -> None:
        if result.inbox_id is not None:
            results.append(result)

    built = Engine(replace(Settings(db_url="unused"), remotes=()), db, on_result=on_result)
    built.start()
    wait_for(lambda: built.runner.passes >= 1, 10, "the pipeline's first pass (the start-up scan)")
    try:
        yield built, results
    finally:
        built.stop()


def inbox(db: Database) -> list[tuple[int, str, str | None]]:
    with db.session() as s:
        return [(r.id, r.status, r.ivorn) for r in s.execute(select(InboxRow).order_by(InboxRow.id)).scalars()]


def events(db: Database) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(EventRow.inbox_id).order_by(EventRow.inbox_id)))


def test_a_packet_alone_is_decided_when_its_store_returns(
    db: Database, engine: tuple[Engine, list[ProcessedPacket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    built, results = engine
    notified: list[Any] = []
    notify = built.runner.notify
    monkeypatch.setattr(built.runner, "notify", lambda *a: (notified.append(a), notify(*a)))
    stored = built.submit_bytes((DATA / "SWIFT00.xml").read_bytes(), Channel.FILE, "test")
    # Already processed, in the same commit as the raw packet: no hand-over to the pipeline thread.
    assert inbox(db) == [(stored.inbox_id, "processed", peek_ivorn((DATA / "SWIFT00.xml").read_bytes()))]
    assert events(db) == [stored.inbox_id]
    assert [r.inbox_id for r in results] == [stored.inbox_id] and results[0].decision_changes
    assert notified == []
    again = built.submit_bytes((DATA / "SWIFT00.xml").read_bytes(), Channel.FILE, "test")
    assert again.duplicate and again.inbox_id == stored.inbox_id
    assert events(db) == [stored.inbox_id] and len(results) == 1
    with db.session() as s:
        assert s.scalar(select(InboxRow.duplicate_count)) == 1


def test_with_older_rows_waiting_it_is_only_stored_and_all_are_processed_in_arrival_order(
    db: Database, engine: tuple[Engine, list[ProcessedPacket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    built, results = engine
    # A row committed by another process, not yet seen by the pipeline (its idle scan comes within a second).
    older = store_raw_packet(db.sessions, (DATA / "Fermi00.xml").read_bytes(), Channel.FILE, ivorn=None).inbox_id
    notified: list[Any] = []
    notify = built.runner.notify
    monkeypatch.setattr(built.runner, "notify", lambda *a: (notified.append(a), notify(*a)))
    newer = built.submit_bytes((DATA / "SWIFT00.xml").read_bytes(), Channel.FILE, "test").inbox_id
    assert notified, "stored only: the pipeline is woken to process both"
    wait_for(lambda: len(results) >= 2, 10, "both processed")
    assert [r.inbox_id for r in results] == [older, newer]
    assert [status for _id, status, _ivorn in inbox(db)] == ["processed", "processed"]
    assert events(db) == [older, newer]


def test_an_unreadable_packet_is_stored_then_failed_by_the_pipeline(
    db: Database, engine: tuple[Engine, list[ProcessedPacket]]
) -> None:
    built, results = engine
    stored = built.submit_bytes(b"<VOEvent not even XML", Channel.FILE, "test")
    wait_for(lambda: bool(results), 10, "the pipeline's verdict")
    assert results[0].inbox_id == stored.inbox_id and results[0].status is InboxStatus.FAILED
    assert inbox(db)[0][1] == "failed" and events(db) == []


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("broken after the insert"),
        IntegrityError("INSERT INTO inbox", {}, Exception("UNIQUE constraint failed: inbox.sha256")),  # a race
    ],
)
def test_a_failure_inside_the_transaction_leaves_nothing_and_the_usual_path_stores_it(
    db: Database, engine: tuple[Engine, list[ProcessedPacket]], monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    built, results = engine
    calls = {"n": 0}
    real = inbox_module.store_in_transaction

    def failing(session: Any, packet: Any) -> Any:
        calls["n"] += 1
        real(session, packet)  # written, then the transaction fails: all of it must be rolled back
        raise error

    from tracet_gui.pipeline import processor as processor_module

    monkeypatch.setattr(processor_module, "store_in_transaction", failing)
    stored = built.submit_bytes((DATA / "SWIFT01.xml").read_bytes(), Channel.FILE, "test")
    assert calls["n"] == 1
    wait_for(lambda: bool(results), 10, "processed by the pipeline")
    assert [(r.inbox_id, r.status) for r in results] == [(stored.inbox_id, InboxStatus.PROCESSED)]
    rows = inbox(db)
    assert len(rows) == 1 and rows[0][:2] == (stored.inbox_id, "processed")
    assert events(db) == [stored.inbox_id]


def test_a_stopped_runner_only_stores(db: Database) -> None:
    ensure_default_proposals(db, "test")
    built = Engine(replace(Settings(db_url="unused"), remotes=()), db)
    built.start()
    built.runner.stop()
    stored = built.submit_bytes((DATA / "SWIFT00.xml").read_bytes(), Channel.FILE, "test")
    assert inbox(db) == [(stored.inbox_id, "new", peek_ivorn((DATA / "SWIFT00.xml").read_bytes()))]
    assert datetime.now(UTC)  # stored durably, processed at the next start (covered by the pipeline tests)


def test_with_telescope_answers_or_a_storage_problem_pending_the_pipeline_decides_it(
    db: Database, engine: tuple[Engine, list[ProcessedPacket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers not yet recorded (or the database just failed) go first: the packet is only stored, and the
    pipeline decides it after them."""
    built, results = engine
    monkeypatch.setattr(built.runner, "_storage_problem", "the database is locked by another process")
    stored = built.submit_bytes((DATA / "SWIFT00.xml").read_bytes(), Channel.FILE, "test")
    wait_for(lambda: bool(results), 10, "decided by the pipeline")
    assert results[0].inbox_id == stored.inbox_id
    assert built.runner._storage_problem is None  # the pass that decided it found the database writable


def test_stop_waits_for_a_packet_in_hand_before_saying_it_stops(db: Database) -> None:
    """A one-transaction packet in hand (the runner's lock held) may still hand a telescope job to the workers:
    stop() raises its flag only once it is done, so the job is seen and waited for."""
    import threading

    ensure_default_proposals(db, "test")
    built = Engine(replace(Settings(db_url="unused"), remotes=()), db)
    built.start()
    wait_for(lambda: built.runner.passes >= 1, 10, "the first pass")
    in_hand = threading.Event()
    release = threading.Event()

    def packet_in_hand() -> None:
        with built.runner._working:
            in_hand.set()
            release.wait(10)

    holder = threading.Thread(target=packet_in_hand)
    holder.start()
    assert in_hand.wait(5)
    stopper = threading.Thread(target=built.stop)
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive() and built.runner._stopping is False  # waits for the packet in hand
    release.set()
    holder.join(5)
    stopper.join(30)
    assert not stopper.is_alive() and built.runner._stopping is True
