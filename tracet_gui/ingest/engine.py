"""The engine: ingest services + the pipeline thread, with or without a GUI (no Qt here).

``Engine.start()`` opens every configured feed (remote VTP brokers, the author port, GCN Kafka) and the
pipeline thread; ``stop()`` closes feeds first (nothing new is accepted), lets the pipeline finish what was
stored, then stops it. Everything stored is processed, now or at the next start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracet_gui.config import Settings, user_data_dir
from tracet_gui.core.clock import Clock, SystemClock
from tracet_gui.core.sending import AcceptingRecorder, RequestSender, SendResult
from tracet_gui.core.streams import DEFAULT_INTERESTING_STREAMS
from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.engine_process import as_fresh_demo_packet, send_demo_packet
from tracet_gui.ingest.health import ConnectionHealth, ConnectionState, HealthRegistry
from tracet_gui.ingest.kafka import DEFAULT_TOPICS, ConsumerFactory, KafkaService, gcn_consumer_factory
from tracet_gui.ingest.vtp import VtpService, VtpSettings
from tracet_gui.pipeline.decider import PointingChooser, ProposalDecider
from tracet_gui.pipeline.overrides import OverrideExecutor
from tracet_gui.pipeline.parse import VOEventParser, peek_ivorn
from tracet_gui.pipeline.processor import PacketProcessor, ProcessedPacket
from tracet_gui.pipeline.runner import PipelineRunner
from tracet_gui.pipeline.skymaps import SkyMapFetcher, SkyMapPointingChooser
from tracet_gui.storage.broker_log import append_broker_log
from tracet_gui.storage.database import Database, SessionFactory
from tracet_gui.storage.decisions import recent_real_observations
from tracet_gui.storage.errors import storage_unavailable
from tracet_gui.storage.inbox import RawPacket, StoredPacket, store_raw_packets
from tracet_gui.storage.operator_actions import armed_state
from tracet_gui.telescopes.arbitration import OwnObservation

log = logging.getLogger(__name__)


def build_sender(
    settings: Settings, is_armed: Callable[[], bool], sessions: SessionFactory | None = None
) -> RequestSender:
    """Real telescope clients where URLs are configured; otherwise the in-process recorder (nothing leaves)."""
    base = settings.telescope_base_url.rstrip("/") if settings.telescope_base_url else None
    mwa_url = settings.mwa_base_url or (f"{base}/mwa/" if base else None)
    atca_url = settings.atca_url or (f"{base}/atca/rapid_response_service.py" if base else None)
    if mwa_url is None and atca_url is None:
        return AcceptingRecorder()
    from tracet_gui.telescopes.atca import AtcaClient
    from tracet_gui.telescopes.credentials import KeyringCredentials
    from tracet_gui.telescopes.mwa import MwaClient
    from tracet_gui.telescopes.sender import ArbitrationSource, ObservationSender
    from tracet_gui.telescopes.simulator import SimulatorCredentials

    credentials: Any = SimulatorCredentials() if settings.simulator_credentials else KeyringCredentials()
    arbitration = None
    if sessions is not None:
        arbitration = ArbitrationSource(
            proposal_of=lambda r: (r.proposal_id, r.priority) if r.proposal_id and r.priority is not None else None,
            own_observations=lambda telescope: _own_observations(sessions, telescope),
        )
    return ObservationSender(
        mwa=MwaClient(mwa_url, credentials) if mwa_url else None,
        atca=AtcaClient(atca_url, credentials) if atca_url else None,
        is_armed=is_armed,
        atca_email_for=lambda _project: settings.atca_email,
        arbitration=arbitration,
    )


DATABASE_HEALTH = "database"
"""Health entry name of the database, present once it could not be written (locked, disk full)."""

#: How far back our own real observations count for arbitration (longer than any single MWA request).
ARBITRATION_WINDOW = timedelta(hours=6)


def _own_observations(sessions: SessionFactory, telescope: str) -> list[OwnObservation]:
    prefix = "MWA" if telescope.startswith("MWA") else telescope
    with sessions() as session:
        rows = recent_real_observations(session, prefix, datetime.now(UTC) - ARBITRATION_WINDOW)
    return [OwnObservation(r.obsname, r.project_id, r.proposal_id, r.priority) for r in rows]


class InboxFirst:
    """Orders this process's writers of one SQLite database: an inbox commit waiting goes before the pipeline's
    next packet.

    SQLite lets one transaction write at a time and a blocked writer polls, sleeping up to 100 ms between
    tries; the pipeline commits packet after packet, so an inbox commit could wait seconds during a burst, with
    every packet in it un-ACKed. Here the pipeline takes a turn for each of its write transactions and steps
    aside while an inbox commit waits; the inbox writer waits at most for the transaction in hand, and is woken
    as soon as it is done.
    """

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled  # no need where writers do not exclude each other (PostgreSQL)
        self._changed = threading.Condition()
        self._busy = False
        self._inbox_waiting = 0

    @contextmanager
    def inbox(self) -> Iterator[None]:
        if not self._enabled:
            yield
            return
        with self._changed:
            self._inbox_waiting += 1
            try:
                self._changed.wait_for(lambda: not self._busy)
            finally:
                self._inbox_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        if not self._enabled:
            yield
            return
        with self._changed:
            self._changed.wait_for(lambda: not self._busy and not self._inbox_waiting)
            self._busy = True
        try:
            yield
        finally:
            self._release()

    @property
    def inbox_waiting(self) -> bool:
        """An inbox commit waits for its turn (read without the lock: a hint for the pipeline's batches)."""
        return self._inbox_waiting > 0

    def _release(self) -> None:
        with self._changed:
            self._busy = False
            self._changed.notify_all()


class _InboxFirstProcessor(PacketProcessor):
    """Writes (a packet, telescope reports) in its turns of :class:`InboxFirst`: the turn is held only while the
    pipeline writes (:meth:`PacketProcessor.write_turn`), not while it reads and evaluates a packet."""

    def __init__(self, order: InboxFirst, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._order = order

    def write_turn(self) -> AbstractContextManager[object]:
        return self._order.pipeline()

    def others_waiting(self) -> bool:
        return self._order.inbox_waiting


class Engine:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        on_result: Callable[[ProcessedPacket], None] | None = None,
        sender: RequestSender | None = None,
        chooser: PointingChooser | None = None,
        clock: Clock | None = None,
        kafka_consumer_factory: ConsumerFactory | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock or SystemClock()
        self.health_registry = HealthRegistry()
        self.health_registry.add_listener(self._log_health)
        self._database_lock = threading.Lock()
        self._database_problem: str | None = None
        streams = (
            frozenset(settings.interesting_streams) if settings.interesting_streams else DEFAULT_INTERESTING_STREAMS
        )
        parser = VOEventParser(interesting_streams=streams, max_packet_bytes=settings.max_packet_bytes)
        decider = ProposalDecider(self.clock)
        # SQLite has one writer at a time: the inbox commits of this process go before the pipeline's next
        # packet instead of polling in SQLite's busy handler while the pipeline commits packet after packet.
        self._inbox_first = InboxFirst(enabled=database.engine.dialect.name == "sqlite")
        # One inbox store at a time in this process (InboxFirst already orders them on SQLite): a packet stored and
        # decided in one transaction must not overtake an older packet another thread is still storing.
        self._storing = threading.Lock()
        self.processor = _InboxFirstProcessor(self._inbox_first, database.sessions, parser, decider, self.clock)
        self.sender = sender or build_sender(settings, lambda: armed_state(database.sessions).armed, database.sessions)
        if chooser is None:
            chooser = SkyMapPointingChooser(SkyMapFetcher(user_data_dir() / "skymaps", timeout_s=20.0))
        self.runner = PipelineRunner(
            database.sessions,
            self.processor,
            OverrideExecutor(database.sessions, decider, self.clock, self._atca_canceller(settings)),
            self.sender,
            chooser,
            self.clock,
            on_result,
            on_storage=self._database_state,
        )
        self.vtp: VtpService | None = None
        broadcast_port = settings.broadcast_port
        if settings.remotes or settings.receive_port is not None or broadcast_port is not None:
            self.vtp = VtpService(
                VtpSettings(
                    settings.remotes,
                    settings.receive_port,
                    settings.author_whitelist,
                    settings.local_ivo,
                    settings.max_packet_bytes,
                    broadcast_port=broadcast_port,
                ),
                self.health_registry,
                self._store_packets,
            )
        self.kafka: KafkaService | None = None
        factory = kafka_consumer_factory
        if factory is None and settings.kafka_client_id and settings.kafka_client_secret:
            factory = gcn_consumer_factory(settings.kafka_client_id, settings.kafka_client_secret)
        if factory is not None:
            self.kafka = KafkaService(
                "kafka:gcn", factory, settings.kafka_topics or DEFAULT_TOPICS, self.health_registry, self._store_kafka
            )
        else:
            self.health_registry.set_state(
                "kafka:gcn", "kafka", ConnectionState.DISABLED, last_error="no GCN Kafka credentials configured"
            )
        self._check_earth_orientation()
        self._started = False
        self._demo_run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

    def _atca_canceller(self, settings: Settings) -> Callable[[str, str, bool], SendResult] | None:
        atca = getattr(self.sender, "atca", None)
        if atca is None:
            return None
        from tracet_gui.telescopes.atca import AtcaCancel

        def cancel(project_id: str, trigger_id: str, pretend: bool) -> SendResult:
            request = AtcaCancel(project_id, settings.atca_email or "", trigger_id, test=pretend)
            result: SendResult = atca.cancel(request).to_send_result()
            return result

        return cancel

    def _check_earth_orientation(self) -> None:
        """Warn (health view) when the bundled IERS predictions no longer cover today: positions degrade slightly."""
        from tracet_gui.core.visibility import iers_predictions_stale

        now = self.clock.now()
        if iers_predictions_stale(now):
            self.health_registry.set_state(
                "astropy IERS tables",
                "astropy",
                ConnectionState.ERROR,
                last_error="bundled Earth-orientation predictions end before today: alt/az slightly degraded; "
                "update astropy-iers-data",
            )

    # -- storing (ingest threads) -----------------------------------------------------------------------

    def _store_packets(self, packets: Sequence[RawPacket]) -> list[StoredPacket]:
        """Commit packets to the inbox in one transaction (ingest threads), then wake the pipeline.

        A packet that arrives alone while the pipeline is idle is stored and processed in one transaction
        instead (``PipelineRunner.store_and_process``): one commit and no hand-over between its receipt and its
        decision. Either way the packet is committed before this returns (and before it is ACKed)."""
        try:
            with self._inbox_first.inbox(), self._storing:
                at_once = self.runner.store_and_process(packets[0]) if len(packets) == 1 else None
                if at_once is None:
                    stored = store_raw_packets(self.database.sessions, packets)
                    waiting = not all(s.duplicate for s in stored)
                else:
                    stored = [at_once[0]]
                    waiting = not at_once[1] and not at_once[0].duplicate
        except Exception as exc:
            problem = storage_unavailable(exc)
            if problem is not None:
                self._database_state(problem)
            raise
        self._database_state(None)
        if waiting:
            self.runner.notify()
        return stored

    def _store_kafka(self, raw: bytes, channel: Channel, peer: str, topic: str) -> None:
        self._store_packets([RawPacket(raw, channel, peek_ivorn(raw), peer, topic, datetime.now(UTC))])

    def _database_state(self, problem: str | None) -> None:
        """The ``database`` health entry (shown with the feeds): present from the first problem on."""
        with self._database_lock:
            if problem == self._database_problem:
                return
            was, self._database_problem = self._database_problem, problem
        if problem is not None:
            self.health_registry.set_state(
                DATABASE_HEALTH,
                "database",
                ConnectionState.ERROR,
                last_error=f"{problem}: packets wait (authors get NAK), retrying",
            )
        else:
            self.health_registry.set_state(
                DATABASE_HEALTH, "database", ConnectionState.CONNECTED, last_error=f"recovered from: {was}"
            )

    def submit_bytes(self, raw: bytes, channel: Channel = Channel.MANUAL, peer: str = "console") -> StoredPacket:
        return self._store_packets([RawPacket(raw, channel, peek_ivorn(raw), peer, None, datetime.now(UTC))])[0]

    def submit_file(self, path: Path | str) -> StoredPacket:
        path = Path(path)
        return self.submit_bytes(path.read_bytes(), Channel.FILE, str(path))

    def publish_demo(self, raw: bytes) -> None:
        """Send a bundled packet as a fresh alert (unique IVORN) through our own author port, like a real push.

        Runs on a short-lived thread so the caller (the GUI) never waits on the network.
        """
        send_demo_packet(
            as_fresh_demo_packet(raw, f"demo{self._demo_run}".encode()),
            self.receive_port,
            lambda packet: self.submit_bytes(packet, Channel.MANUAL, "demo"),
        )

    def _log_health(self, health: ConnectionHealth) -> None:
        if health.name == DATABASE_HEALTH and health.state is ConnectionState.ERROR:
            return  # the database is what fails (and may be locked for seconds): the log file has it
        try:
            append_broker_log(self.database.sessions, datetime.now(UTC), health.name, health.state.value, health.detail)
        except Exception:
            log.exception("could not write broker_log")

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        self.runner.start()
        if self.vtp is not None:
            self.vtp.start()
        if self.kafka is not None:
            self.kafka.start()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.vtp is not None:
            self.vtp.stop()
        if self.kafka is not None:
            self.kafka.stop()
        self.runner.stop()

    def health(self) -> list[ConnectionHealth]:
        return self.health_registry.snapshot()

    @property
    def receive_port(self) -> int | None:
        return self.vtp.receive_port if self.vtp is not None else None
