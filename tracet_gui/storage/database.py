"""The database handle the other layers use; they never import SQLAlchemy themselves."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.storage.engine import make_engine, make_session_factory
from tracet_gui.storage.migrations import upgrade_to_head

__all__ = ["Database", "Session", "SessionFactory"]

SessionFactory = sessionmaker[Session]


class Database:
    """An engine plus a session factory, migrated to the newest schema when opened."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: SessionFactory = make_session_factory(engine)

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

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()
