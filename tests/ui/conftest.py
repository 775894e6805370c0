"""UI tests run offscreen with pytest-qt; each gets a fresh SQLite file."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication

from tests.ui.builders import Built, build
from tracet_gui.config import Settings
from tracet_gui.storage.database import Database
from tracet_gui.ui.main_window import MainWindow


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    database = Database.open(f"sqlite:///{tmp_path / 'ui.sqlite3'}")
    try:
        yield build(database)
    finally:
        database.close()


@pytest.fixture
def window(qtbot: Any, built: Built, tmp_path: Path) -> Iterator[MainWindow]:
    """A console that is not started: no timer polls or reads behind the test's back."""
    qsettings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    w = MainWindow(Settings(db_url=built.db.url, operator="night-op"), built.db, qsettings=qsettings)
    w.show()
    yield w
    w.stop()
    w.close()
    w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QSettings and the alarm preferences go to the test's own directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
