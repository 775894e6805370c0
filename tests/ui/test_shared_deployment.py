"""A shared deployment on one PostgreSQL database: one `tracet-gui headless` engine, two viewer consoles.

The engine is the real subprocess, fed through its VTP author port and triggering a local telescope simulator;
the consoles are real main windows in viewer mode, woken by LISTEN/NOTIFY (their safety-net poll is 30 s, far
longer than any wait here, so a console that follows within seconds was told by a notice, not by polling).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from tests.ingest.conftest import Daemon, daemon_factory  # noqa: F401  (fixture)
from tests.ingest.vtp_author import send_voevent
from tests.pg_fixture import pg_server, pg_url  # noqa: F401  (fixtures)
from tracet_gui.app import import_proposals
from tracet_gui.config import Settings
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage import views as v
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import DecisionLogRow, ObservationRow, OperatorActionRow, ProposalDecisionRow
from tracet_gui.telescopes.simulator import TelescopeSimulator
from tracet_gui.ui.main_window import MainWindow, take_engine_role
from tracet_gui.ui.watcher import LISTENING_POLL_INTERVAL_MS

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.reliability]

DATA = Path(__file__).resolve().parents[1] / "data"
WAIT_MS = 15_000
"""Upper bound on waiting for a console to follow the engine: half the viewers' safety-net poll interval."""
assert WAIT_MS < LISTENING_POLL_INTERVAL_MS


def fresh_short_grb() -> bytes:
    """SWIFT_short.xml dated now (a 1.096 s burst: the ATCA GRB proposal waits for a human's decision)."""
    raw = (DATA / "SWIFT_short.xml").read_bytes()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", now.encode(), raw)


def _log_of(db: Database, decision_id: int) -> str:
    with db.session() as s:
        rows = s.scalars(select(DecisionLogRow).where(DecisionLogRow.decision_id == decision_id))
        return "\n".join(r.text for r in rows)


@pytest.fixture
def shared_db(pg_url: str) -> Iterator[Database]:  # noqa: F811
    db = Database.open(pg_url)
    import_proposals(db, (DATA / "proposals" / "replay_atca_grb.yaml").read_text(), "tester", "test")
    yield db
    db.close()


