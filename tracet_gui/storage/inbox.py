"""The inbox: raw packets stored durably, de-duplicated, before anything acknowledges them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.storage.schema import InboxRow


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """Result of storing a raw packet: its inbox row, and whether it was a duplicate of an earlier one."""

    inbox_id: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class InboxItem:
    inbox_id: int
    raw: bytes
    channel: Channel
    received_utc: datetime
    status: InboxStatus


def store_raw_packet(
    sessions: sessionmaker[Session],
    raw: bytes,
    channel: Channel,
    *,
    ivorn: str | None,
    peer: str | None = None,
    topic: str | None = None,
    received_utc: datetime | None = None,
) -> StoredPacket:
    """Commit ``raw`` to the inbox (one transaction) unless the same bytes or IVORN are already there.

    A duplicate is not stored again; the original row records that (and from where) it came again.
    """
    received = received_utc or datetime.now(UTC)
    digest = hashlib.sha256(raw).hexdigest()
    ivorn = _fitting(ivorn, InboxRow.ivorn, truncate=False)
    peer = _fitting(peer, InboxRow.peer, truncate=True)
    topic = _fitting(topic, InboxRow.topic, truncate=True)
    with sessions() as session:
        existing = _find_duplicate(session, digest, ivorn)
        if existing is not None and ivorn is not None and _failed_other_bytes(session, existing, digest):
            # The earlier packet with this IVORN could not be read (truncated, malformed): this one may be the
            # good copy, so it is kept and processed. Its IVORN stays on the failed row (the column is unique).
            existing, ivorn = None, None
        if existing is None:
            row = InboxRow(
                received_utc=received,
                channel=channel.value,
                peer=peer,
                topic=topic,
                ivorn=ivorn,
                sha256=digest,
                size_bytes=len(raw),
                raw=raw,
                status=InboxStatus.NEW.value,
                duplicate_count=0,
            )
            session.add(row)
            try:
                session.commit()
                return StoredPacket(row.id, duplicate=False)
            except IntegrityError:
                session.rollback()  # a concurrent writer stored the same packet first
                existing = _find_duplicate(session, digest, ivorn)
                if existing is None:
                    raise
        session.execute(
            update(InboxRow)
            .where(InboxRow.id == existing)
            .values(
                duplicate_count=InboxRow.duplicate_count + 1,
                last_duplicate_utc=received,
                last_duplicate_channel=channel.value,
            )
        )
        session.commit()
        return StoredPacket(existing, duplicate=True)


def _fitting(value: str | None, column: Any, *, truncate: bool) -> str | None:
    """``value`` as every backend can store it in ``column``: no NUL, at most the column's length.

    PostgreSQL refuses both (SQLite does not check); the raw packet must be stored whatever its metadata.
    A value that does not fit is cut (``truncate``) or dropped: a cut IVORN could match another packet's.
    """
    if value is None:
        return None
    limit = column.type.length
    if "\x00" in value or (limit is not None and len(value) > limit):
        if not truncate:
            return None
        value = value.replace("\x00", "")[:limit]
    return value


def _failed_other_bytes(session: Session, inbox_id: int, digest: str) -> bool:
    row = session.execute(select(InboxRow.status, InboxRow.sha256).where(InboxRow.id == inbox_id)).one()
    return bool(row.status == InboxStatus.FAILED.value and row.sha256 != digest)


def _find_duplicate(session: Session, digest: str, ivorn: str | None) -> int | None:
    found = session.scalar(select(InboxRow.id).where(InboxRow.sha256 == digest))
    if found is None and ivorn is not None:
        found = session.scalar(select(InboxRow.id).where(InboxRow.ivorn == ivorn))
    return found


def unprocessed_inbox_ids(sessions: sessionmaker[Session], after_id: int = 0, limit: int = 1000) -> list[int]:
    """Ids of inbox rows still ``new``, in arrival order."""
    with sessions() as session:
        return list(
            session.scalars(
                select(InboxRow.id)
                .where(InboxRow.status == InboxStatus.NEW.value, InboxRow.id > after_id)
                .order_by(InboxRow.id)
                .limit(limit)
            )
        )


def load_inbox_item(session: Session, inbox_id: int) -> InboxItem:
    row = session.get_one(InboxRow, inbox_id)
    return InboxItem(row.id, row.raw, Channel(row.channel), row.received_utc, InboxStatus(row.status))


def mark_inbox(
    session: Session, inbox_id: int, status: InboxStatus, error: str | None = None, at_utc: datetime | None = None
) -> None:
    session.execute(
        update(InboxRow)
        .where(InboxRow.id == inbox_id)
        .values(status=status.value, error=error, processed_utc=at_utc or datetime.now(UTC))
    )


def mark_inbox_failed(sessions: sessionmaker[Session], inbox_id: int, error: str) -> None:
    """Record a failure in its own transaction (used after the processing transaction rolled back)."""
    with sessions() as session:
        mark_inbox(session, inbox_id, InboxStatus.FAILED, error)
        session.commit()
