"""The engine: ingest services + the pipeline thread, with or without a GUI (no Qt here).

``Engine.start()`` opens every configured feed (remote VTP brokers, the author port, GCN Kafka) and the
pipeline thread; ``stop()`` closes feeds first (nothing new is accepted), lets the pipeline finish what was
stored, then stops it. Everything stored is processed, now or at the next start.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracet_gui.config import Settings, user_data_dir
from tracet_gui.core.clock import Clock, SystemClock
from tracet_gui.core.sending import AcceptingRecorder, RequestSender, SendResult
from tracet_gui.core.streams import DEFAULT_INTERESTING_STREAMS
from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.health import ConnectionHealth, ConnectionState, HealthRegistry
from tracet_gui.ingest.kafka import DEFAULT_TOPICS, ConsumerFactory, KafkaService, gcn_consumer_factory
from tracet_gui.ingest.vtp import VtpService, VtpSettings, send_to_author_port
from tracet_gui.pipeline.decider import PointingChooser, ProposalDecider
from tracet_gui.pipeline.overrides import OverrideExecutor
from tracet_gui.pipeline.parse import VOEventParser, peek_ivorn
from tracet_gui.pipeline.processor import PacketProcessor, ProcessedPacket
from tracet_gui.pipeline.runner import PipelineRunner
from tracet_gui.pipeline.skymaps import SkyMapFetcher, SkyMapPointingChooser
from tracet_gui.storage.broker_log import append_broker_log
from tracet_gui.storage.database import Database, SessionFactory
from tracet_gui.storage.decisions import recent_real_observations
from tracet_gui.storage.inbox import StoredPacket, store_raw_packet
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


#: How far back our own real observations count for arbitration (longer than any single MWA request).
ARBITRATION_WINDOW = timedelta(hours=6)


def _own_observations(sessions: SessionFactory, telescope: str) -> list[OwnObservation]:
    prefix = "MWA" if telescope.startswith("MWA") else telescope
    with sessions() as session:
        rows = recent_real_observations(session, prefix, datetime.now(UTC) - ARBITRATION_WINDOW)
    return [OwnObservation(r.obsname, r.project_id, r.proposal_id, r.priority) for r in rows]


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
        streams = (
            frozenset(settings.interesting_streams) if settings.interesting_streams else DEFAULT_INTERESTING_STREAMS
        )
        parser = VOEventParser(interesting_streams=streams, max_packet_bytes=settings.max_packet_bytes)
        decider = ProposalDecider(self.clock)
        self.processor = PacketProcessor(database.sessions, parser, decider, self.clock)
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
                self._store,
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

    def _store(self, raw: bytes, channel: Channel, peer: str) -> bool:
        """Commit to the inbox (ingest threads); True when the packet was new."""
        stored = store_raw_packet(self.database.sessions, raw, channel, ivorn=peek_ivorn(raw), peer=peer)
        if not stored.duplicate:
            self.runner.notify(stored.inbox_id)
        return not stored.duplicate

    def _store_kafka(self, raw: bytes, channel: Channel, peer: str, topic: str) -> None:
        stored = store_raw_packet(self.database.sessions, raw, channel, ivorn=peek_ivorn(raw), peer=peer, topic=topic)
        if not stored.duplicate:
            self.runner.notify(stored.inbox_id)

    def submit_bytes(self, raw: bytes, channel: Channel = Channel.MANUAL, peer: str = "console") -> StoredPacket:
        stored = store_raw_packet(self.database.sessions, raw, channel, ivorn=peek_ivorn(raw), peer=peer)
        if not stored.duplicate:
            self.runner.notify(stored.inbox_id)
        return stored

    def submit_file(self, path: Path | str) -> StoredPacket:
        path = Path(path)
        return self.submit_bytes(path.read_bytes(), Channel.FILE, str(path))

    def publish_demo(self, raw: bytes) -> None:
        """Send a bundled packet as a fresh alert (unique IVORN) through our own author port, like a real push.

        Runs on a short-lived thread so the caller (the GUI) never waits on the network.
        """
        packet = re.sub(rb'ivorn="([^"]+)"', lambda m: b'ivorn="' + self._demo_ivorn(m.group(1)) + b'"', raw, count=1)
        port = self.receive_port

        def send() -> None:
            try:
                if port is None:
                    self.submit_bytes(packet, Channel.MANUAL, "demo")
                else:
                    send_to_author_port("127.0.0.1", port, packet)
            except Exception:
                log.exception("demo packet not sent")

        threading.Thread(target=send, name="demo-author", daemon=True).start()

    def _demo_ivorn(self, ivorn: bytes) -> bytes:
        """A fresh IVORN that keeps what the parser reads from it (the LVC alert type is the last ``-`` token)."""
        tag = f"demo{self._demo_run}".encode()
        head, sep, tail = ivorn.rpartition(b"-")
        if ivorn.startswith(b"ivo://gwnet/") and sep:
            return head + b"-" + tag + b"-" + tail
        return ivorn + b"-" + tag

    def _log_health(self, health: ConnectionHealth) -> None:
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
