from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import (
    RawPacket,
    StoredPacket,
    mark_inbox_failed,
    store_raw_packet,
    store_raw_packets,
    unprocessed_inbox_ids,
)
from tracet_gui.storage.schema import InboxRow

PACKET = b'<voe:VOEvent ivorn="ivo://test/x#1" role="test"/>'


def test_raw_bytes_are_stored_exactly(db: Database) -> None:
    stored = store_raw_packet(db.sessions, PACKET, Channel.VTP_REMOTE, ivorn="ivo://test/x#1", peer="1.2.3.4:8099")
    assert not stored.duplicate
    with db.session() as session:
        row = session.get_one(InboxRow, stored.inbox_id)
        assert row.raw == PACKET
        assert row.size_bytes == len(PACKET)
        assert row.status == InboxStatus.NEW.value
        assert row.channel == "vtp-remote"
        assert row.received_utc.tzinfo is not None


def test_same_bytes_from_two_channels_are_stored_once(db: Database) -> None:
    first = store_raw_packet(db.sessions, PACKET, Channel.VTP_REMOTE, ivorn="ivo://test/x#1")
    second = store_raw_packet(db.sessions, PACKET, Channel.KAFKA, ivorn="ivo://test/x#1", topic="t")
    assert second.duplicate and second.inbox_id == first.inbox_id
    with db.session() as session:
        rows = session.scalars(select(InboxRow)).all()
        assert len(rows) == 1
        assert rows[0].duplicate_count == 1
        assert rows[0].last_duplicate_channel == "kafka"


def test_same_ivorn_with_different_bytes_is_a_duplicate(db: Database) -> None:
    first = store_raw_packet(db.sessions, PACKET, Channel.VTP_REMOTE, ivorn="ivo://test/x#1")
    reformatted = PACKET.replace(b"/>", b" />")
    second = store_raw_packet(db.sessions, reformatted, Channel.KAFKA, ivorn="ivo://test/x#1")
    assert second.duplicate and second.inbox_id == first.inbox_id


def test_packets_without_ivorn_are_kept_separately(db: Database) -> None:
    a = store_raw_packet(db.sessions, b"not xml at all", Channel.FILE, ivorn=None)
    b = store_raw_packet(db.sessions, b"<other/>", Channel.FILE, ivorn=None)
    assert a.inbox_id != b.inbox_id
    assert unprocessed_inbox_ids(db.sessions) == [a.inbox_id, b.inbox_id]
    mark_inbox_failed(db.sessions, a.inbox_id, "not XML")
    assert unprocessed_inbox_ids(db.sessions) == [b.inbox_id]


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        store_raw_packet(db.sessions, PACKET, Channel.FILE, ivorn=None, received_utc=datetime(2026, 1, 1))


def test_datetimes_come_back_as_utc(db: Database) -> None:
    when = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
    stored = store_raw_packet(db.sessions, PACKET, Channel.FILE, ivorn=None, received_utc=when)
    with db.session() as session:
        assert session.get_one(InboxRow, stored.inbox_id).received_utc == when


def test_a_good_copy_after_a_failed_packet_with_the_same_ivorn_is_kept(db: Database) -> None:
    broken = b'<voe:VOEvent ivorn="ivo://test/x#1" role="test"><What>'  # truncated in transit
    first = store_raw_packet(db.sessions, broken, Channel.VTP_REMOTE, ivorn="ivo://test/x#1")
    mark_inbox_failed(db.sessions, first.inbox_id, "malformed XML")
    good = store_raw_packet(db.sessions, PACKET, Channel.KAFKA, ivorn="ivo://test/x#1")
    assert not good.duplicate and good.inbox_id != first.inbox_id
    assert unprocessed_inbox_ids(db.sessions) == [good.inbox_id]
    again = store_raw_packet(db.sessions, PACKET, Channel.VTP_REMOTE, ivorn="ivo://test/x#1")
    assert again.duplicate and again.inbox_id == good.inbox_id  # the same bytes are still stored once


