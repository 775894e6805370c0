"""The engine's feed health, published for consoles that have no engine of their own (``feed_status``).

The engine writes one row per connection every few seconds (:func:`publish_feed_status`); a viewer reads them
(:func:`read_feed_status`) and treats rows whose ``updated_utc`` is older than :data:`STALE_AFTER_S` as the
word of an engine that stopped reporting — itself an alarm for a shared deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, select

from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.schema import FeedStatusRow

PUBLISH_INTERVAL_S: Final = 5.0
"""How often the engine publishes its feed health (s)."""

STALE_AFTER_S: Final = 30.0
"""A feed status older than this (s) means the engine stopped reporting (crashed, hung or disconnected)."""


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One connection as the engine sees it (what the dashboard's feed-health table shows)."""

    connection: str
    kind: str
    state: str
    since_utc: datetime
    last_packet_utc: datetime | None
    packets: int
    detail: str
    engine: str = ""
    updated_utc: datetime | None = None


def publish_feed_status(sessions: SessionFactory, engine: str, items: Sequence[FeedStatus], now: datetime) -> None:
    """Replace the published feed health with ``items`` (one transaction; connections no longer known go)."""
    with sessions() as session:
        existing = {r.connection: r for r in session.scalars(select(FeedStatusRow))}
        names = {item.connection[:256] for item in items}
        gone = [name for name in existing if name not in names]
        if gone:
            session.execute(delete(FeedStatusRow).where(FeedStatusRow.connection.in_(gone)))
        for item in items:
            name = item.connection[:256]
            row = existing.get(name)
            if row is None:
                row = FeedStatusRow(connection=name)
                session.add(row)
            row.kind = item.kind[:32]
            row.state = item.state[:32]
            row.since_utc = item.since_utc
            row.last_packet_utc = item.last_packet_utc
            row.packets = item.packets
            row.detail = item.detail
            row.engine = engine[:256]
            row.updated_utc = now
        session.commit()


def read_feed_status(sessions: SessionFactory) -> list[FeedStatus]:
    """The published feed health, by connection name (empty if no engine ever published)."""
    with sessions() as session:
        rows = session.scalars(select(FeedStatusRow).order_by(FeedStatusRow.connection))
        return [
            FeedStatus(
                r.connection,
                r.kind,
                r.state,
                r.since_utc,
                r.last_packet_utc,
                r.packets,
                r.detail or "",
                r.engine,
                r.updated_utc,
            )
            for r in rows
        ]
