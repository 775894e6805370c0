"""`tracet-gui headless` as a real subprocess: no Qt, clean stop on SIGTERM/SIGINT, nothing ACKed ever lost."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.ingest.conftest import Daemon, wait_for
from tests.ingest.vtp_author import numbered_packet, send_voevent
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import EventRow, InboxRow

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
DATA = Path(__file__).resolve().parents[1] / "data"
IVORN = re.compile(rb'ivorn="([^"]+)"')
BURST = 200
SENDERS = 4

QT_BLOCKER = """
import os, pathlib
pathlib.Path(os.environ["TRACET_TEST_QT_MARKER"]).write_text(__name__)
raise ImportError("Qt must not be imported by tracet-gui headless")
"""


def ivorn_of(packet: bytes) -> str:
    match = IVORN.search(packet)
    assert match is not None
    return match.group(1).decode()


def inbox_rows(url: str) -> list[tuple[str | None, bytes, str]]:
    db = Database.open(url, migrate=False)
    try:
        with db.session() as s:
            return [(r.ivorn, r.raw, r.status) for r in s.scalars(select(InboxRow).order_by(InboxRow.id))]
    finally:
        db.close()


def event_ivorns(url: str) -> list[str]:
    db = Database.open(url, migrate=False)
    try:
        with db.session() as s:
            return list(s.scalars(select(EventRow.ivorn)))
    finally:
        db.close()


def burst(port: int, packets: list[bytes], interrupt_after_acks: int, interrupt: Callable[[], None]) -> list[bytes]:
    """Send ``packets`` from several concurrent authors; call ``interrupt`` once, mid-burst, while sends are in
    flight. Returns the packets the daemon ACKed (refused or cut connections are simply not ACKed)."""
    acked: list[bytes] = []
    lock = threading.Lock()
    remaining = list(reversed(packets))
    threshold = threading.Event()

    def author() -> None:
        while True:
            with lock:
                if not remaining:
                    return
                packet = remaining.pop()
            try:
                reply = send_voevent("127.0.0.1", port, packet, timeout_s=10)
            except OSError:
                continue  # the daemon went away (or is going): this one was not acknowledged
            if reply == "ack":
                with lock:
                    acked.append(packet)
                    if len(acked) >= interrupt_after_acks:
                        threshold.set()

    authors = [threading.Thread(target=author, name=f"author-{k}") for k in range(SENDERS)]
    for t in authors:
        t.start()
    threshold.wait(60)
    interrupt()  # the other authors keep sending while the daemon dies or stops
    for t in authors:
        t.join(60)
    return acked


def burst_packets(tag: str) -> list[bytes]:
    template = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    return [numbered_packet(template, n, tag) for n in range(BURST)]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_headless_runs_without_qt_and_stops_cleanly(
    tmp_path: Path, daemon_factory: Callable[..., Daemon], stop_signal: signal.Signals
) -> None:
    blocker = tmp_path / "no-qt"
    for name in ("PySide6", "shiboken6"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(QT_BLOCKER)
    marker = tmp_path / "qt-was-imported"
    daemon = daemon_factory(
        "--receive-port", "0", env={"PYTHONPATH": str(blocker), "TRACET_TEST_QT_MARKER": str(marker)}
    )
    assert daemon.receive_port is not None
    packet = (DATA / "SWIFT00.xml").read_bytes()
    assert send_voevent("127.0.0.1", daemon.receive_port, packet) == "ack"
    wait_for(lambda: [s for _, _, s in inbox_rows(daemon.db_url)] == ["processed"], 30, "the packet processed")
    assert daemon.stop(stop_signal) == 0
    assert not marker.exists(), f"headless imported {marker.read_text()}"
    logs = list((daemon.workdir / "state").rglob("tracet-gui.log"))  # the user log dir (XDG state home)
    assert len(logs) == 1
    text = logs[0].read_text()
    assert f"signal {int(stop_signal)}: stopping" in text and "stopped cleanly" in text
    assert "stopped cleanly" in (daemon.workdir / "daemon.err").read_text()  # and on stderr


def test_sigterm_mid_burst_finishes_everything_it_accepted(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--receive-port", "0")
    assert daemon.receive_port is not None and daemon.process is not None
    process = daemon.process
    acked = burst(daemon.receive_port, burst_packets("term"), BURST // 3, lambda: process.send_signal(signal.SIGTERM))
    assert process.wait(timeout=60) == 0
    rows = inbox_rows(daemon.db_url)
    stored = {ivorn: raw for ivorn, raw, _ in rows}
    assert len(stored) == len(rows)  # nothing twice
    assert all(stored.get(ivorn_of(p)) == p for p in acked)  # every ACKed packet, byte for byte
    assert [ivorn for ivorn, _, status in rows if status == "new"] == []  # a clean stop processed all it stored
    assert {ivorn_of(p) for p in acked} <= set(event_ivorns(daemon.db_url))


def test_sigkill_mid_burst_loses_no_acknowledged_event(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--receive-port", "0")
    assert daemon.receive_port is not None and daemon.process is not None
    process = daemon.process
    acked = burst(daemon.receive_port, burst_packets("kill"), BURST // 2, process.kill)
    process.wait(timeout=30)
    assert BURST // 2 <= len(acked) < BURST  # killed mid-burst: some packets were never acknowledged
    restarted = daemon_factory("--receive-port", "0", db_url=daemon.db_url)
    url = daemon.db_url
    wait_for(lambda: all(status != "new" for _, _, status in inbox_rows(url)), 60, "every stored row processed")
    rows = inbox_rows(url)
    stored = {ivorn: raw for ivorn, raw, _ in rows}
    assert len(stored) == len(rows)  # nothing twice
    assert all(stored.get(ivorn_of(p)) == p for p in acked)  # every ACKed packet, whole
    processed = event_ivorns(url)
    assert len(processed) == len(set(processed))  # each processed once
    assert {ivorn_of(p) for p in acked} <= set(processed)
    assert restarted.stop() == 0
