"""Alerts through a real `twistd comet` broker into the headless engine: stored once, processed, decided."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.ingest.conftest import BIN, Broker, Daemon, wait_for
from tests.ingest.vtp_author import numbered_packet, send_voevent
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import BrokerLogRow, EventRow, InboxRow, ProposalDecisionRow

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
DATA = Path(__file__).resolve().parents[1] / "data"


def counts(url: str) -> tuple[int, int, int]:
    db = Database.open(url, migrate=False)
    try:
        with db.session() as s:
            inbox = s.scalar(select(func.count(InboxRow.id))) or 0
            processed = s.scalar(select(func.count(InboxRow.id)).where(InboxRow.status != "new")) or 0
            events = s.scalar(select(func.count(EventRow.id))) or 0
        return inbox, processed, events
    finally:
        db.close()


def test_comet_sendvo_events_arrive_once_and_are_decided(broker: Broker, daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--remote", f"127.0.0.1:{broker.broadcast_port}")
    url = daemon.db_url
    db = Database.open(url, migrate=False)

    def connected() -> bool:
        with db.session() as s:
            return s.scalar(select(BrokerLogRow.id).where(BrokerLogRow.state == "connected")) is not None

    wait_for(connected, 20, "the subscription")
    files = ["SWIFT_BAT_GRB_Pos_1093742-465.xml", "SWIFT_XRT_Pos_1093742-588.xml", "SWIFT_short.xml"]
    for name in files:
        subprocess.run(
            [str(BIN / "comet-sendvo"), "--host=127.0.0.1", f"--port={broker.receive_port}", "-f", str(DATA / name)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    # The same packet from a second channel (a file drop) is not stored again.
    subprocess.run(
        [sys.executable, "-m", "tracet_gui", "ingest", str(DATA / files[0]), "--db", url],
        check=True,
        capture_output=True,
        timeout=60,
    )
    wait_for(lambda: counts(url)[1] == 3, 30, "three processed packets")
    assert counts(url) == (3, 3, 3)
    with db.session() as s:
        channels = {row.channel for row in s.scalars(select(InboxRow))}
        assert channels == {"vtp-remote"}
        assert s.scalar(select(InboxRow.duplicate_count).where(InboxRow.ivorn.like("%1093742-465"))) == 1
        decisions = s.scalars(select(ProposalDecisionRow)).all()
        assert decisions, "the default proposals decided about the groups"
    db.close()
    assert daemon.stop() == 0


def test_subscriber_reconnects_after_the_broker_restarts(broker: Broker, daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--remote", f"127.0.0.1:{broker.broadcast_port}")
    url = daemon.db_url
    template = (DATA / "SWIFT00.xml").read_bytes()
    time.sleep(2)
    for n in range(5):
        assert send_voevent("127.0.0.1", broker.receive_port, numbered_packet(template, n, "a")) == "ack"
    wait_for(lambda: counts(url)[1] == 5, 30, "the first five packets")
    broker.stop(signal.SIGKILL)
    time.sleep(1)
    broker.start()
    db = Database.open(url, migrate=False)

    def reconnected() -> bool:
        with db.session() as s:
            states = list(s.scalars(select(BrokerLogRow.state).order_by(BrokerLogRow.id)))
        return "disconnected" in states and states[-1] == "connected"

    wait_for(reconnected, 30, "the subscriber to reconnect")  # capped back-off: seconds, not an hour
    for n in range(5, 10):
        assert send_voevent("127.0.0.1", broker.receive_port, numbered_packet(template, n, "a")) == "ack"
    wait_for(lambda: counts(url)[1] == 10, 30, "the packets sent after the restart")
    assert counts(url) == (10, 10, 10)
    db.close()
    assert daemon.stop() == 0


def test_sigkill_during_a_burst_loses_no_acknowledged_event(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--receive-port", "0")
    url = daemon.db_url
    assert daemon.receive_port is not None
    template = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    acked: list[str] = []
    for n in range(200):
        packet = numbered_packet(template, n, "burst")
        try:
            reply = send_voevent("127.0.0.1", daemon.receive_port, packet, timeout_s=5)
        except OSError:
            break  # the daemon is gone
        if reply == "ack":
            acked.append(packet.split(b'ivorn="')[1].split(b'"')[0].decode())
        if n == 120:
            daemon.stop(signal.SIGKILL)
    assert 100 <= len(acked) <= 121
    restarted = daemon_factory("--receive-port", "0", db_url=url)
    wait_for(lambda: counts(url)[0] == counts(url)[1], 60, "every stored packet to be processed")
    db = Database.open(url, migrate=False)
    with db.session() as s:
        stored = list(s.scalars(select(InboxRow.ivorn)))
        processed = set(s.scalars(select(EventRow.ivorn)))
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(acked) <= set(stored)  # every acknowledged event is there
    assert set(acked) <= processed  # and was processed
    db.close()
    assert restarted.stop() == 0


def test_oversized_and_foreign_packets_are_kept(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--receive-port", "0")
    assert daemon.receive_port is not None
    hess = (DATA / "HESS_test_event.xml").read_bytes()  # role="observe": Comet alone would drop it
    assert send_voevent("127.0.0.1", daemon.receive_port, hess) == "ack"
    big = (DATA / "SWIFT00.xml").read_bytes().replace(b"</What>", b"<!--" + b"x" * 150_000 + b"--></What>")
    assert len(big) > 99_999  # over Comet's default message limit
    assert send_voevent("127.0.0.1", daemon.receive_port, big) == "ack"
    url = daemon.db_url
    wait_for(lambda: counts(url)[1] == 2, 30, "both packets processed")
    db = Database.open(url, migrate=False)
    with db.session() as s:
        rows = s.scalars(select(InboxRow).order_by(InboxRow.id)).all()
        assert [r.channel for r in rows] == ["vtp-author", "vtp-author"]
        assert rows[1].raw == big and rows[1].status == "processed"
    db.close()
    assert daemon.stop() == 0
