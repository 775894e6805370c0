"""Alerts through a real `twistd comet` broker into the headless engine: stored once, processed, decided."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.ingest.conftest import BIN, Broker, Daemon, free_port, wait_for
from tests.ingest.vtp_author import new_trigger_packet, numbered_packet, send_voevent
from tracet_gui.ingest.vtp import TRANSPORT_MAX_BYTES
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import BrokerLogRow, EventRow, InboxRow, ProposalDecisionRow

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
DATA = Path(__file__).resolve().parents[1] / "data"


def relay_main(db_url: str) -> None:
    """Subprocess body: our VTP service with an author port and rebroadcasting (the reactor needs a process)."""
    from collections.abc import Sequence

    from tracet_gui.ingest.health import HealthRegistry
    from tracet_gui.ingest.vtp import VtpService, VtpSettings, stop_reactor
    from tracet_gui.storage.inbox import RawPacket, StoredPacket, store_raw_packets

    db = Database.open(db_url)

    def store(packets: Sequence[RawPacket]) -> list[StoredPacket]:
        return store_raw_packets(db.sessions, packets)

    settings = VtpSettings((), 0, ("127.0.0.0/8",), "ivo://test/relay", 1_048_576, broadcast_port=0)
    service = VtpService(settings, HealthRegistry(), store)
    service.start()
    print(f"READY {service.receive_port} {service.broadcast_port}", flush=True)
    while service.local_subscriber_count() == 0:
        time.sleep(0.1)
    print("SUBSCRIBED", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    service.stop()
    stop_reactor()
    db.close()


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
    daemon.wait_subscribed()
    db = Database.open(url, migrate=False)
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


BURST = 300
AUTHORS = 4


def test_a_burst_through_the_broker_is_stored_and_decided_exactly_once(
    broker: Broker, daemon_factory: Callable[..., Daemon]
) -> None:
    """Packets pushed by several concurrent authors, relayed by the broker as fast as it can: each one is in the
    inbox once, processed once, and gets its own event (bench/burst_throughput.py measures the same at scale)."""
    daemon = daemon_factory("--remote", f"127.0.0.1:{broker.broadcast_port}")
    url = daemon.db_url
    daemon.wait_subscribed()
    db = Database.open(url, migrate=False)
    template = (DATA / "SWIFT_BAT_GRB_Pos_1093742-465.xml").read_bytes()
    packets = [new_trigger_packet(template, n, "burst") for n in range(BURST)]
    sent = {peek_ivorn(p) for p in packets}
    replies: list[str] = []

    def author(share: list[bytes]) -> None:
        replies.extend(send_voevent("127.0.0.1", broker.receive_port, p) for p in share)

    authors = [threading.Thread(target=author, args=(packets[k::AUTHORS],)) for k in range(AUTHORS)]
    for t in authors:
        t.start()
    for t in authors:
        t.join(60)
    assert replies == ["ack"] * BURST
    wait_for(lambda: counts(url)[1] >= BURST, 60, "every packet processed")
    with db.session() as s:
        inbox = s.execute(select(InboxRow.id, InboxRow.ivorn, InboxRow.status, InboxRow.duplicate_count)).all()
        events = s.execute(select(EventRow.inbox_id, EventRow.ivorn)).all()
    db.close()
    assert sorted(r.ivorn for r in inbox) == sorted(sent)  # every one, once, nothing else
    assert {r.status for r in inbox} == {"processed"} and {r.duplicate_count for r in inbox} == {0}
    assert sorted(e.inbox_id for e in events) == sorted(r.id for r in inbox)  # one event per packet
    assert sorted(e.ivorn for e in events) == sorted(sent)
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


def test_oversized_and_foreign_packets_are_kept(daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory("--receive-port", "0")
    assert daemon.receive_port is not None
    hess = (DATA / "HESS_test_event.xml").read_bytes()  # role="observe": Comet alone would drop it
    assert send_voevent("127.0.0.1", daemon.receive_port, hess) == "ack"
    big = (DATA / "SWIFT00.xml").read_bytes().replace(b"</What>", b"<!--" + b"x" * 150_000 + b"--></What>")
    assert len(big) > 99_999  # over Comet's default message limit
    assert send_voevent("127.0.0.1", daemon.receive_port, big) == "ack"
    # Over the parser's limit (max_packet_bytes, 1 MiB): ACKed, kept in the inbox, failed with the reason.
    huge = (DATA / "SWIFT01.xml").read_bytes().replace(b"</What>", b"<!--" + b"x" * 1_100_000 + b"--></What>")
    assert send_voevent("127.0.0.1", daemon.receive_port, huge) == "ack"
    # Over the transport limit: refused unread (the connection is dropped), no ACK, nothing stored.
    with pytest.raises(ConnectionError):
        send_voevent("127.0.0.1", daemon.receive_port, b"<" + b"x" * TRANSPORT_MAX_BYTES + b"/>")
    url = daemon.db_url
    wait_for(lambda: counts(url)[1] == 3, 30, "the three packets processed")
    db = Database.open(url, migrate=False)
    with db.session() as s:
        rows = s.scalars(select(InboxRow).order_by(InboxRow.id)).all()
        assert [r.channel for r in rows] == ["vtp-author", "vtp-author", "vtp-author"]
        assert rows[1].raw == big and rows[1].status == "processed"
        assert rows[2].raw == huge and rows[2].status == "failed" and "byte limit" in (rows[2].error or "")
    db.close()
    assert daemon.stop() == 0


def test_new_events_are_rebroadcast_to_local_subscribers_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    relay = subprocess.Popen(
        [sys.executable, "-c", f"from tests.ingest.test_comet_ingest import relay_main; relay_main({url!r})"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "relay.err").open("w"),
        text=True,
    )
    downstream: Broker | None = None
    try:
        assert relay.stdout is not None and relay.stdin is not None
        ready = relay.stdout.readline().split()
        assert ready[0] == "READY", ready
        receive_port, broadcast_port = int(ready[1]), int(ready[2])
        # A real Comet broker subscribed to our rebroadcast port stands in for any local subscriber.
        downstream = Broker(
            free_port(), free_port(), tmp_path / "downstream", extra_args=[f"--remote=127.0.0.1:{broadcast_port}"]
        )
        downstream.start()
        assert relay.stdout.readline().strip() == "SUBSCRIBED"
        template = (DATA / "SWIFT00.xml").read_bytes()
        first, second = numbered_packet(template, 1, "relay"), numbered_packet(template, 2, "relay")
        for packet in (first, first, second):  # the repeat is ACKed (stored once) but not passed on
            assert send_voevent("127.0.0.1", receive_port, packet) == "ack"
        log = downstream.workdir / "broker.log"

        def arrivals(packet: bytes) -> int:
            ivorn = packet.split(b'ivorn="')[1].split(b'"')[0].decode()
            return log.read_text().count(f"VOEvent {ivorn} received from")

        wait_for(lambda: arrivals(second) == 1, 30, "the second event downstream")
        # Relays leave in commit order on one connection, so the repeat of `first` would have arrived by now.
        assert arrivals(first) == 1
    finally:
        if relay.stdin is not None:
            relay.stdin.close()
        assert relay.wait(timeout=30) == 0
        if downstream is not None:
            downstream.stop()


class RecordingConnector:
    """Twisted's connector interface as far as a reconnecting factory uses it: counts connection attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    def connect(self) -> None:
        self.attempts += 1

    def stopConnecting(self) -> None:
        pass

    def getDestination(self) -> str:
        return "127.0.0.1:9"


