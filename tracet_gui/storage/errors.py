"""Telling "the database cannot be written just now" apart from "this data is wrong".

A locked SQLite file, a full disk or a lost PostgreSQL connection say nothing about the packet being stored
or processed: the work must wait and be retried, never be marked failed. Other layers ask
:func:`storage_unavailable` instead of importing SQLAlchemy's exceptions.

Only errors known to be about the database's state count: any other error fails the packet at hand (a packet
that always failed the same way would otherwise hold up every packet after it).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

_SQLITE_MESSAGES = (
    ("database is locked", "the database is locked by another process"),
    ("database table is locked", "the database is locked by another process"),
    ("database or disk is full", "the database or disk is full"),
    ("disk i/o error", "disk I/O error"),
    ("unable to open database file", "the database file cannot be opened"),
    ("attempt to write a readonly database", "the database file is read-only"),
)

_SQLSTATE_CLASSES = {
    "08": "lost the connection to the database server",
    "40": "the database server rolled the transaction back (conflict)",
    "53": "the database server is out of resources (disk full?)",
    "57": "the database server is shutting down or restarting",
}


def storage_unavailable(exc: BaseException) -> str | None:
    """A short operator message when ``exc`` means the database cannot be used for now (retry later), else None."""
    if not isinstance(exc, DBAPIError):
        return None
    if exc.connection_invalidated:
        return "lost the connection to the database"
    original = exc.orig
    sqlstate = _sqlstate(exc)
    if sqlstate is not None:
        if sqlstate == "55P03":
            return "the database is locked by another session"
        return _SQLSTATE_CLASSES.get(sqlstate[:2])
    lowered = str(original).lower()
    for needle, message in _SQLITE_MESSAGES:
        if needle in lowered:
            return message
    return None


def database_error(exc: BaseException) -> bool:
    """True when ``exc`` came from the database (a failed statement may have aborted the transaction)."""
    return isinstance(exc, DBAPIError)


def lost_a_race(exc: BaseException) -> bool:
    """A concurrent writer committed one of the same rows first (unique constraint), or the server rolled this
    transaction back to end a conflict with it (PostgreSQL, SQLSTATE class 40): trying again may succeed."""
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = _sqlstate(exc)
    return sqlstate is not None and sqlstate.startswith("40")


def _sqlstate(exc: DBAPIError) -> str | None:
    """The server's five-character SQLSTATE of the driver's error (psycopg's ``sqlstate``, psycopg2's
    ``pgcode``); None when the driver gives none (SQLite)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate if isinstance(sqlstate, str) and len(sqlstate) == 5 else None
