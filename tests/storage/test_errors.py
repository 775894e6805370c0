"""storage_unavailable: "the database cannot be written just now" (retry) versus "this data is wrong" (fail it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from tracet_gui.storage.errors import storage_unavailable

pytestmark = pytest.mark.sqlite_only


def caught(statements: list[str], url: str, setup: list[str] | None = None) -> BaseException:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in setup or []:
                connection.execute(text(statement))
        with pytest.raises(Exception) as info, engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
        return info.value
    finally:
        engine.dispose()


def test_a_lock_held_by_another_process_is_unavailable_not_bad_data(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
        with pytest.raises(OperationalError) as info, engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        engine.dispose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert storage_unavailable(info.value) == "the database is locked by another process"


def test_a_full_database_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    exc = caught(
        ["PRAGMA max_page_count=3", "INSERT INTO t VALUES (randomblob(100000))"],
        url,
        setup=["CREATE TABLE t (x)"],
    )
    assert storage_unavailable(exc) == "the database or disk is full"


def test_bad_data_and_other_errors_are_not_unavailability(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data.sqlite3'}"
    exc = caught(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"], url, setup=["CREATE TABLE t (x UNIQUE)"])
    assert isinstance(exc, IntegrityError) and storage_unavailable(exc) is None
    assert storage_unavailable(ValueError("database is locked")) is None  # not from the database driver


def test_an_unknown_operational_error_is_the_packets_own_failure(tmp_path: Path) -> None:
    exc = caught(["SELECT * FROM no_such_table"], f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert isinstance(exc, OperationalError) and storage_unavailable(exc) is None  # never retried forever