@pytest.mark.parametrize("max_delay_s", [60.0, 5.0])
def test_reconnect_backoff_is_capped_jittered_and_reported(max_delay_s: float) -> None:
    import math

    from twisted.internet.error import ConnectionDone, ConnectionRefusedError
    from twisted.internet.task import Clock
    from twisted.python.failure import Failure

    from tracet_gui.ingest.health import ConnectionHealth, ConnectionState, HealthRegistry
    from tracet_gui.ingest.vtp import FIRST_RETRY_S, RECONNECT_JITTER, InboxWriter, StoringSubscriberFactory

    clock = Clock()
    health = HealthRegistry()
    logged: list[ConnectionHealth] = []
    health.add_listener(logged.append)
    name = "vtp://127.0.0.1:9"
    factory = StoringSubscriberFactory(
        name,
        health,
        local_ivo="ivo://test/backoff",
        validators=[],
        max_length=1_048_576,
        max_delay_s=max_delay_s,
        writer=InboxWriter(lambda packets: []),  # never started: nothing is received here
        call_later=clock.callLater,
    )
    clock.advance(0)  # Comet's initial resetDelay
    connector = RecordingConnector()
    waits: list[float] = []
    for attempt in range(1, 16):  # the broker stays down: every attempt is refused
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError("refused")))
        (call,) = clock.getDelayedCalls()
        wait_s = call.getTime() - clock.seconds()
        waits.append(wait_s)
        shown = health.get(name)
        assert shown is not None and shown.state is ConnectionState.DISCONNECTED
        assert shown.next_retry_s == pytest.approx(wait_s) and shown.reconnects == attempt
        assert shown.last_error is not None and "refused" in shown.last_error
        clock.advance(wait_s)
        assert connector.attempts == attempt
        assert (health.get(name) or shown).state is ConnectionState.CONNECTING
    for k, wait_s in enumerate(waits):
        ceiling = min(FIRST_RETRY_S * math.e**k, max_delay_s)
        assert ceiling * (1 - RECONNECT_JITTER) - 1e-9 <= wait_s <= ceiling + 1e-9
    assert max(waits) <= max_delay_s
    assert any("retry in" in h.detail for h in logged if h.state is ConnectionState.DISCONNECTED)  # broker_log text

    factory.stopTrying()  # a stopped feed does not reconnect and is not reported as disconnected
    before = health.get(name)
    factory.clientConnectionLost(connector, Failure(ConnectionDone()))
    assert clock.getDelayedCalls() == [] and health.get(name) == before


