"""Prepared Core statements for the pipeline's hot path (one packet, one transaction).

The ORM's unit of work, and even ``Session.execute`` of a freshly built statement, cost 100–200 µs of Python
per statement (statement construction, cache-key generation, ORM compile state); a statement built once and
executed on the session's connection costs 25–40 µs. The values written are the same: Core applies the column
types (``UtcDateTime``, JSON) exactly as the ORM does.

On SQLite a statement marked :func:`prepared` goes one step further (:func:`run`): it is compiled once per set of
parameter names, by SQLAlchemy, for the connection's dialect, and each call sends that SQL with the values passed
through the same columns' bind processors straight to the driver's cursor, in the connection's transaction
(begun first if none is); rows that come back (a SELECT's, RETURNING's) go through the columns' result
processors. That skips SQLAlchemy's execution context, ~70 µs a statement warm and several times that when a
packet arrives after a pause (13 statements a packet). A driver error is raised as SQLAlchemy would raise it
(``DBAPIError.instance``: ``IntegrityError``, ``OperationalError``, a lost connection marked as such), so
:mod:`tracet_gui.storage.errors` reads it the same. Whatever this does not cover — other databases (where
``announce_commits`` must see every write), a column default computed by a function, IN lists, statements built
per call — runs through SQLAlchemy as before. Unlike SQLAlchemy's, a RETURNING statement with several parameter
sets is sent once per set: if one fails, the earlier ones stay in the transaction (every caller rolls it back).
The direct statements are not seen by SQLAlchemy's ``before/after_cursor_execute`` events.

After a Core UPDATE the session may still hold the row as an ORM object with the old values:
:func:`expire_loaded` makes it reload on next access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy import Connection, Select, Table, bindparam, update
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import Update, UpdateBase

_UPDATES: dict[tuple[str, tuple[str, ...]], Update] = {}


def table_of(model: type[Any]) -> Table:
    """The ``Table`` of a mapped class (typed as such)."""
    return cast(Table, model.__table__)


Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def execute(session: Session, statement: Any, params: Params) -> Any:
    """Run a Core statement on the session's connection (inside its transaction): :func:`run`."""
    return run(session.connection(), statement, params)


def run(connection: Connection, statement: Any, params: Params) -> Any:
    """Run a Core statement on ``connection``; a :func:`prepared` one on SQLite straight on the driver's cursor.

    The result offers what the callers use of SQLAlchemy's: iteration over the rows (by index or by column
    name), ``first()``, ``one()``, ``all()``, ``scalars()``, ``scalar_one()``, ``rowcount``. Several parameter
    sets: one statement per set, as SQLAlchemy sends them (one ``executemany`` without RETURNING)."""
    known = _PREPARED.get(id(statement))
    if known is statement and known is not None and connection.dialect.name == "sqlite":
        rows = [params] if isinstance(params, Mapping) else list(params)
        if rows:  # (a SELECT is always called with one mapping)
            names = tuple(rows[0])
            direct = _direct(known, connection.dialect, names)
            if direct is not None and all(row.keys() == rows[0].keys() for row in rows):
                if not connection.in_transaction():
                    connection.begin()  # as SQLAlchemy's autobegin: the caller's commit() then commits this
                return direct.run(connection, rows)
    result: CursorResult[Any] = connection.execute(statement, params)
    return result


_PREPARED: dict[int, Executable] = {}
"""Statements built once (module constants, :func:`update_by_id`) and so safe to compile once: by id."""

_Statement = TypeVar("_Statement", bound=Executable)


def prepared(statement: _Statement) -> _Statement:
    """Mark an INSERT/UPDATE/SELECT built once and kept for the life of the process as one :func:`run` may send
    straight to the driver (its compiled form is kept under its id, so it must never be freed)."""
    _PREPARED[id(statement)] = statement
    return statement


_GIVEN: Any = object()
"""In :attr:`_Direct.binds`: the value comes from the call's parameters."""


class _Row(tuple[Any, ...]):
    """A RETURNING row: by index, or by column name (``row.id``)."""

    __slots__ = ()
    columns: ClassVar[dict[str, int]] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[type(self).columns[name]]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class DirectResult:
    rows: list[_Row]
    rowcount: int
    """Rows changed, for a statement that returns no rows (-1 otherwise)."""

    def __iter__(self) -> Iterator[_Row]:
        return iter(self.rows)

    def all(self) -> list[_Row]:
        return self.rows

    def first(self) -> _Row | None:
        return self.rows[0] if self.rows else None

    def one(self) -> _Row:
        if len(self.rows) != 1:
            raise NoResultFound("no row") if not self.rows else MultipleResultsFound("more than one row")
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


