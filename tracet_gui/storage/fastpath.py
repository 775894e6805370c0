"""Prepared Core statements for the pipeline's hot path (one packet, one transaction).

The ORM's unit of work, and even ``Session.execute`` of a freshly built statement, cost 100–200 µs of Python
per statement (statement construction, cache-key generation, ORM compile state); a statement built once and
executed on the session's connection costs 25–40 µs. The values written are the same: Core applies the column
types (``UtcDateTime``, JSON) exactly as the ORM does.

After a Core UPDATE the session may still hold the row as an ORM object with the old values:
:func:`expire_loaded` makes it reload on next access.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import Update

_UPDATES: dict[tuple[str, tuple[str, ...]], Update] = {}


def table_of(model: type[Any]) -> Table:
    """The ``Table`` of a mapped class (typed as such)."""
    return cast(Table, model.__table__)


def execute(session: Session, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
    """Run a Core statement on the session's connection (inside its transaction)."""
    result: CursorResult[Any] = session.connection().execute(statement, params)
    return result


def update_by_id(table: Table, columns: Sequence[str]) -> Update:
    """``UPDATE table SET <columns> WHERE id = :b_id`` (parameters named as the columns), built once."""
    key = (table.name, tuple(columns))
    statement = _UPDATES.get(key)
    if statement is None:
        statement = update(table).where(table.c.id == bindparam("b_id")).values({c: bindparam(c) for c in columns})
        _UPDATES[key] = statement
    return statement


def expire_loaded(session: Session, model: type[Any], pk: int) -> None:
    """Forget a row the session may hold in memory after a Core UPDATE changed it behind the ORM's back."""
    loaded = session.identity_map.get(identity_key(model, pk))
    if loaded is not None:
        session.expire(loaded)
