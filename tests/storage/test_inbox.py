from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import mark_inbox_failed, store_raw_packet, unprocessed_inbox_ids
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
