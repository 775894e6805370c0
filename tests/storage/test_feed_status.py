"""The engine's published feed health: replaced as a whole, read back by viewers, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracet_gui.storage.database import Database
from tracet_gui.storage.feed_status import FeedStatus, publish_feed_status, read_feed_status

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def status(name: str, state: str, packets: int) -> FeedStatus:
    return FeedStatus(name, "vtp", state, T0, T0 + timedelta(seconds=packets), packets, f"{packets} packets")


def test_published_health_is_replaced_whole_and_read_back(any_db: Database) -> None:
    assert read_feed_status(any_db.sessions) == []
    publish_feed_status(any_db.sessions, "engine A", [status("remote:b", "connected", 1), status("kafka", "x", 0)], T0)
    later = T0 + timedelta(seconds=5)
    publish_feed_status(any_db.sessions, "engine A", [status("remote:b", "disconnected", 7)], later)
    (only,) = read_feed_status(any_db.sessions)  # kafka is gone: the engine no longer reports it
    assert (only.connection, only.state, only.packets, only.detail) == ("remote:b", "disconnected", 7, "7 packets")
    assert (only.engine, only.updated_utc, only.last_packet_utc) == ("engine A", later, T0 + timedelta(seconds=7))
