"""Shared fixtures: real SQLite files, the packets in tests/data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tracet_gui.storage.database import Database

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database file, migrated to head."""
    database = Database.open(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    yield database
    database.close()