@dataclass(frozen=True, slots=True)
class _Direct:
    """One INSERT/UPDATE/SELECT compiled by SQLAlchemy for one set of parameter names."""

    sql: str
    binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]
    """Per ``?`` in order: (parameter name, the column default's value or _GIVEN, the type's bind processor)."""
    row_type: type[_Row] | None
    """Rows (a SELECT's, RETURNING's) are built as this; None: the statement returns none."""
    convert: tuple[Callable[[Any], Any] | None, ...] | None
    """Per returned column, the type's result processor (e.g. text → aware datetime); None: no column has one."""

    def row(self, values: tuple[Any, ...]) -> _Row:
        assert self.row_type is not None
        if self.convert is None:
            return self.row_type(values)
        return self.row_type(v if f is None else f(v) for f, v in zip(self.convert, values, strict=True))

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, default, process in self.binds:
            value = row[name] if default is _GIVEN else default
            out.append(value if process is None else process(value))
        return tuple(out)

    def run(self, connection: Connection, rows: list[Mapping[str, Any]]) -> DirectResult:
        try:
            values = [self.values(row) for row in rows]
        except Exception as exc:  # a value a column type refuses (a naive datetime): as SQLAlchemy reports it
            raise StatementError(f"({type(exc).__module__}.{type(exc).__name__}) {exc}", self.sql, rows, exc) from exc
        cursor = connection.connection.cursor()
        try:
            if self.row_type is None:
                if len(values) == 1:
                    cursor.execute(self.sql, values[0])
                else:
                    cursor.executemany(self.sql, values)
                return DirectResult([], cursor.rowcount)
            returned: list[_Row] = []
            for v in values:  # the driver's executemany returns no rows
                cursor.execute(self.sql, v)
                returned.extend(self.row(r) for r in cursor.fetchall())
            return DirectResult(returned, -1)
        except connection.dialect.loaded_dbapi.Error as exc:
            dialect = connection.dialect
            lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                self.sql, rows, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
            ) from exc
        finally:
            cursor.close()


_DIRECT: dict[tuple[int, int, tuple[str, ...]], tuple[Dialect, _Direct | None]] = {}
"""(id of a :func:`prepared` statement, id of the dialect, parameter names) → (the dialect, how to send it; None:
through SQLAlchemy). Each engine's dialect compiles its own; kept here, it cannot be freed and its id reused."""


def _direct(statement: Executable, dialect: Dialect, names: tuple[str, ...]) -> _Direct | None:
    key = (id(statement), id(dialect), names)
    cached = _DIRECT.get(key)
    if cached is not None and cached[0] is dialect:
        return cached[1]
    found = _compile_direct(statement, dialect, names)
    _DIRECT[key] = (dialect, found)  # a race only compiles it twice
    return found


def _compile_direct(statement: Executable, dialect: Dialect, names: tuple[str, ...]) -> _Direct | None:
    if not isinstance(statement, UpdateBase | Select):
        return None
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(names))
    if compiled.positiontup is None or compiled.insert_prefetch or compiled.update_prefetch:
        return None  # named parameters, or a default SQLAlchemy computes per row (a function): leave it to it
    if "POSTCOMPILE" in compiled.string:
        return None  # parameters SQLAlchemy renders per call (IN lists, literal_execute)
    binds: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in names:
            binds.append((name, _GIVEN, process))
        elif bind.callable is None and not bind.required:
            binds.append((name, bind.value, process))  # a column's constant default, rendered as a parameter
        else:
            return None
    if isinstance(statement, Select):
        keys, types = list(statement.selected_columns.keys()), [c.type for c in statement.selected_columns]
    else:
        keys, types = [c.key for c in compiled.returning or ()], [c.type for c in compiled.returning or ()]
    if not keys:
        return _Direct(compiled.string, tuple(binds), None, None)
    convert = tuple(t.dialect_impl(dialect).result_processor(dialect, None) for t in types)
    row_type = type("DirectRow", (_Row,), {"__slots__": (), "columns": {k: i for i, k in enumerate(keys)}})
    return _Direct(compiled.string, tuple(binds), row_type, convert if any(convert) else None)


def update_by_id(table: Table, columns: Sequence[str]) -> Update:
    """``UPDATE table SET <columns> WHERE id = :b_id`` (parameters named as the columns), built once."""
    key = (table.name, tuple(columns))
    statement = _UPDATES.get(key)
    if statement is None:
        statement = update(table).where(table.c.id == bindparam("b_id")).values({c: bindparam(c) for c in columns})
        _UPDATES[key] = prepared(statement)
    return statement


def expire_loaded(session: Session, model: type[Any], pk: int) -> None:
    """Forget a row the session may hold in memory after a Core UPDATE changed it behind the ORM's back."""
    loaded = session.identity_map.get(identity_key(model, pk))
    if loaded is not None:
        session.expire(loaded)
