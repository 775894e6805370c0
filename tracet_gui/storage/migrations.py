"""Alembic runner: the schema is migrated to head at every start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from tracet_gui.storage.coordination import hold_migration_lock


def database_dir() -> Path:
    """The Alembic environment: ``database/`` in a checkout, ``tracet_gui/_database`` in a wheel."""
    package_dir = Path(__file__).resolve().parents[1]
    for candidate in (package_dir / "_database", package_dir.parent / "database"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("Alembic environment (database/env.py) not found next to the package")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(database_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database schema to the newest migration (idempotent)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        hold_migration_lock(connection)  # PostgreSQL: processes starting together migrate one at a time
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
