"""Events and event groups: storing parsed events and reading them back as frozen records."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.core.grouping import GroupState
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import SourceType
from tracet_gui.storage.fastpath import execute, expire_loaded, prepared, table_of, update_by_id
from tracet_gui.storage.schema import EventGroupRow, EventRow

_EVENT_FIELDS = [f.name for f in dataclasses.fields(ParsedEvent)]
_COLUMN_FIELDS = [name for name in _EVENT_FIELDS if name in EventRow.__table__.columns]
_EXTRA_FIELDS = [name for name in _EVENT_FIELDS if name not in EventRow.__table__.columns]
_GROUP_FIELDS = [f.name for f in dataclasses.fields(GroupState)]
_EVENT_TABLE = table_of(EventRow)
_GROUP_TABLE = table_of(EventGroupRow)
_INSERT_EVENT = prepared(insert(_EVENT_TABLE).returning(_EVENT_TABLE.c.id))
_INSERT_GROUP = prepared(insert(_GROUP_TABLE).returning(_GROUP_TABLE.c.id))
_GROUP_BY_TRIG_ID = prepared(select(_GROUP_TABLE).where(_GROUP_TABLE.c.trig_id == bindparam("trig_id")))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A parsed event as stored, with its database identity and receipt time."""

    event_id: int
    inbox_id: int
    group_id: int | None
    received_utc: datetime
    event: ParsedEvent


@dataclass(frozen=True, slots=True)
class StoredGroup:
    group_id: int
    state: GroupState


def _event_values(inbox_id: int, event: ParsedEvent, received_utc: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(event, name) for name in _COLUMN_FIELDS}
    if event.source_type is not None:
        values["source_type"] = event.source_type.value
    extra = {name: getattr(event, name) for name in _EXTRA_FIELDS}
    extra["warnings"] = list(event.warnings)
    values.update(inbox_id=inbox_id, received_utc=received_utc, stream=event.stream, extra=extra)
    return values


def add_event(session: Session, inbox_id: int, event: ParsedEvent, received_utc: datetime) -> int:
    row = EventRow(**_event_values(inbox_id, event, received_utc))
    session.add(row)
    session.flush()
    return row.id


def insert_event(
    session: Session, inbox_id: int, event: ParsedEvent, received_utc: datetime, group_id: int | None
) -> int:
    """``add_event`` (already in its group when ``group_id`` is known) as one INSERT, without the ORM."""
    values = _event_values(inbox_id, event, received_utc)
    values["group_id"] = group_id
    return int(execute(session, _INSERT_EVENT, values).scalar_one())


def set_event_group(session: Session, event_id: int, group_id: int) -> None:
    """``link_event`` as one UPDATE (for an event written with ``insert_event``)."""
    execute(session, update_by_id(_EVENT_TABLE, ("group_id",)), {"b_id": event_id, "group_id": group_id})
    expire_loaded(session, EventRow, event_id)


def _group_values(state: GroupState, needs_attention: bool | None) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(state, name) for name in _GROUP_FIELDS}
    values["source_type"] = state.source_type.value if state.source_type else None
    if needs_attention is not None:
        values["needs_attention"] = needs_attention
    return values


def insert_group(session: Session, state: GroupState, *, needs_attention: bool = False) -> int:
    """A new group as one INSERT (``save_group`` without the ORM)."""
    values = _group_values(state, needs_attention)
    return int(execute(session, _INSERT_GROUP, values).scalar_one())


def update_group(session: Session, group_id: int, state: GroupState, *, needs_attention: bool | None = None) -> None:
    """A group's new state as one UPDATE; ``needs_attention`` None leaves the flag as it is."""
    values = _group_values(state, needs_attention)
    execute(session, update_by_id(_GROUP_TABLE, tuple(values)), {"b_id": group_id, **values})
    expire_loaded(session, EventGroupRow, group_id)


