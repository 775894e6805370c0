"""The inbox: raw packets stored durably, de-duplicated, before anything acknowledges them."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.core.vocabulary import Channel, InboxStatus
from tracet_gui.storage.errors import lost_a_race
from tracet_gui.storage.fastpath import execute, expire_loaded, prepared, run, table_of, update_by_id
from tracet_gui.storage.schema import InboxRow

INBOX_WRITE_LOCK_KEY = int.from_bytes(b"tracetIN", "big")
"""PostgreSQL advisory-lock key held (per transaction) by whoever adds packets to the inbox."""
_INBOX_WRITE_LOCK = select(func.pg_advisory_xact_lock(INBOX_WRITE_LOCK_KEY))

STORE_CONFLICT_RETRIES = 20
"""How often :func:`store_raw_packets` retries after the server rolled it back to end a conflict (deadlock)."""


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


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One packet to store: its bytes exactly as received, and where and when it came from."""

    raw: bytes
    channel: Channel
    ivorn: str | None
    peer: str | None = None
    topic: str | None = None
    received_utc: datetime | None = None
    """When it arrived; None: when it is stored."""


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
    return store_raw_packets(sessions, [RawPacket(raw, channel, ivorn, peer, topic, received_utc)])[0]


def store_raw_packets(sessions: sessionmaker[Session], packets: Sequence[RawPacket]) -> list[StoredPacket]:
    """Commit ``packets`` to the inbox in one transaction (one durable commit for all: group commit).

    Each is handled as :func:`store_raw_packet` would, in order: stored unless the same bytes or IVORN are
    already in the inbox or earlier in ``packets``, else counted on the original row as a duplicate. All or
    nothing: when this returns every packet is committed, when it raises none is.
    """
    now = datetime.now(UTC)
    pending = [_pending(p, now) for p in packets]
    # A race lost to a concurrent writer storing some of the same packets leaves one of them committed by the
    # other: it is a known duplicate on the next attempt, so every packet can lose that race at most once. A
    # conflict the server ended by rolling us back (PostgreSQL: deadlock, serialization) proves no such progress:
    # those are retried on a budget of their own, after a short random pause so the writers fall out of step.
    races, conflicts = 0, 0
    while True:
        with sessions() as session:
            try:
                stored = _store_in(session, pending)
                session.commit()
                return stored
            except DBAPIError as exc:
                session.rollback()
                if not lost_a_race(exc):
                    raise
                if isinstance(exc, IntegrityError):
                    races += 1
                    if races > len(pending):
                        raise
                else:
                    conflicts += 1
                    if conflicts > STORE_CONFLICT_RETRIES:
                        raise
                    time.sleep(random.uniform(0, 0.005 * conflicts))


def store_in_transaction(session: Session, packet: RawPacket) -> StoredPacket:
    """Add ``packet`` to the inbox inside the caller's transaction (no commit), as :func:`store_raw_packets`
    would: a duplicate is counted on its original row instead. For a caller that commits the packet together
    with what it makes of it (the engine's one-transaction path for a packet that arrives alone)."""
    return _store_in(session, [_pending(packet, datetime.now(UTC))])[0]


def unprocessed_before(session: Session, inbox_id: int) -> bool:
    """True when an inbox row older than ``inbox_id`` is still ``new`` (it must be processed first)."""
    return execute(session, _NEW_BEFORE, {"inbox_id": inbox_id}).first() is not None


