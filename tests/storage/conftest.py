"""Storage fixtures: ``any_db`` runs a test once on SQLite and once on PostgreSQL (skipped without a server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_fixture import pg_server, pg_url  # noqa: F401  (fixtures used by this directory's tests)
from tracet_gui.storage.database import Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'any.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def any_db(any_db_url: str) -> Iterator[Database]:
    """A fresh database migrated to head, on SQLite and on PostgreSQL."""
    database = Database.open(any_db_url)
    yield database
    database.close()
