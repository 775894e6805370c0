"""GCN Kafka consumer in its own thread: store each message in the inbox, then commit its offset.

Offsets are committed only after the inbox commit, so a crash between the two replays the message (stored once:
the inbox de-duplicates) instead of losing it. ``gcn.heartbeat`` messages only update health.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.health import ConnectionState, HealthRegistry

log = logging.getLogger(__name__)

HEARTBEAT_TOPIC = "gcn.heartbeat"

#: TraceT's gcn.classic.voevent topics plus AMON IceCube and the LVC early warning (reference §2.1, §10.1.9).
DEFAULT_TOPICS: tuple[str, ...] = (
    *(
        f"gcn.classic.voevent.{name}"
        for name in (
            "AMON_NU_EM_COINC",
            "ICECUBE_ASTROTRACK_GOLD",
            "ICECUBE_ASTROTRACK_BRONZE",
            "ICECUBE_CASCADE",
            "FERMI_GBM_ALERT",
            "FERMI_GBM_FIN_POS",
            "FERMI_GBM_FLT_POS",
            "FERMI_GBM_GND_POS",
            "FERMI_GBM_POS_TEST",
            "FERMI_GBM_SUBTHRESH",
            "FERMI_LAT_MONITOR",
            "FERMI_LAT_OFFLINE",
            "FERMI_LAT_POS_TEST",
            "FERMI_POINTDIR",
            "LVC_EARLY_WARNING",
            "LVC_INITIAL",
            "LVC_PRELIMINARY",
            "LVC_UPDATE",
            "LVC_RETRACTION",
            "SWIFT_ACTUAL_POINTDIR",
            "SWIFT_BAT_GRB_LC",
            "SWIFT_BAT_GRB_POS_ACK",
            "SWIFT_BAT_GRB_POS_TEST",
            "SWIFT_BAT_QL_POS",
            "SWIFT_BAT_SCALEDMAP",
            "SWIFT_BAT_TRANS",
            "SWIFT_FOM_OBS",
            "SWIFT_POINTDIR",
            "SWIFT_SC_SLEW",
            "SWIFT_TOO_FOM",
            "SWIFT_TOO_SC_SLEW",
            "SWIFT_UVOT_DBURST",
            "SWIFT_UVOT_DBURST_PROC",
            "SWIFT_UVOT_EMERGENCY",
            "SWIFT_UVOT_FCHART",
            "SWIFT_UVOT_FCHART_PROC",
            "SWIFT_UVOT_POS",
            "SWIFT_UVOT_POS_NACK",
            "SWIFT_XRT_CENTROID",
            "SWIFT_XRT_IMAGE",
            "SWIFT_XRT_IMAGE_PROC",
            "SWIFT_XRT_LC",
            "SWIFT_XRT_POSITION",
            "SWIFT_XRT_SPECTRUM",
            "SWIFT_XRT_SPECTRUM_PROC",
            "SWIFT_XRT_SPER",
            "SWIFT_XRT_SPER_PROC",
            "SWIFT_XRT_THRESHPIX",
            "SWIFT_XRT_THRESHPIX_PROC",
        )
    ),
    HEARTBEAT_TOPIC,
)

StoreKafkaPacket = Callable[[bytes, Channel, str, str], None]
"""(raw, channel, peer, topic): commit to the inbox or raise."""

ConsumerFactory = Callable[[], Any]

STORE_RETRY_S = 2.0
"""Pause (s) before reading a message again whose inbox commit failed (database locked, disk full)."""


class _StoreFailedError(Exception):
    pass


GcnDomain = Literal["gcn.nasa.gov", "test.gcn.nasa.gov", "dev.gcn.nasa.gov"]


def gcn_consumer_config(client_id: str, host: str | None = None) -> dict[str, Any]:
    """Consumer settings for GCN: offsets committed by us, in a consumer group that outlives the process.

    gcn-kafka would pick a random ``group.id`` per process, so committed offsets would never be read back and a
    restart would not resume where it stopped. The group is the client id plus the host name: restarts on one
    machine resume; two machines sharing credentials do not split the partitions (and the alerts) between them.
    Where the group never read a partition, :class:`KafkaService` starts at its newest message (no replay of days
    of stale alerts); ``earliest`` only applies when a committed offset has expired while we were down, and then
    everything still retained was missed, so it is read.
    """
    return {
        "group.id": f"{client_id}-tracet-gui-{host or socket.gethostname()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }


def gcn_consumer_factory(client_id: str, client_secret: str, domain: GcnDomain = "gcn.nasa.gov") -> ConsumerFactory:
    def make() -> Any:
        from gcn_kafka import Consumer

        return Consumer(
            client_id=client_id,
            client_secret=client_secret,
            domain=domain,
            config=gcn_consumer_config(client_id),
        )

    return make


class KafkaService:
    """Polls Kafka on its own thread; stops within about one poll interval.

    With ``new_partitions_from_end`` (the default), a partition this consumer group has never committed starts at
    its newest message and that start is committed at once, so a restart resumes from there and catches up on what
    was published while we were down, while a first start does not replay the topic's retained history.
    """

    def __init__(
        self,
        name: str,
        consumer_factory: ConsumerFactory,
        topics: Sequence[str],
        health: HealthRegistry,
        store_packet: StoreKafkaPacket,
        poll_s: float = 1.0,
        *,
        new_partitions_from_end: bool = True,
    ) -> None:
        self.name = name
        self._new_partitions_from_end = new_partitions_from_end
        self._factory = consumer_factory
        self._topics = list(topics)
        self._health = health
        self._store = store_packet
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._health.set_state(self.name, "kafka", ConnectionState.CONNECTING)
        self._thread = threading.Thread(target=self._run, name="gcn-kafka", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._health.set_state(self.name, "kafka", ConnectionState.STOPPED)

    def _run(self) -> None:
        consumer = None
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._factory()
                    if self._new_partitions_from_end:
                        consumer.subscribe(self._topics, on_assign=self._start_new_partitions_at_end)
                    else:
                        consumer.subscribe(self._topics)
                self._poll_once(consumer)
            except _StoreFailedError as exc:
                # Keep the consumer (no rebalance); the message was rewound and is read again after a pause.
                log.error("Kafka %s: message not stored, will retry: %s", self.name, exc)
                self._health.set_state(
                    self.name,
                    "kafka",
                    ConnectionState.ERROR,
                    last_error=f"store failed: {exc}",
                    next_retry_s=STORE_RETRY_S,
                )
                self._stop.wait(STORE_RETRY_S)
            except Exception as exc:
                log.warning("Kafka %s: %s", self.name, exc)
                self._health.set_state(self.name, "kafka", ConnectionState.ERROR, last_error=str(exc), next_retry_s=5.0)
                if consumer is not None:
                    try:
                        consumer.close()
                    except Exception:
                        log.debug("closing a failed consumer", exc_info=True)
                    consumer = None
                self._stop.wait(5.0)
        if consumer is not None:
            consumer.close()

    def _start_new_partitions_at_end(self, consumer: Any, partitions: list[Any]) -> None:
        """on_assign (inside poll, on this thread): never-committed partitions start at their end, committed."""
        from confluent_kafka import TopicPartition

        committed = consumer.committed(partitions, timeout=10)
        log.debug("Kafka %s: assigned %s", self.name, [(tp.topic, tp.partition, tp.offset) for tp in committed])
        fresh = []
        for tp in committed:
            if tp.offset < 0:  # OFFSET_INVALID: this group never committed here
                _low, high = consumer.get_watermark_offsets(tp, timeout=10)
                fresh.append(TopicPartition(tp.topic, tp.partition, high))
        if fresh:
            consumer.commit(offsets=fresh, asynchronous=False)
            log.info("Kafka %s: %d new partitions start at their newest message", self.name, len(fresh))
        starts = {(tp.topic, tp.partition): tp for tp in [*committed, *fresh] if tp.offset >= 0}
        consumer.assign([starts.get((tp.topic, tp.partition), tp) for tp in partitions])

    def _poll_once(self, consumer: Any) -> None:
        message = consumer.poll(timeout=self._poll_s)
        if message is None:
            return
        error = message.error()
        if error is not None:
            if getattr(error, "retriable", lambda: True)() or error.code() == -191:  # partition EOF / transient
                self._health.touch(self.name, last_error=str(error))
                return
            raise RuntimeError(str(error))
        current = self._health.get(self.name)
        if current is None or current.state != ConnectionState.CONNECTED:
            self._health.set_state(self.name, "kafka", ConnectionState.CONNECTED, last_error=None, next_retry_s=None)
        topic = message.topic()
        if topic == HEARTBEAT_TOPIC:
            self._health.touch(self.name, last_iamalive_utc=datetime.now(UTC))
            consumer.commit(message=message, asynchronous=False)
            return
        value = message.value() or b""
        try:
            self._store(value, Channel.KAFKA, self.name, topic)
        except Exception as exc:  # not committed: rewind so this very message is read again
            from confluent_kafka import TopicPartition

            consumer.seek(TopicPartition(topic, message.partition(), message.offset()))
            raise _StoreFailedError(str(exc)) from exc
        self._health.packet(self.name)
        consumer.commit(message=message, asynchronous=False)
