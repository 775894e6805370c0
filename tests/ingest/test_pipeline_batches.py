"""A backlog processed in batches (``PacketProcessor.process_many``): same outcome as one packet at a time, one bad
packet fails only itself, a telescope request never waits for later packets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tracet_gui.app import ensure_default_proposals, make_processor
from tracet_gui.config import Settings
from tracet_gui.core.clock import FixedClock
from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.pipeline import processor as processor_module
from tracet_gui.pipeline.decider import RequestJob
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.pipeline.processor import PacketProcessor, ProcessedPacket
from tracet_gui.storage import events as event_store
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet, unprocessed_inbox_items
from tracet_gui.storage.schema import EventGroupRow, EventRow, InboxRow, ProposalDecisionRow, ProposalRow

DATA = Path(__file__).resolve().parents[1] / "data"
START = datetime(2023, 5, 18, 13, 0, tzinfo=UTC)
# Real packets in an order that puts several of one trigger together (grouping inside one batch), malformed
# input in the middle, and packets that make proposals trigger (the batch ends there).
BACKLOG: list[str | bytes] = [
    "group_01_01_Fermi.xml",
    "group_01_02_Fermi.xml",
    "group_01_03_SWIFT.xml",
    "group_02_SWIFT_01_BAT_GRB_Pos.xml",
    "group_02_SWIFT_02_XRT_Pos.xml",
    b"not XML at all",
    "group_02_SWIFT_03_UVOT_Pos.xml",
    "Fermi_532614103_1.xml",
    "Fermi_532614103_2.xml",
    "Fermi_532614103_3.xml",
    "SWIFT00.xml",
    "SWIFT01.xml",
    "SWIFT02.xml",
    "SWIFT03.xml",
    "SWIFT04.xml",
    "LVC_real_early_warning.xml",
    "LVC_real_preliminary.xml",
    "LVC_real_initial.xml",
    "IceCube_134191_017593623_0.xml",
    "IceCube_134191_017593623_1.xml",
    "Antares_1438351269.xml",
    "HD_8537_FLARE_STAR_TEST.xml",
    "SWIFT_short.xml",
    "SWIFT_short_ra185.xml",
]


def raw_of(item: str | bytes) -> bytes:
    return item if isinstance(item, bytes) else (DATA / item).read_bytes()


def fill(db: Database, items: list[str | bytes]) -> None:
    for n, item in enumerate(items):
        raw = raw_of(item)
        store_raw_packet(
            db.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw), received_utc=START + timedelta(seconds=n)
        )


def processor_for(db: Database, jobs: list[RequestJob] | None = None) -> PacketProcessor:
    ensure_default_proposals(db, "test")
    processor, _inline = make_processor(db, Settings(db_url="unused"), clock=FixedClock(START))
    if jobs is not None:
        processor.job_runner = jobs.append  # requests noted, not sent
    return processor


def one_by_one(db: Database, processor: PacketProcessor) -> list[ProcessedPacket]:
    return [processor.process(item.inbox_id, item) for item in unprocessed_inbox_items(db.sessions, limit=1000)]


def in_batches(db: Database, processor: PacketProcessor) -> tuple[list[ProcessedPacket], list[int]]:
    """As the pipeline runner drains a backlog; returns the results and the size of each transaction's batch."""
    items = unprocessed_inbox_items(db.sessions, limit=1000)
    results: list[ProcessedPacket] = []
    sizes: list[int] = []
    while len(results) < len(items):
        batch = processor.process_many(items[len(results) :])
        assert batch, "process_many returns at least one result"
        sizes.append(len(batch))
        results += batch
    return results, sizes


def outcome(db: Database) -> dict[str, Any]:
    """Everything processing wrote, keyed by content (ids may differ between databases)."""
    with db.session() as s:
        inbox = sorted((r.ivorn or "", r.status, r.error or "") for r in s.execute(select(InboxRow)).scalars())
        events = sorted(
            s.execute(
                select(EventRow.ivorn, EventGroupRow.trig_id).join(EventGroupRow, EventRow.group_id == EventGroupRow.id)
            ).all()
        )
        groups = sorted(
            (g.trig_id, g.ignored, g.source_type, g.ra_deg, g.dec_deg, g.event_count, g.needs_attention)
            for g in s.execute(select(EventGroupRow)).scalars()
        )
        decisions = sorted(
            s.execute(
                select(EventGroupRow.trig_id, ProposalRow.proposal_id, ProposalDecisionRow.decision)
                .join(EventGroupRow, ProposalDecisionRow.group_id == EventGroupRow.id)
                .join(ProposalRow, ProposalDecisionRow.proposal_pk == ProposalRow.id)
            ).all()
        )
    return {"inbox": inbox, "events": events, "groups": groups, "decisions": decisions}