def _pending(p: RawPacket, now: datetime) -> _Pending:
    return _Pending(
        p.raw,
        p.channel.value,
        hashlib.sha256(p.raw).hexdigest(),
        _fitting(p.ivorn, InboxRow.ivorn, truncate=False),
        _fitting(p.peer, InboxRow.peer, truncate=True),
        _fitting(p.topic, InboxRow.topic, truncate=True),
        p.received_utc or now,
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    raw: bytes
    channel: str
    sha256: str
    ivorn: str | None
    peer: str | None
    topic: str | None
    received_utc: datetime


@dataclass(frozen=True, slots=True)
class _Known:
    """An inbox row a packet may duplicate: already committed (its id) or added in this transaction."""

    inbox_id: int
    status: str


def _store_in(session: Session, pending: Sequence[_Pending]) -> list[StoredPacket]:
    if session.get_bind().dialect.name == "postgresql":
        # One inbox writer at a time across processes, until this transaction ends (SQLite's write lock does the
        # same there): a concurrent writer of some of the same packets then finds them committed instead of
        # racing for them, and writers adding the same packets in different orders cannot deadlock.
        session.execute(_INBOX_WRITE_LOCK)
    by_sha256, by_ivorn = _known_rows(session, pending)
    connection = session.connection()
    outcome: list[tuple[_Known, bool]] = []
    counted: list[tuple[int, _Pending]] = []
    for p in pending:
        ivorn = p.ivorn
        existing = by_sha256.get(p.sha256)
        if existing is None and ivorn is not None:
            existing = by_ivorn.get(ivorn)
            if existing is not None and existing.status == InboxStatus.FAILED.value:
                # The earlier packet with this IVORN could not be read (truncated, malformed): this one may be the
                # good copy, so it is kept and processed. Its IVORN stays on the failed row (the column is unique).
                existing, ivorn = None, None
        if existing is None:
            values = {
                "received_utc": p.received_utc,
                "channel": p.channel,
                "peer": p.peer,
                "topic": p.topic,
                "ivorn": ivorn,
                "sha256": p.sha256,
                "size_bytes": len(p.raw),
                "raw": p.raw,
            }
            inbox_id = int(run(connection, _INSERT, values).scalar_one())
            known = by_sha256[p.sha256] = _Known(inbox_id, InboxStatus.NEW.value)
            if ivorn is not None:
                by_ivorn[ivorn] = known
            outcome.append((known, False))
        else:
            counted.append((existing.inbox_id, p))
            outcome.append((existing, True))
    # Duplicates are counted in row order (stable: arrival order within a row), so two writers counting some of
    # the same rows lock them in the same order and cannot deadlock over them (PostgreSQL row locks).
    for inbox_id, p in sorted(counted, key=lambda c: c[0]):
        run(
            connection,
            _COUNT_DUPLICATE,
            {"b_id": inbox_id, "last_duplicate_utc": p.received_utc, "last_duplicate_channel": p.channel},
        )
        expire_loaded(session, InboxRow, inbox_id)
    return [StoredPacket(known.inbox_id, duplicate) for known, duplicate in outcome]


# Built once, run on the connection (Core): storing is on the path of every ACK, and the ORM's unit of work
# cost ~0.6 ms of a packet's ~0.75 ms (see storage/fastpath.py).
_INSERT = prepared(
    insert(table_of(InboxRow))
    .values(
        {
            **{
                name: bindparam(name)
                for name in ("received_utc", "channel", "peer", "topic", "ivorn", "sha256", "size_bytes", "raw")
            },
            "status": InboxStatus.NEW.value,
            "duplicate_count": 0,
        }
    )
    .returning(table_of(InboxRow).c.id)
)
_COUNT_DUPLICATE = prepared(
    update(table_of(InboxRow))
    .where(table_of(InboxRow).c.id == bindparam("b_id"))
    .values(
        duplicate_count=table_of(InboxRow).c.duplicate_count + 1,
        last_duplicate_utc=bindparam("last_duplicate_utc"),
        last_duplicate_channel=bindparam("last_duplicate_channel"),
    )
)


_INBOX = table_of(InboxRow)
_KNOWN_COLUMNS = (_INBOX.c.id, _INBOX.c.sha256, _INBOX.c.ivorn, _INBOX.c.status)
_KNOWN = select(*_KNOWN_COLUMNS).where(
    or_(
        _INBOX.c.sha256.in_(bindparam("sha256s", expanding=True)),
        _INBOX.c.ivorn.in_(bindparam("ivorns", expanding=True)),
    )
)


_KNOWN_ONE = prepared(
    select(*_KNOWN_COLUMNS).where(or_(_INBOX.c.sha256 == bindparam("sha256"), _INBOX.c.ivorn == bindparam("ivorn")))
)
"""``_KNOWN`` for one packet, with plain parameters (no IN lists), so it can be sent straight to the driver."""


def _known_rows(session: Session, pending: Sequence[_Pending]) -> tuple[dict[str, _Known], dict[str, _Known]]:
    """Rows already in the inbox with the bytes (sha256) or the IVORN of any of ``pending``, by each key."""
    sha256s = sorted({p.sha256 for p in pending})
    ivorns = sorted({p.ivorn for p in pending if p.ivorn is not None})
    # Built once, run on the connection (Core): this is on the path of every ACK (see storage/fastpath.py).
    if len(pending) == 1:
        rows = execute(session, _KNOWN_ONE, {"sha256": sha256s[0], "ivorn": ivorns[0] if ivorns else None}).all()
    else:
        rows = session.connection().execute(_KNOWN, {"sha256s": sha256s, "ivorns": ivorns}).all()
    by_sha256: dict[str, _Known] = {}
    by_ivorn: dict[str, _Known] = {}
    for row in rows:
        known = _Known(row.id, row.status)
        by_sha256[row.sha256] = known
        if row.ivorn is not None:
            by_ivorn[row.ivorn] = known
    return by_sha256, by_ivorn


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


def unprocessed_inbox_ids(sessions: sessionmaker[Session], after_id: int = 0, limit: int = 1000) -> list[int]:
    """Ids of inbox rows still ``new``, in arrival order."""
    with sessions() as session:
        return list(session.connection().execute(_UNPROCESSED, {"after_id": after_id, "limit": limit}).scalars())


_NEW_BEFORE = prepared(
    select(InboxRow.__table__.c.id)
    .where(InboxRow.__table__.c.status == InboxStatus.NEW.value, InboxRow.__table__.c.id < bindparam("inbox_id"))
    .limit(1)
)

_UNPROCESSED = (
    select(InboxRow.__table__.c.id)
    .where(InboxRow.__table__.c.status == InboxStatus.NEW.value, InboxRow.__table__.c.id > bindparam("after_id"))
    .order_by(InboxRow.__table__.c.id)
    .limit(bindparam("limit"))
)


# Built once and run on the session's connection (Core): the pipeline reads and marks a row per packet, and the
# ORM's get/synchronised UPDATE cost several times more (see storage/fastpath.py).
_ITEM_COLUMNS = (
    InboxRow.__table__.c.id,
    InboxRow.__table__.c.raw,
    InboxRow.__table__.c.channel,
    InboxRow.__table__.c.received_utc,
    InboxRow.__table__.c.status,
)
_INBOX_ITEM = select(*_ITEM_COLUMNS).where(InboxRow.__table__.c.id == bindparam("inbox_id"))
_UNPROCESSED_ITEMS = (
    select(*_ITEM_COLUMNS)
    .where(InboxRow.__table__.c.status == InboxStatus.NEW.value, InboxRow.__table__.c.id > bindparam("after_id"))
    .order_by(InboxRow.__table__.c.id)
    .limit(bindparam("limit"))
)


_MARK_IF = prepared(
    update(table_of(InboxRow))
    .where(InboxRow.__table__.c.id == bindparam("b_id"), InboxRow.__table__.c.status == bindparam("b_only_if"))
    .values(status=bindparam("status"), error=bindparam("error"), processed_utc=bindparam("processed_utc"))
)


def _item(row: Any) -> InboxItem:
    return InboxItem(row.id, row.raw, Channel(row.channel), row.received_utc, InboxStatus(row.status))


def load_inbox_item(session: Session, inbox_id: int) -> InboxItem:
    return _item(session.connection().execute(_INBOX_ITEM, {"inbox_id": inbox_id}).one())


def unprocessed_inbox_items(sessions: sessionmaker[Session], after_id: int = 0, limit: int = 16) -> list[InboxItem]:
    """Inbox rows still ``new`` (raw bytes included), in arrival order: ``unprocessed_inbox_ids`` and
    ``load_inbox_item`` in one query, for the pipeline."""
    with sessions() as session:
        rows = session.connection().execute(_UNPROCESSED_ITEMS, {"after_id": after_id, "limit": limit})
        return [_item(row) for row in rows]


def mark_inbox(
    session: Session,
    inbox_id: int,
    status: InboxStatus,
    error: str | None = None,
    at_utc: datetime | None = None,
    *,
    only_if: InboxStatus | None = None,
) -> bool:
    """Set a row's status; with ``only_if``, only while the row still has that status. True when it was set."""
    values = {"status": status.value, "error": error, "processed_utc": at_utc or datetime.now(UTC)}
    if only_if is None:
        execute(session, update_by_id(table_of(InboxRow), tuple(values)), {"b_id": inbox_id, **values})
        matched = True
    else:
        result = execute(session, _MARK_IF, {"b_id": inbox_id, "b_only_if": only_if.value, **values})
        matched = bool(result.rowcount)
    expire_loaded(session, InboxRow, inbox_id)
    return matched


def mark_inbox_failed(sessions: sessionmaker[Session], inbox_id: int, error: str) -> None:
    """Record a failure in its own transaction (used after the processing transaction rolled back).

    Only a row still ``new`` is marked: one that another processor finished meanwhile keeps its result.
    """
    with sessions() as session:
        mark_inbox(session, inbox_id, InboxStatus.FAILED, error, only_if=InboxStatus.NEW)
        session.commit()