def test_a_lasting_connection_that_is_dropped_is_retried_at_once() -> None:
    """A broker dropping us (Comet does so at its iamalive while it is saturated) is reconnected to at once; a
    connection lost before it had lasted RESET_DELAY s, and an attempt that fails, back off as usual."""
    from twisted.internet.error import ConnectionDone, ConnectionRefusedError
    from twisted.internet.task import Clock
    from twisted.python.failure import Failure

    from tracet_gui.ingest.health import HealthRegistry
    from tracet_gui.ingest.vtp import FIRST_RETRY_S, RECONNECT_JITTER, InboxWriter, StoringSubscriberFactory

    clock = Clock()
    health = HealthRegistry()
    factory = StoringSubscriberFactory(
        "vtp://127.0.0.1:9",
        health,
        local_ivo="ivo://test/redial",
        validators=[],
        max_length=1_048_576,
        max_delay_s=60.0,
        writer=InboxWriter(lambda packets: []),  # never started: nothing is received here
        call_later=clock.callLater,
    )
    clock.advance(0)
    connector = RecordingConnector()

    def wait_after(lose: Callable[[], None]) -> float:
        lose()
        (call,) = clock.getDelayedCalls()
        wait_s = call.getTime() - clock.seconds()
        clock.advance(wait_s)
        return wait_s

    def connect_for(seconds: float) -> None:
        factory.buildProtocol(None)
        factory.on_connected(None)
        clock.advance(seconds)

    connect_for(factory.RESET_DELAY + 1)
    assert wait_after(lambda: factory.clientConnectionLost(connector, Failure(ConnectionDone()))) == 0.0
    assert connector.attempts == 1
    refused = Failure(ConnectionRefusedError("refused"))
    assert wait_after(lambda: factory.clientConnectionFailed(connector, refused)) >= FIRST_RETRY_S * (
        1 - RECONNECT_JITTER
    )
    connect_for(factory.RESET_DELAY / 2)  # lost again before it lasted: no immediate retry
    assert wait_after(lambda: factory.clientConnectionLost(connector, Failure(ConnectionDone()))) > 0.0
    factory.stopTrying()


def test_a_second_engine_on_the_same_database_is_refused(daemon_factory: Callable[..., Daemon]) -> None:
    first = daemon_factory()
    second = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "headless", "--db", first.db_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 2
    assert "another tracet-gui engine is already running" in second.stderr
    assert first.stop() == 0
