"""The engine as a console's child process: ready with its author port, fed, healthy, and stopping with its parent."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.ingest.conftest import wait_for
from tracet_gui.config import Settings
from tracet_gui.ingest.engine_process import EngineProcess, as_fresh_demo_packet, headless_command
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import EventRow, InboxRow

pytestmark = [pytest.mark.reliability]
DATA = Path(__file__).resolve().parents[1] / "data"
DEMO_MALFORMED = Path(__file__).resolve().parents[2] / "resources" / "demo" / "15_Swift_unknown_fail.xml"


@pytest.fixture
def child_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


def inbox_statuses(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(InboxRow.status)))


def events(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(EventRow.ivorn)))


def test_child_engine_takes_demo_packets_publishes_health_and_stops_with_its_parent(
    db: Database, child_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(Settings(db_url=db.url), receive_port=0)
    engine = EngineProcess(settings, db)
    engine.start()
    try:
        assert engine.wait_ready() and engine.receive_port
        raw = (DATA / "SWIFT00.xml").read_bytes()
        engine.publish_demo(raw)
        wait_for(lambda: len(events(db)) == 1, 60, "the demo packet stored and processed")
        assert events(db)[0].endswith(engine._tag.decode())  # a fresh IVORN, never a duplicate of a real one
        # The demo feed's malformed packet: kept as failed, and said so in one line (no traceback).
        with caplog.at_level(logging.WARNING, logger="tracet_gui.ingest.engine_process"):
            engine.publish_demo(DEMO_MALFORMED.read_bytes())
            wait_for(lambda: inbox_statuses(db).count("failed") == 1, 60, "the malformed demo packet kept as failed")
            wait_for(lambda: "demo packet" in caplog.text, 10, "the demo sender's word on it")
        said = [r for r in caplog.records if "demo packet" in r.getMessage()]
        assert [r.levelno for r in said] == [logging.WARNING] and said[0].exc_info is None
        assert "kept in the inbox as failed" in said[0].getMessage()
        wait_for(lambda: any(h.connection.startswith("author-port") for h in engine.health()), 30, "feed health")
        author = next(h for h in engine.health() if h.connection.startswith("author-port"))
        assert author.state == "listening" and author.engine.endswith(
            f"pid {engine.pid} on " + author.engine.split(" on ")[-1]
        )
        # The parent goes away: its end of the pipe closes, and the child stops cleanly by itself.
        assert engine._process is not None and engine._process.stdin is not None
        engine._process.stdin.close()
        assert engine._process.wait(timeout=60) == 0
        assert {h.state for h in engine.health()} == {"stopped"}
    finally:
        engine.stop()


def test_a_second_child_engine_on_the_same_database_exits_and_says_why(db: Database, child_env: None) -> None:
    first = EngineProcess(db_settings := Settings(db_url=db.url), db)
    first.start()
    try:
        assert first.wait_ready()
        second = EngineProcess(db_settings, db)
        second.start()
        assert not second.wait_ready()
        ended = second.stop()
        assert ended is not None and ended.status == 2
        assert "another tracet-gui engine is already running" in ended.stderr_tail
    finally:
        first.stop()


def test_demo_ivorns_keep_what_the_parser_reads() -> None:
    lvc = (DATA / "LVC_real_preliminary.xml").read_bytes()
    fresh = as_fresh_demo_packet(lvc, b"demoX")
    assert b'ivorn="ivo://gwnet/LVC#S230518h-1-demoX-Preliminary"' in fresh  # the alert type stays last
    swift = as_fresh_demo_packet((DATA / "SWIFT00.xml").read_bytes(), b"demoX")
    assert b'-demoX"' in swift


def test_the_child_command_carries_the_consoles_settings(tmp_path: Path) -> None:
    settings = replace(
        Settings(db_url="sqlite:///x.sqlite3"),
        receive_port=0,
        telescope_base_url="http://127.0.0.1:1",
        simulator_credentials=True,
    )
    command = headless_command(settings, tmp_path / "c.toml")
    joined = " ".join(command[command.index("headless") :])
    assert joined == (
        f"headless --db sqlite:///x.sqlite3 --stop-on-stdin-eof --config {tmp_path / 'c.toml'} --receive-port 0 "
        "--telescope-url http://127.0.0.1:1 --simulator-credentials"
    )
