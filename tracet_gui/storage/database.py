"""The database handle the other layers use; they never import SQLAlchemy themselves."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.storage.coordination import (
    CHANGES_CHANNEL,
    ChangeListener,
    ChangeNotice,
    EngineLock,
    announce_commits,
    supports_notify,
)
from tracet_gui.storage.engine import make_engine, make_session_factory
from tracet_gui.storage.migrations import upgrade_to_head

__all__ = ["Database", "Session", "SessionFactory"]

SessionFactory = sessionmaker[Session]


class Database:
    """An engine plus a session factory, migrated to the newest schema when opened.

    On PostgreSQL every commit that wrote rows also sends a ``NOTIFY`` on ``tracet_changes`` naming the tables
    it wrote (:func:`~tracet_gui.storage.coordination.announce_commits`): consoles and the engine of a shared
    deployment listen instead of polling.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: SessionFactory = make_session_factory(engine)
        if engine.dialect.name == "postgresql":
            announce_commits(self.sessions)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        engine = make_engine(url)
        if migrate:
            upgrade_to_head(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        """The URL with any password hidden (safe to log)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def announces_changes(self) -> bool:
        """Whether commits here are announced to listeners (PostgreSQL with psycopg); else readers must poll."""
        return supports_notify(self.engine)

    def change_listener(
        self, on_changes: Callable[[list[ChangeNotice]], None], on_connected: Callable[[], None] | None = None
    ) -> ChangeListener | None:
        """A (not yet started) listener for committed changes, or None where changes are not announced."""
        if not self.announces_changes:
            return None
        return ChangeListener(self.engine, [CHANGES_CHANNEL], on_changes, on_connected=on_connected)

    def engine_lock(self) -> EngineLock:
        """The one-engine-per-database lock for this database (not yet taken)."""
        return EngineLock(self.engine)

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()
