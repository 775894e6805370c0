from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from tracet_gui.storage.database import Database
from tracet_gui.storage.migrations import alembic_config

EXPECTED_TABLES = {
    "inbox",
    "event",
    "event_group",
    "proposal",
    "proposal_decision",
    "decision_log",
    "observation",
    "broker_log",
    "telescope",
    "telescope_project",
    "operator_action",
}


def test_upgrade_head_then_check_finds_no_drift(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.check(cfg)  # raises if the models and the migrations disagree
    database = Database.open(url)  # opening again is idempotent
    tables = set(inspect(database.engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    database.close()


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    database = Database.open(url, migrate=False)
    assert not (EXPECTED_TABLES & set(inspect(database.engine).get_table_names()))
    database.close()