def test_a_batch_is_stored_in_order_as_one_packet_at_a_time_would_be(db: Database) -> None:
    earlier = store_raw_packet(db.sessions, PACKET, Channel.VTP_REMOTE, ivorn="ivo://test/x#1")
    broken = b'<voe:VOEvent ivorn="ivo://test/x#9" role="test"><What>'
    failed = store_raw_packet(db.sessions, broken, Channel.VTP_REMOTE, ivorn="ivo://test/x#9")
    mark_inbox_failed(db.sessions, failed.inbox_id, "malformed XML")
    second = PACKET.replace(b"#1", b"#2")
    good = PACKET.replace(b"#1", b"#9")
    stored = store_raw_packets(
        db.sessions,
        [
            RawPacket(second, Channel.VTP_REMOTE, "ivo://test/x#2"),  # new
            RawPacket(PACKET, Channel.KAFKA, "ivo://test/x#1", topic="t"),  # already in the inbox
            RawPacket(second.replace(b"/>", b" />"), Channel.VTP_AUTHOR, "ivo://test/x#2"),  # IVORN earlier in batch
            RawPacket(good, Channel.VTP_REMOTE, "ivo://test/x#9"),  # a good copy of the failed packet: kept
            RawPacket(good, Channel.VTP_REMOTE, "ivo://test/x#9"),  # ... once
            RawPacket(b"not xml", Channel.FILE, None),
        ],
    )
    new_id, good_id = stored[0].inbox_id, stored[3].inbox_id
    assert stored == [
        StoredPacket(new_id, duplicate=False),
        StoredPacket(earlier.inbox_id, duplicate=True),
        StoredPacket(new_id, duplicate=True),
        StoredPacket(good_id, duplicate=False),
        StoredPacket(good_id, duplicate=True),
        StoredPacket(stored[5].inbox_id, duplicate=False),
    ]
    assert len({earlier.inbox_id, failed.inbox_id, new_id, good_id, stored[5].inbox_id}) == 5
    with db.session() as session:
        rows = {r.id: r for r in session.scalars(select(InboxRow))}
    assert len(rows) == 5
    assert rows[new_id].duplicate_count == 1 and rows[new_id].last_duplicate_channel == "vtp-author"
    assert rows[earlier.inbox_id].duplicate_count == 1 and rows[earlier.inbox_id].last_duplicate_channel == "kafka"
    assert rows[good_id].raw == good and rows[good_id].ivorn is None  # the IVORN stays on the failed row
    assert unprocessed_inbox_ids(db.sessions) == [earlier.inbox_id, new_id, good_id, stored[5].inbox_id]


def test_a_batch_is_all_or_nothing(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        store_raw_packets(
            db.sessions,
            [
                RawPacket(PACKET, Channel.FILE, "ivo://test/x#1"),
                RawPacket(b"<b/>", Channel.FILE, None, received_utc=datetime(2026, 1, 1)),
            ],
        )
    assert unprocessed_inbox_ids(db.sessions) == []


def test_concurrent_batches_with_the_same_packets_store_each_once(db: Database) -> None:
    """Four writers, two in each order: races lost (unique constraint; on PostgreSQL also deadlocks) are retried."""
    packets = [
        RawPacket(PACKET.replace(b"#1", f"#{n}".encode()), Channel.VTP_REMOTE, f"ivo://x#{n}") for n in range(40)
    ]
    results: list[list[StoredPacket]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(order: list[RawPacket]) -> None:
        start.wait()
        try:
            for k in range(0, len(order), 8):
                results.append(store_raw_packets(db.sessions, order[k : k + 8]))
        except BaseException as exc:  # shown by the assertion below, not lost with the thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(packets[::step],)) for step in (1, -1, 1, -1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = [s for batch in results for s in batch]
    assert len(stored) == 4 * len(packets)
    assert sum(not s.duplicate for s in stored) == len(packets)  # each stored once, by whichever came first
    with db.session() as session:
        rows = session.execute(select(InboxRow.ivorn, InboxRow.duplicate_count)).all()
    assert sorted(r.ivorn for r in rows) == sorted(p.ivorn for p in packets)
    assert {r.duplicate_count for r in rows} == {3}


def test_a_writer_waits_for_another_writers_uncommitted_packet(db: Database) -> None:
    """Inbox writers take turns (SQLite's write lock; PostgreSQL's advisory lock): a packet stored while another
    transaction holds an older, uncommitted one is inserted only after that one is committed, with a later id."""
    from tracet_gui.storage.inbox import store_in_transaction

    older = RawPacket(PACKET, Channel.KAFKA, "ivo://test/x#1", received_utc=datetime(2026, 1, 1, tzinfo=UTC))
    newer = RawPacket(PACKET.replace(b"#1", b"#2"), Channel.VTP_REMOTE, "ivo://test/x#2")
    done: list[StoredPacket] = []
    with db.session() as session:
        first = store_in_transaction(session, older)
        writer = threading.Thread(target=lambda: done.extend(store_raw_packets(db.sessions, [newer])))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and done == []  # waiting for the older packet's transaction
        session.commit()
    writer.join(10)
    assert [s.duplicate for s in done] == [False]
    assert done[0].inbox_id > first.inbox_id
