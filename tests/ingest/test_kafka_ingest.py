"""GCN Kafka ingest against librdkafka's built-in mock cluster (a real Kafka-protocol broker on 127.0.0.1)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import select

from tests.ingest.conftest import wait_for
from tests.ingest.vtp_author import numbered_packet
from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.health import ConnectionState, HealthRegistry
from tracet_gui.ingest.kafka import HEARTBEAT_TOPIC, KafkaService, gcn_consumer_config
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.schema import InboxRow

pytestmark = pytest.mark.reliability
DATA = Path(__file__).resolve().parents[1] / "data"
TOPIC = "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"


@pytest.fixture
def mock_cluster() -> tuple[Producer, str]:
    producer = Producer({"test.mock.num.brokers": 1})
    brokers = ",".join(f"{b.host}:{b.port}" for b in producer.list_topics(timeout=10).brokers.values())
    return producer, brokers


def make_consumer(brokers: str, group: str) -> Consumer:
    return Consumer(
        {"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )


def test_messages_are_stored_then_committed_and_heartbeats_update_health(
    db: Database, mock_cluster: tuple[Producer, str]
) -> None:
    producer, brokers = mock_cluster
    packets = [(DATA / n).read_bytes() for n in ("SWIFT00.xml", "SWIFT01.xml", "SWIFT03.xml")]
    for raw in packets:
        producer.produce(TOPIC, raw)
    producer.produce(HEARTBEAT_TOPIC, b'{"alive": true}')
    producer.produce(TOPIC, packets[0])  # the same alert twice: stored once
    producer.flush(10)

    health = HealthRegistry()
    notified: list[int] = []

    def store(raw: bytes, channel: Channel, peer: str, topic: str) -> None:
        stored = store_raw_packet(db.sessions, raw, channel, ivorn=None, peer=peer, topic=topic)
        notified.append(stored.inbox_id)

    service = KafkaService(
        "kafka:test",
        lambda: make_consumer(brokers, "g1"),
        [TOPIC, HEARTBEAT_TOPIC],
        health,
        store,
        poll_s=0.2,
        new_partitions_from_end=False,  # these messages were published before the group first subscribed
    )
    service.start()
    try:
        wait_for(lambda: len(notified) == 4, 30, "four stored messages")
        wait_for(
            lambda: (health.get("kafka:test") or object()).__getattribute__("last_iamalive_utc") is not None,
            30,
            "a heartbeat",
        )
    finally:
        service.stop()
    with db.session() as s:
        rows = s.scalars(select(InboxRow)).all()
        assert len(rows) == 3 and {r.channel for r in rows} == {"kafka"} and {r.topic for r in rows} == {TOPIC}
        assert sum(r.duplicate_count for r in rows) == 1
    state = health.get("kafka:test")
    assert state is not None and state.state is ConnectionState.STOPPED and state.packets == 4

    # Offsets were committed: a new consumer in the same group gets nothing more.
    again = make_consumer(brokers, "g1")
    again.subscribe([TOPIC])
    deadline = time.monotonic() + 5
    leftovers = []
    while time.monotonic() < deadline:
        message = again.poll(0.5)
        if message is not None and message.error() is None:
            leftovers.append(message)
    again.close()
    assert leftovers == []


def test_a_failed_store_is_not_committed_and_is_redelivered(db: Database, mock_cluster: tuple[Producer, str]) -> None:
    producer, brokers = mock_cluster
    producer.produce(TOPIC, (DATA / "SWIFT00.xml").read_bytes())
    producer.flush(10)
    health = HealthRegistry()
    attempts: list[int] = []

    def flaky_store(raw: bytes, channel: Channel, peer: str, topic: str) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk full")
        store_raw_packet(db.sessions, raw, channel, ivorn=None, peer=peer, topic=topic)

    service = KafkaService(
        "kafka:test",
        lambda: make_consumer(brokers, "g2"),
        [TOPIC],
        health,
        flaky_store,
        poll_s=0.2,
        new_partitions_from_end=False,  # published before the group first subscribed
    )
    service.start()
    try:
        wait_for(lambda: len(attempts) >= 2, 40, "the message to be delivered again after the failed store")
    finally:
        service.stop()
    with db.session() as s:
        assert len(s.scalars(select(InboxRow)).all()) == 1


def test_gcn_consumer_group_is_stable_per_host_and_kept_by_gcn_kafka() -> None:
    from gcn_kafka.core import get_config

    first = get_config("consumer", gcn_consumer_config("client1", "host-a"), client_id="client1", client_secret="s")
    again = get_config("consumer", gcn_consumer_config("client1", "host-a"), client_id="client1", client_secret="s")
    other = get_config("consumer", gcn_consumer_config("client1", "host-b"), client_id="client1", client_secret="s")
    assert first["group.id"] == again["group.id"] != other["group.id"]  # gcn-kafka's random group is not used
    assert str(first["group.id"]).startswith("client1")
    assert first["enable.auto.commit"] is False


def test_restart_resumes_from_committed_offsets_and_a_new_group_skips_old_alerts(
    db: Database, mock_cluster: tuple[Producer, str]
) -> None:
    producer, brokers = mock_cluster
    template = (DATA / "SWIFT00.xml").read_bytes()
    producer.produce(TOPIC, numbered_packet(template, 0, "stale"))  # retained from before we ever subscribed
    producer.flush(10)
    # The mock cluster keeps a closed consumer in the group until its session times out (45 s by default).
    config = {**gcn_consumer_config("client1", "host-a"), "bootstrap.servers": brokers, "session.timeout.ms": 6000}
    stored: list[bytes] = []

    def store(raw: bytes, channel: Channel, peer: str, topic: str) -> None:
        store_raw_packet(db.sessions, raw, channel, ivorn=None, peer=peer, topic=topic)
        stored.append(raw)

    def service() -> KafkaService:
        return KafkaService("kafka:test", lambda: Consumer(config), [TOPIC], HealthRegistry(), store, poll_s=0.2)

    first = service()
    first.start()
    probes = 0
    try:

        def live() -> bool:  # a new group starts at the newest message: probe until one arrives
            nonlocal probes
            producer.produce(TOPIC, numbered_packet(template, probes, "probe"))
            producer.flush(10)
            probes += 1
            return bool(stored)

        wait_for(live, 30, "the consumer to be assigned")
        live_packets = [numbered_packet(template, n, "live") for n in range(3)]
        for raw in live_packets:
            producer.produce(TOPIC, raw)
        producer.flush(10)
        wait_for(lambda: set(live_packets) <= set(stored), 30, "the live alerts")
    finally:
        first.stop()
    while_down = [numbered_packet(template, n, "while-down") for n in range(2)]
    for raw in while_down:
        producer.produce(TOPIC, raw)
    producer.flush(10)
    seen_before = len(stored)
    second = service()
    second.start()
    try:
        wait_for(lambda: set(while_down) <= set(stored), 30, "the alerts published while we were down")
    finally:
        second.stop()
    after_restart = stored[seen_before:]
    assert not any(b"-live" in raw for raw in after_restart)  # nothing read twice: the offsets were resumed
    assert not any(b"-stale0" in raw for raw in stored)  # a new group does not replay retained alerts
    with db.session() as s:
        assert sum(r.duplicate_count for r in s.scalars(select(InboxRow))) == 0
