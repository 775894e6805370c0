"""UI tests run offscreen with pytest-qt; each gets a fresh SQLite file."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.builders import Built, build
from tracet_gui.storage.database import Database


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    database = Database.open(f"sqlite:///{tmp_path / 'ui.sqlite3'}")
    try:
        yield build(database)
    finally:
        database.close()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QSettings and the alarm preferences go to the test's own directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