def _event_from_row(row: EventRow) -> StoredEvent:
    values: dict[str, Any] = {name: getattr(row, name) for name in _COLUMN_FIELDS}
    values["source_type"] = SourceType(row.source_type) if row.source_type else None
    extra = dict(row.extra or {})
    for name in _EXTRA_FIELDS:
        if name in extra:
            values[name] = extra[name]
    values["warnings"] = tuple(extra.get("warnings", ()))
    return StoredEvent(row.id, row.inbox_id, row.group_id, row.received_utc, ParsedEvent(**values))


def load_group(session: Session, trig_id: str) -> StoredGroup | None:
    row = execute(session, _GROUP_BY_TRIG_ID, {"trig_id": trig_id}).first()
    return None if row is None else StoredGroup(row.id, _group_state(row))


def get_group(session: Session, group_id: int) -> StoredGroup:
    return StoredGroup(group_id, _group_state(session.get_one(EventGroupRow, group_id)))


def _group_state(row: Any) -> GroupState:
    """From an ``EventGroupRow`` or a Core row of the ``event_group`` table (same attribute names)."""
    return GroupState(
        trig_id=row.trig_id,
        first_received_utc=row.first_received_utc,
        last_received_utc=row.last_received_utc,
        event_count=row.event_count,
        ignored=row.ignored,
        source_type=SourceType(row.source_type) if row.source_type else None,
        source_name=row.source_name,
        telescope=row.telescope,
        ra_deg=row.ra_deg,
        dec_deg=row.dec_deg,
        pos_error_deg=row.pos_error_deg,
        best_event_id=row.best_event_id,
        earliest_observed_utc=row.earliest_observed_utc,
        latest_observed_utc=row.latest_observed_utc,
    )


def save_group(session: Session, group_id: int | None, state: GroupState) -> int:
    values: dict[str, Any] = {f.name: getattr(state, f.name) for f in dataclasses.fields(GroupState)}
    values["source_type"] = state.source_type.value if state.source_type else None
    if group_id is None:
        row = EventGroupRow(**values)
        session.add(row)
        session.flush()
        return row.id
    row = session.get_one(EventGroupRow, group_id)
    for key, value in values.items():
        setattr(row, key, value)
    return group_id


def link_event(session: Session, event_id: int, group_id: int) -> None:
    session.get_one(EventRow, event_id).group_id = group_id


def set_group_attention(session: Session, group_id: int, needs_attention: bool) -> None:
    session.get_one(EventGroupRow, group_id).needs_attention = needs_attention


def group_events(session: Session, group_id: int) -> list[StoredEvent]:
    rows = session.scalars(select(EventRow).where(EventRow.group_id == group_id).order_by(EventRow.id))
    return [_event_from_row(row) for row in rows]


def get_event(session: Session, event_id: int) -> StoredEvent:
    return _event_from_row(session.get_one(EventRow, event_id))


def list_events(
    sessions: sessionmaker[Session], *, limit: int = 100, offset: int = 0, trig_id: str | None = None
) -> list[StoredEvent]:
    """Most recent first."""
    with sessions() as session:
        query = select(EventRow).order_by(EventRow.id.desc()).limit(limit).offset(offset)
        if trig_id is not None:
            query = query.where(EventRow.trig_id == trig_id)
        return [_event_from_row(row) for row in session.scalars(query)]


def list_groups(
    sessions: sessionmaker[Session], *, limit: int = 100, offset: int = 0, include_ignored: bool = True
) -> list[StoredGroup]:
    """Most recently active first."""
    with sessions() as session:
        query = select(EventGroupRow).order_by(EventGroupRow.last_received_utc.desc(), EventGroupRow.id.desc())
        if not include_ignored:
            query = query.where(EventGroupRow.ignored.is_(False))
        rows = session.scalars(query.limit(limit).offset(offset))
        return [StoredGroup(row.id, _group_state(row)) for row in rows]


def count_events(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(EventRow.id))) or 0
