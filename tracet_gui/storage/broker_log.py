"""Connection health history (``broker_log``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.schema import BrokerLogRow


@dataclass(frozen=True, slots=True)
class BrokerLogEntry:
    at_utc: datetime
    connection: str
    state: str
    text: str | None


def append_broker_log(
    sessions: SessionFactory, at_utc: datetime, connection: str, state: str, text: str | None
) -> None:
    with sessions() as session:
        session.add(BrokerLogRow(at_utc=at_utc, connection=connection, state=state, text=text))
        session.commit()


def recent_broker_log(sessions: SessionFactory, limit: int = 100) -> list[BrokerLogEntry]:
    with sessions() as session:
        rows = session.scalars(select(BrokerLogRow).order_by(BrokerLogRow.id.desc()).limit(limit))
        return [BrokerLogEntry(r.at_utc, r.connection, r.state, r.text) for r in rows]
