"""The pipeline's latency work keeps its results: evaluation before the write lock, batched writes, proposal
cache, telescope reports recorded together, the WAL kept short off the hot path."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tracet_gui.app import ensure_default_proposals, make_processor
from tracet_gui.config import Settings
from tracet_gui.core.clock import FixedClock
from tracet_gui.core.decision_model import AtcaBandRequest, ObservationRequest
from tracet_gui.core.sending import AcceptingRecorder
from tracet_gui.core.visibility import MWA_SITE, altaz_to_radec
from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.pipeline.decider import JobReport, request_summary
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.pipeline.processor import PacketProcessor
from tracet_gui.storage.database import Database
from tracet_gui.storage.engine import WalCheckpointer
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.proposals import ActiveProposals, list_proposals, upsert_proposal
from tracet_gui.storage.schema import DecisionLogRow, ObservationRow, ProposalDecisionRow

DATA = Path(__file__).resolve().parents[1] / "data"
BAT = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
NOW = datetime(2025, 3, 14, 12, 30, tzinfo=UTC)


def bat_packet(n: int, trig_id: int, when: datetime = NOW) -> bytes:
    """A Swift BAT position 1 deg from the MWA zenith at ``when`` (the MWA proposal triggers)."""
    ra, dec = altaz_to_radec(MWA_SITE, 89.0, 0.0, when)
    return (
        BAT.replace(b"BAT_GRB_Pos_1093742-465", f"BAT_GRB_Pos_1093742-465-t{n}".encode(), 1)
        .replace(b'name="TrigID" value="1093742"', f'name="TrigID" value="{trig_id}"'.encode())
        .replace(b"<C1>192.2744</C1>", f"<C1>{ra:.4f}</C1>".encode())
        .replace(b"<C2>22.9093</C2>", f"<C2>{dec:.4f}</C2>".encode())
    )


def store(db: Database, raw: bytes) -> int:
    return store_raw_packet(db.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw)).inbox_id


def sqlite_path(db: Database) -> str:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking")
    path = db.engine.url.database
    assert path
    return path


def test_a_packet_is_evaluated_before_its_transaction_takes_the_write_lock(db: Database) -> None:
    """While the pipeline is outside its write turn, another connection can take SQLite's write lock at once."""
    path = sqlite_path(db)
    ensure_default_proposals(db, "test")
    seen: list[str] = []

    class Spy(PacketProcessor):
        @contextmanager
        def write_turn(self) -> Iterator[None]:
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # fails at once if the pipeline already held the write lock
                other.execute("ROLLBACK")
                seen.append("free before the turn")
            finally:
                other.close()
            yield

    processor, _runner = make_processor(db, Settings(db_url="unused"), clock=FixedClock(NOW))
    spy = Spy(db.sessions, processor._parser, processor._decider, FixedClock(NOW))
    spy.job_runner = processor.job_runner
    first = spy.process(store(db, bat_packet(1, 2_000_001)))
    follow_up = spy.process(store(db, bat_packet(2, 2_000_001)))  # the same group: reads its events and decisions
    assert first.status is InboxStatus.PROCESSED and follow_up.status is InboxStatus.PROCESSED
    assert seen == ["free before the turn"] * 2


def decisions_and_logs(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[object]]:
    with db.session() as s:
        decisions = [
            (r.group_id, r.proposal_pk, r.decision, r.ra_deg, r.dec_deg, r.last_event_id, r.subarray_pointings)
            for r in s.scalars(select(ProposalDecisionRow).order_by(ProposalDecisionRow.id))
        ]
        logs = [
            (r.decision_id, r.group_id, r.event_id, r.kind, r.text)
            for r in s.scalars(select(DecisionLogRow).order_by(DecisionLogRow.id))
        ]
        requests = [r.request for r in s.scalars(select(ObservationRow).order_by(ObservationRow.id))]
    return decisions, logs, requests


def test_sub_array_pointings_left_unset_stay_sql_null(db: Database) -> None:
    ensure_default_proposals(db, "test")
    processor, _runner = make_processor(db, Settings(db_url="unused"), clock=FixedClock(NOW))
    processor.process(store(db, bat_packet(1, 2_000_001)))
    with db.engine.connect() as c:
        nulls = c.execute(text("SELECT count(*) FROM proposal_decision WHERE subarray_pointings IS NULL")).scalar()
        total = c.execute(text("SELECT count(*) FROM proposal_decision")).scalar()
    assert total and nulls == total  # as the ORM left them (not the JSON text 'null')


def test_active_proposals_are_reread_when_a_proposal_changes(db: Database) -> None:
    ensure_default_proposals(db, "test")
    active = ActiveProposals()
    with db.session() as s:
        first = active(s)
        assert [p.pk for p in first] == [p.pk for p in list_proposals(s, active_only=True)]
        again = active(s)
        assert all(a is b for a, b in zip(first, again, strict=True))  # unchanged rows: the same objects
        changed = replace(first[0].settings, maximum_position_uncertainty=0.123)
        upsert_proposal(s, changed, NOW)
        disabled = replace(first[1].settings, active=False)
        upsert_proposal(s, disabled, NOW)
        s.commit()
        now_active = active(s)
    assert [p.settings for p in now_active] == [p.settings for p in list_proposals(db.session(), active_only=True)]
    assert now_active[0].settings.maximum_position_uncertainty == 0.123
    assert first[1].pk not in [p.pk for p in now_active]