@pytest.fixture
def console(qtbot: Any, shared_db: Database, tmp_path: Path) -> Iterator[Callable[[str], MainWindow]]:
    opened: list[tuple[MainWindow, Database]] = []

    def open_console(operator: str) -> MainWindow:
        db = Database.open(shared_db.engine.url.render_as_string(hide_password=False), migrate=False)
        qsettings = QSettings(str(tmp_path / f"{operator}.ini"), QSettings.Format.IniFormat)
        settings = Settings(db_url=db.url, operator=operator)
        window = MainWindow(settings, db, None, qsettings=qsettings, viewer_note="the shared engine decides")
        window.show()
        window.start()
        opened.append((window, db))
        qtbot.waitUntil(lambda: window.watcher.listening, timeout=WAIT_MS)
        return window

    yield open_console
    for window, db in opened:
        window.stop()
        window.close()
        window.deleteLater()
        db.close()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_two_consoles_follow_one_engine_and_an_override_runs_once(
    qtbot: Any,
    shared_db: Database,
    console: Callable[[str], MainWindow],
    daemon_factory: Callable[..., Daemon],  # noqa: F811
    tmp_path: Path,
) -> None:
    config = tmp_path / "daemon" / "config" / "tracet-gui" / "config.toml"  # the engine's XDG config home
    config.parent.mkdir(parents=True)
    config.write_text('atca_email = "observer@example.org"\n')
    with TelescopeSimulator(port=0) as simulator:
        url = shared_db.engine.url.render_as_string(hide_password=False)
        engine = daemon_factory(
            "--receive-port", "0", "--telescope-url", simulator.base_url, "--simulator-credentials", db_url=url
        )
        assert engine.receive_port is not None
        # The engine holds the database: a console that would run its own engine is told to be a viewer.
        lock, why = take_engine_role(shared_db)
        assert lock is None and "another engine runs against this database" in why and "tracet-gui engine" in why
        alice, bob = console("alice"), console("bob")
        assert alice.status_engine.text() == "viewer: live via LISTEN/NOTIFY"
        assert alice.status_engine.toolTip().startswith("the shared engine decides.")

        packet = fresh_short_grb()
        assert send_voevent("127.0.0.1", engine.receive_port, packet) == "ack"
        for window in (alice, bob):  # the event and its pending decision appear in both consoles
            qtbot.waitUntil(lambda w=window: w.dashboard.pending_model.total == 1, timeout=WAIT_MS)
            qtbot.waitUntil(lambda w=window: "Needs a human: 1 decision" in w.dashboard.pending_title.text())
            window.show_page(2)
            qtbot.waitUntil(lambda w=window: w.events.model.rowCount() == 1, timeout=WAIT_MS)
            assert window.events.model.record(0).ivorn == peek_ivorn(packet)
            # notices come in batches (LISTEN_BATCH_WINDOW_S): the connection's own poll may have read first
            qtbot.waitUntil(lambda w=window: w.watcher.notice_batches > 0, timeout=WAIT_MS)

        alice.show_page(0)  # the dashboard's pending list: the decision the operator is looking at
        decision = alice.current_decision()
        assert decision is not None and decision.decision == "P"
        alice.overrides.confirm = lambda _override: (True, "alice", "short and bright")  # type: ignore[method-assign]
        alice._trigger(decision)

        # Executed by the engine, once; bob sees the triggered decision and the observation without polling.
        qtbot.waitUntil(lambda: bob.dashboard.pending_model.total == 0, timeout=WAIT_MS)
        bob.show_page(4)
        qtbot.waitUntil(lambda: bob.observations.model.rowCount() == 1, timeout=WAIT_MS)
        assert bob.observations.model.record(0).telescope == "ATCA"
        shown = v.DECISIONS.fetch_ids(bob.sessions, v.DecisionFilter(), [decision.decision_id])
        assert [d.decision for d in shown] == ["T"], _log_of(shared_db, decision.decision_id)
        time.sleep(2.5)  # two idle scans of the engine: a second execution would show now
        with shared_db.session() as s:
            action = s.scalars(select(OperatorActionRow).where(OperatorActionRow.action == "trigger")).one()
            assert (action.operator, action.executed_utc is not None) == ("alice", True)
            assert s.get_one(ProposalDecisionRow, decision.decision_id).decision == "T"
            assert len(s.scalars(select(ObservationRow)).all()) == 1
            user_lines = [
                r.text
                for r in s.scalars(select(DecisionLogRow).where(DecisionLogRow.decision_id == decision.decision_id))
                if "decided to trigger" in r.text
            ]
            assert user_lines == ["User alice decided to trigger. Comment: short and bright"]
        atca_requests = [r for r in simulator.received() if r.get("protocol") == "atca"]
        assert len(atca_requests) == 1

        # The viewers show the engine's feed health as the engine publishes it (every 5 s), and see it stop.
        def packet_published() -> bool:
            return any(h.name.startswith("author-port") and h.last_packet_utc for h in bob._published_health())

        qtbot.waitUntil(packet_published, timeout=WAIT_MS)
        health = bob._published_health()
        assert (health[0].name, health[0].state) == ("engine", "running")
        assert f"pid {engine.process.pid if engine.process else -1} " in health[0].detail
        author = next(h for h in health if h.name.startswith("author-port"))
        assert author.state == "listening" and author.last_packet_utc is not None
        assert engine.stop() == 0
        health = alice._published_health()
        assert (health[0].name, health[0].state) == ("engine", "stopped")
        assert all(h.state == "stopped" for h in health[1:])
