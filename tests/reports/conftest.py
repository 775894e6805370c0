"""Report tests share one database filled by replaying every supplied packet (``tracet-gui replay``)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the PDF test renders with Qt, without a display

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracet_gui.storage.database import Database

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def replay_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the groups, decisions and (recorded, pretend) observations of the supplied packets."""
    url = f"sqlite:///{tmp_path_factory.mktemp('replay') / 'replay.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "replay", str(DATA_DIR), "--db", url, "--as-observed"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture
def replay_db(replay_db_url: str) -> Iterator[Database]:
    database = Database.open(replay_db_url)
    yield database
    database.close()