def test_request_summary_is_asdict_with_the_nested_fields_as_stored() -> None:
    def by_asdict(request: ObservationRequest) -> dict[str, object]:
        out = dataclasses.asdict(request)
        out["subarray_pointings"] = [list(p) for p in request.subarray_pointings]
        out["subarray_names"] = list(request.subarray_names)
        out["atca_bands"] = request.atca_band_dict() if request.atca_bands else {}
        return out

    atca = ObservationRequest(
        "ATCA",
        "atca",
        True,
        "C3204",
        "SWIFT_1",
        "First observation.",
        "GRB 1",
        ra_deg=1.0,
        dec_deg=-2.0,
        exposure_s=1200,
        atca_bands=(AtcaBandRequest("4cm", True, 20, 5500, 9000), AtcaBandRequest("7mm", False, 0, None, None)),
        proposal_id="P",
        priority=2,
    )
    mwa = ObservationRequest(
        "MWA_VCS",
        "mwa_subarrays",
        False,
        "G0094",
        "LVC_S1",
        "r",
        "S1",
        subarray_pointings=((1.0, 2.0), (3.0, 4.0)),
        subarray_names=("NE", "NW"),
        freqspecs="93,24",
    )
    for request in (atca, mwa):
        assert json.dumps(request_summary(request)) == json.dumps(by_asdict(request))


def test_reports_recorded_together_decide_as_when_recorded_one_by_one(tmp_path: Path) -> None:
    """Two triggering proposals' telescope answers: one transaction for both, the same rows as two."""
    outcomes = []
    for together in (False, True):
        db = Database.open(f"sqlite:///{tmp_path / f'together{together}.sqlite3'}")
        ensure_default_proposals(db, "test")
        processor, _runner = make_processor(db, Settings(db_url="unused"), clock=FixedClock(NOW))
        jobs: list[object] = []
        processor.job_runner = jobs.append
        processor.process(store(db, bat_packet(1, 2_000_001)))
        assert len(jobs) == 2  # the MWA VCS and the ATCA short-GRB proposals trigger
        sender = AcceptingRecorder()
        reports = [JobReport(j, tuple(sender.send(r) for r in j.requests)) for j in jobs]  # type: ignore[attr-defined]
        if together:
            results = processor.record_many(reports)
        else:
            results = [processor.record(r) for r in reports]
        outcomes.append(([r.decision_changes for r in results], decisions_and_logs(db)))
        db.close()
    assert outcomes[0] == outcomes[1]


def test_the_wal_checkpointer_keeps_the_log_short(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    checkpointer = WalCheckpointer(db.engine, pages=50, interval_s=0.01)
    checkpointer.start()
    try:
        with db.engine.connect() as c:
            c.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)"))
            c.commit()
            for _ in range(300):
                c.execute(text("INSERT INTO blobs (b) VALUES (randomblob(5000))"))
                c.commit()
                time.sleep(0.001)
        deadline = time.monotonic() + 5
        while (checkpointer.waiting_pages() or 0) >= 50 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints > 0
    assert (checkpointer.waiting_pages() or 0) < 50
    assert not [t for t in threading.enumerate() if t.name == "wal-checkpoint"]
    db.close()


def test_the_wal_checkpointer_does_nothing_for_other_databases() -> None:
    db = Database.open("sqlite://")
    checkpointer = WalCheckpointer(db.engine)
    checkpointer.start()
    assert not [t for t in threading.enumerate() if t.name == "wal-checkpoint"]
    checkpointer.stop()
    db.close()


@pytest.mark.parametrize("offset_h", [0, 5, 11])
def test_the_engine_s_view_of_a_follow_up_packet_is_the_stored_group(db: Database, offset_h: int) -> None:
    """The group an event is evaluated against (built before writing) is the group stored after it."""
    from tracet_gui.pipeline.decider import group_view

    ensure_default_proposals(db, "test")
    when = NOW + timedelta(hours=offset_h)
    processor, _runner = make_processor(db, Settings(db_url="unused"), clock=FixedClock(when))
    seen = []
    decider = processor._decider
    assert decider is not None
    original = decider.plan

    def spy_plan(session, group_id, view, event, received_utc):  # type: ignore[no-untyped-def]
        seen.append(view)
        return original(session, group_id, view, event, received_utc)

    decider.plan = spy_plan  # type: ignore[method-assign]
    results = [processor.process(store(db, bat_packet(n, 2_000_001, when))) for n in range(3)]
    with db.session() as s:
        stored = group_view(s, results[-1].group_id or 0)
    assert seen[-1] == stored


def test_a_row_read_before_another_processor_finished_it_is_not_processed_twice(db: Database) -> None:
    from sqlalchemy import func

    from tracet_gui.storage.inbox import unprocessed_inbox_items
    from tracet_gui.storage.schema import EventRow

    ensure_default_proposals(db, "test")
    processor, _runner = make_processor(db, Settings(db_url="unused"), clock=FixedClock(NOW))
    processor.job_runner = lambda _job: None
    inbox_id = store(db, bat_packet(1, 2_000_001))
    (item,) = unprocessed_inbox_items(db.sessions)
    assert item.inbox_id == inbox_id and item.raw == bat_packet(1, 2_000_001)
    first = processor.process(inbox_id)  # "another processor" gets there first
    again = processor.process(inbox_id, item)  # the runner's copy, read while the row was still new
    assert first.status is InboxStatus.PROCESSED and first.event_id is not None
    assert again.status is InboxStatus.PROCESSED and again.event_id is None
    with db.session() as s:
        assert s.scalar(select(func.count(EventRow.id))) == 1
    assert unprocessed_inbox_items(db.sessions) == []