def test_a_backlog_in_batches_gives_what_one_packet_at_a_time_gives(db: Database, tmp_path: Path) -> None:
    alone = Database.open(f"sqlite:///{tmp_path / 'alone.sqlite3'}")
    try:
        fill(alone, BACKLOG)
        fill(db, BACKLOG)
        alone_jobs: list[RequestJob] = []
        batch_jobs: list[RequestJob] = []
        expected = [r.status for r in one_by_one(alone, processor_for(alone, alone_jobs))]
        results, sizes = in_batches(db, processor_for(db, batch_jobs))
        assert [r.status for r in results] == expected
        assert max(sizes) > 1, "the backlog was processed in batches"
        assert sum(sizes) == len(results) == len(expected)
        assert outcome(db) == outcome(alone)
        assert [(j.group_id is not None, j.requests) for j in batch_jobs] == [
            (j.group_id is not None, j.requests) for j in alone_jobs
        ]
        assert any(r.status is InboxStatus.FAILED for r in results)  # the malformed packet, and only it
        assert sum(r.status is InboxStatus.FAILED for r in results) == 1
        groups = {r.trig_id for r in results if r.trig_id}
        assert len(groups) < len(results) - 1, "packets of one trigger were grouped together"
    finally:
        alone.close()


def test_a_packet_whose_write_fails_fails_alone_and_the_others_are_processed_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db, BACKLOG)
    bad = peek_ivorn(raw_of("SWIFT02.xml"))
    insert_event: Callable[..., int] = event_store.insert_event

    def failing_insert(session: Any, inbox_id: int, event: Any, *args: Any, **kwargs: Any) -> int:
        if event.ivorn == bad:
            raise RuntimeError("disk says no to this one")
        return insert_event(session, inbox_id, event, *args, **kwargs)

    monkeypatch.setattr(event_store, "insert_event", failing_insert)
    results, sizes = in_batches(db, processor_for(db, []))
    assert max(sizes) > 1
    by_ivorn = {r.ivorn: r for r in results if r.ivorn}
    failed = [r for r in results if r.status is InboxStatus.FAILED]
    assert len(failed) == 2  # the malformed packet and the one whose write failed
    assert any("disk says no to this one" in (r.error or "") for r in failed)
    assert bad not in by_ivorn
    with db.session() as s:
        rows = s.execute(select(InboxRow.ivorn, InboxRow.status, InboxRow.error)).all()
        event_ivorns = list(s.execute(select(EventRow.ivorn)).scalars())
    assert [r.status for r in rows if r.ivorn == bad] == ["failed"]
    assert sorted(event_ivorns) == sorted(r.ivorn for r in rows if r.status == "processed")
    assert len(event_ivorns) == len(set(event_ivorns)) == len(rows) - 2


def test_a_batch_ends_after_the_packet_that_sends_a_telescope_request(db: Database) -> None:
    fill(db, BACKLOG)
    jobs: list[RequestJob] = []
    processor = processor_for(db, jobs)
    items = unprocessed_inbox_items(db.sessions, limit=1000)
    done = 0
    while done < len(items):
        before = len(jobs)
        batch = processor.process_many(items[done:])
        done += len(batch)
        sent = len(jobs) - before
        if sent:  # the requests came from the batch's last packet, committed before they were handed over
            assert {j.group_id for j in jobs[before:]} == {batch[-1].group_id}
            with db.session() as s:
                status = s.scalar(select(InboxRow.status).where(InboxRow.id == batch[-1].inbox_id))
            assert status == "processed"
    assert jobs, "the backlog holds packets that make proposals trigger"


def test_an_inbox_commit_waiting_ends_a_batch_early(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(db, BACKLOG)
    processor = processor_for(db, [])
    calls = 0

    def waiting() -> bool:
        nonlocal calls
        calls += 1
        return True

    processor.others_waiting = waiting  # type: ignore[method-assign]
    monkeypatch.setattr(processor_module, "BATCH_YIELD_S", 0.0)
    _results, sizes = in_batches(db, processor)
    assert calls > 0
    assert set(sizes) == {1}


def test_a_database_error_while_reading_a_later_packet_rolls_the_batch_back(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL a failed statement aborts the transaction: committing the packets before it would silently
    roll them back. The batch is undone whole and its packets processed again, each once."""
    backlog: list[str | bytes] = [
        "SWIFT_Lost_starlock.xml",  # ignored events: no telescope request ends the batch before the bad packet
        "SWIFT_Point_Dir_Change.xml",
        "Fermi_532614103_1.xml",  # reading its group fails
        "SWIFT00.xml",
    ]
    fill(db, backlog)
    bad_trig = "532614103"
    load_group: Callable[..., Any] = event_store.load_group

    def failing_load(session: Any, trig_id: str) -> Any:
        if trig_id == bad_trig:  # a real failing statement (on PostgreSQL it aborts the transaction)
            session.execute(text("SELECT nope FROM event_group"))
        return load_group(session, trig_id)

    monkeypatch.setattr(event_store, "load_group", failing_load)
    results, sizes = in_batches(db, processor_for(db, []))
    assert "a batch of packets failed" in caplog.text  # rolled back whole, not committed up to the bad packet
    assert sizes[0] == 1  # ... and its first packet processed alone
    assert [r.status for r in results] == [
        InboxStatus.PROCESSED,
        InboxStatus.PROCESSED,
        InboxStatus.FAILED,
        InboxStatus.PROCESSED,
    ]
    with db.session() as s:
        rows = s.execute(select(InboxRow.ivorn, InboxRow.status)).all()
        event_ivorns = list(s.execute(select(EventRow.ivorn)).scalars())
    assert sorted(event_ivorns) == sorted(r.ivorn for r in rows if r.status == "processed")
    assert len(event_ivorns) == len(set(event_ivorns)) == 3
