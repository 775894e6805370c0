"""Shared fixtures: real databases (a SQLite file, or PostgreSQL), the packets in tests/data.

``db`` / ``db_url`` are a fresh SQLite file by default. With ``TRACET_TEST_BACKEND=postgresql`` they are a
fresh database on the PostgreSQL server of ``tests.pg_fixture`` instead, so the same storage, pipeline and
ingest tests run on both backends (``make pytest-postgres``); tests marked ``sqlite_only`` are then skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_fixture import pg_server, pg_url  # noqa: F401  (fixtures used through db_url)
from tracet_gui.storage.database import Database

DATA_DIR = Path(__file__).parent / "data"

BACKEND_ENV = "TRACET_TEST_BACKEND"
"""``sqlite`` (default) or ``postgresql``: the backend behind the ``db`` and ``db_url`` fixtures."""


def test_backend() -> str:
    backend = os.environ.get(BACKEND_ENV, "sqlite").strip().lower() or "sqlite"
    if backend not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{BACKEND_ENV} must be sqlite or postgresql, not {backend!r}")
    return backend


test_backend.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if test_backend() != "postgresql":
        return
    skip = pytest.mark.skip(reason=f"SQLite-specific ({BACKEND_ENV}=postgresql)")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database under TRACET_TEST_BACKEND=postgresql."""
    if test_backend() == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A fresh database (see ``db_url``), migrated to head."""
    database = Database.open(db_url)
    yield database
    database.close()
