"""Comet inside the app: subscribe to remote VTP brokers and receive author pushes, storing before ACK.

Twisted runs in its own thread (reactor.run without signal handlers, as LIGO's GWCelery embeds Comet); every
service is created and stopped in that thread with ``blockingCallFromThread``. The reactor can run only once
per process, so the thread is started on first use and stopped at interpreter exit.

Design points (measured facts about Comet 3.1.0):

* Comet ACKs *before* its handlers run, so the raw bytes are committed to the inbox by a **validator**: the
  validator returns a Deferred that fires after the database commit, and only then does Comet send the ACK.
  A failed commit NAKs an author (who may retry); a subscriber always ACKs upstream (VTP: a NAK gets us
  dropped from the distribution list), so the failure is logged loudly.
* Commits are grouped (:class:`InboxWriter`): one writer thread commits, in one transaction, every packet
  that arrived while the previous commit was in progress, then hands the batch back to the reactor at once.
  A burst costs one durable commit per batch instead of one per packet, so ACKs keep up with the broker: a
  Comet broker drops a subscriber that has 10 or more events un-ACKed when it sends its minutely iamalive,
  and whatever it broadcasts until we are back is lost to us.
* Comet drops messages it cannot parse before any validator sees them; our protocols store the raw bytes of
  every message that is not a transport message first, so malformed input is kept and flagged.
* Comet's previously-seen database (dbm.dumb: slow, quadratic pruning) is not used: duplicates are detected
  by the inbox (same bytes or same IVORN).
* Comet's reconnect back-off grows to an hour; ours is capped (``max_delay_s``, default 60 s) with jitter.
* Messages are length-prefixed; Comet's limit is 99,999 bytes and an over-long message drops the connection
  without a NAK. We raise the limit deliberately to ``TRANSPORT_MAX_BYTES`` (16 MiB), above the parser's
  ``max_packet_bytes`` (1 MiB): larger packets are refused by the parser and kept in the inbox as failed.
  Only a message announcing more than ``TRANSPORT_MAX_BYTES`` is refused unread (connection dropped, logged).
* Optionally, every *new* stored event (not a duplicate) is rebroadcast to local VTP subscribers, after its
  commit (a Comet ``VOEventBroadcasterFactory`` on ``broadcast_port``, loopback by default).
* A clean stop closes the ports, stops reconnecting, closes open author connections and waits for every
  commit in flight, so when ``stop()`` returns nothing the feeds accepted is still being written.
"""

from __future__ import annotations

import atexit
import logging
import queue
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_network
from typing import Any

from comet.protocol.broadcaster import VOEventBroadcasterFactory
from comet.protocol.receiver import VOEventReceiver, VOEventReceiverFactory
from comet.protocol.subscriber import VOEventSubscriber, VOEventSubscriberFactory
from comet.utility import ParseError as CometParseError
from comet.utility import xml_document
from comet.utility.whitelist import WhitelistingFactory
from twisted.internet import reactor as _twisted_reactor
from twisted.internet import threads
from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure

from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.health import ConnectionState, HealthRegistry
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.errors import storage_unavailable
from tracet_gui.storage.inbox import RawPacket, StoredPacket

log = logging.getLogger(__name__)

reactor: Any = _twisted_reactor  # the installed reactor; typed loosely (its interfaces are mixed in at runtime)

VOEVENT_ROLES = ("observation", "prediction", "utility", "test")
DEFAULT_MAX_DELAY_S = 60.0
"""Longest wait (s) between reconnection attempts to a remote broker (Comet's default is an hour)."""
RECONNECT_JITTER = 0.2
"""Fraction by which a reconnection wait is randomly shortened, so many clients do not return in step."""
FIRST_RETRY_S = 1.0
"""Wait (s) before the first reconnection attempt; each further attempt waits e times longer, up to the cap."""
STORE_RETRY_FIRST_S = 0.5
"""Wait (s) before storing again a broker's packet that the database could not take (locked, disk full)."""
STORE_RETRY_MAX_S = 5.0
"""Longest wait (s) between such attempts (the wait doubles from ``STORE_RETRY_FIRST_S``)."""
TRANSPORT_MAX_BYTES = 16 * 1024 * 1024
"""Longest VTP message read at all (bytes). Anything up to this is stored, so an oversized packet is kept in the
inbox as failed (the parser's limit is far lower); a longer announced length drops the connection unread."""

StorePackets = Callable[[Sequence[RawPacket]], Sequence[StoredPacket]]
"""Commits raw packets to the inbox in one transaction, in order; one result per packet (new or duplicate);
raises if they could not be stored (then none is). Called on the inbox writer thread, off the reactor."""

RelayEvent = Callable[[Any], None]
"""Passes a stored, new Comet event on to local subscribers (reactor thread)."""

MAX_BATCH_PACKETS = 256
"""Most packets committed in one inbox transaction."""
MAX_BATCH_BYTES = 8 * 1024 * 1024
"""A batch takes no further packet once it holds this many bytes (a single larger packet still goes alone)."""


@dataclass(frozen=True, slots=True)
class _Queued:
    raw: bytes
    channel: Channel
    peer: str
    received_utc: datetime
    deferred: Deferred[bool]


class InboxWriter:
    """The one thread that commits what the VTP connections receive, with group commit.

    ``run`` (reactor thread) queues a packet and returns a Deferred that fires, back in the reactor thread, only
    after the transaction holding the packet committed: ACKs still follow the durable write. Whatever arrived
    while one transaction was committing goes into the next one, so a burst costs one commit (one fsync) per
    batch, not per packet, and a packet alone is committed at once. If a batch cannot be stored, each of its
    packets is tried alone, so one bad packet fails only itself. A clean stop waits until they are done.

    :meth:`run_until_stored` is for packets whose sender cannot be told they were not stored (a remote broker:
    VTP lets a subscriber only ACK): while the database cannot be written (locked, disk full) the packet is kept
    in memory and queued again, with back-off, until it is stored; a stop makes one last attempt.
    """

    def __init__(self, store: StorePackets) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._in_flight = 0  # reactor thread only, like the waiters
        self._waiters: list[Deferred[None]] = []
        self._thread: threading.Thread | None = None
        self._retries: dict[int, tuple[Any, Callable[[], None]]] = {}  # reactor thread only
        self._stopping = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write, name="inbox-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread once every queued packet is written (wait for ``drained()`` first to see them ACKed)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def run(self, raw: bytes, channel: Channel, peer: str, received_utc: datetime | None = None) -> Deferred[bool]:
        """Queue ``raw`` (reactor thread); the Deferred fires with True when it was new, False for a duplicate."""
        d: Deferred[bool] = Deferred()
        self._in_flight += 1
        self._queue.put(_Queued(raw, channel, peer, received_utc or datetime.now(UTC), d))
        return d

    def run_until_stored(self, raw: bytes, channel: Channel, peer: str) -> Deferred[bool]:
        """Like :meth:`run`, but queued again while the failure is the database's, not the packet's."""
        outer: Deferred[bool] = Deferred()
        self._in_flight += 1
        key = id(outer)
        received = datetime.now(UTC)
        delay_s = STORE_RETRY_FIRST_S
        tries = 0

        def finish(fire: Callable[[], None]) -> None:
            self._in_flight -= 1
            fire()
            self._maybe_drained()

        def attempt() -> None:
            self._retries.pop(key, None)
            self.run(raw, channel, peer, received).addCallbacks(lambda new: finish(lambda: outer.callback(new)), failed)

        def failed(failure: Any) -> None:
            nonlocal delay_s, tries
            problem = storage_unavailable(failure.value)
            if problem is None or self._stopping:
                finish(lambda: outer.errback(failure))
                return
            tries += 1
            (log.warning if tries == 1 else log.debug)(
                "packet from %s not stored yet (%s): kept in memory, trying again in %.1f s", peer, problem, delay_s
            )
            self._retries[key] = (reactor.callLater(delay_s, attempt), attempt)
            delay_s = min(delay_s * 2, STORE_RETRY_MAX_S)

        attempt()
        return outer

    def stop_retrying(self) -> None:
        """From now on a failed store is not retried; packets waiting for a retry get one last attempt now."""
        self._stopping = True
        waiting, self._retries = list(self._retries.values()), {}
        if waiting:
            log.warning("stopping: one last attempt to store %d packets kept in memory", len(waiting))
        for call, attempt in waiting:
            if call.active():
                call.cancel()
                attempt()

    def __len__(self) -> int:
        return self._in_flight

    def drained(self) -> Deferred[None]:
        """Fires once no packet is waiting for its commit (at once if none is)."""
        waiter: Deferred[None] = Deferred()
        if self._in_flight:
            self._waiters.append(waiter)
        else:
            waiter.callback(None)
        return waiter

    # -- writer thread ------------------------------------------------------------------------------------

    def _write(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.raw)
            stopping = False
            while len(batch) < MAX_BATCH_PACKETS and size < MAX_BATCH_BYTES:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                size += len(item.raw)
            outcomes = self._commit(
                [RawPacket(q.raw, q.channel, peek_ivorn(q.raw), q.peer, None, q.received_utc) for q in batch]
            )
            reactor.callFromThread(self._settle, [q.deferred for q in batch], outcomes)
            if stopping:
                return

    def _commit(self, packets: list[RawPacket]) -> list[StoredPacket | BaseException]:
        try:
            return list(self._store(packets))
        except Exception as exc:
            if len(packets) == 1 or storage_unavailable(exc) is not None:
                return [exc] * len(packets)  # the database cannot take any of them now (locked, disk full)
            log.warning("a batch of %d packets could not be stored (%s); storing each alone", len(packets), exc)
        outcomes: list[StoredPacket | BaseException] = []
        for packet in packets:
            outcomes.extend(self._commit([packet]))
        return outcomes

    # -- reactor thread -----------------------------------------------------------------------------------

    def _settle(self, deferreds: list[Deferred[bool]], outcomes: list[StoredPacket | BaseException]) -> None:
        for d, outcome in zip(deferreds, outcomes, strict=True):
            self._in_flight -= 1
            if isinstance(outcome, BaseException):
                d.errback(outcome)
            else:
                d.callback(not outcome.duplicate)
        self._maybe_drained()

    def _maybe_drained(self) -> None:
        if not self._in_flight:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.callback(None)


_reactor_lock = threading.Lock()
_reactor_thread: threading.Thread | None = None


def _ensure_reactor() -> None:
    global _reactor_thread  # noqa: PLW0603 (one reactor per process)
    with _reactor_lock:
        if _reactor_thread is not None and _reactor_thread.is_alive():
            return
        if reactor.running:
            return
        from twisted.python import log as twisted_log

        twisted_log.PythonLoggingObserver(loggerName="twisted").start()  # type: ignore[no-untyped-call]  # Comet/Twisted messages in our log
        thread = threading.Thread(
            target=reactor.run,
            kwargs={"installSignalHandlers": False},
            name="twisted-reactor",
            daemon=True,
        )
        thread.start()
        _reactor_thread = thread
        reactor.suggestThreadPoolSize(4)
        atexit.register(stop_reactor)


def stop_reactor() -> None:
    """Stop the reactor thread (end of process only: a Twisted reactor cannot be restarted)."""
    thread = _reactor_thread
    if thread is None or not thread.is_alive():
        return
    reactor.callFromThread(reactor.stop)
    thread.join(timeout=10)


def _peer(transport: Any) -> str:
    try:
        peer = transport.getPeer()
        return f"{peer.host}:{peer.port}"
    except Exception:
        return "unknown"


def _role(data: bytes) -> str | None:
    head = data[:2048]
    marker = b'role="'
    at = head.find(marker)
    if at < 0:
        marker = b"role='"
        at = head.find(marker)
    if at < 0:
        return None
    end = head.find(marker[-1:], at + len(marker))
    return head[at + len(marker) : end].decode("ascii", "replace") if end > 0 else None


TRANSPORT_ROLES = ("iamalive", "authenticate", "ack", "nak")


class _StoringMixin:
    """Keeps every VOEvent-like message Comet would drop: unparsable bytes, or a role Comet does not know
    (H.E.S.S. sends ``role="observe"``). Unparsable bytes are stored as they are (the pipeline marks them failed);
    a parsable VOEvent with an unknown role goes through the normal storing validator and is ACKed."""

    factory: Any
    transport: Any

    def lengthLimitExceeded(self, length: int) -> None:
        log.warning(
            "%d-byte message from %s refused unread (over the %d-byte transport limit); connection dropped",
            length,
            _peer(self.transport),
            self.MAX_LENGTH,  # type: ignore[attr-defined]
        )
        self.transport.loseConnection()

    def _store_raw(self, data: bytes) -> Deferred[Any]:
        writer: InboxWriter = self.factory.writer
        run = writer.run_until_stored if self.factory.channel is Channel.VTP_REMOTE else writer.run
        d = run(data, self.factory.channel, _peer(self.transport))
        d.addErrback(lambda f: log.error("could not store a packet Comet would drop: %s", f.getErrorMessage()))
        return d

    def _handle_foreign(self, data: bytes) -> Deferred[Any] | None:
        """None when Comet handles the message itself; else the Deferred of our handling."""
        role = _role(data)
        if role in TRANSPORT_ROLES or role in VOEVENT_ROLES:
            try:
                xml_document(data)
                return None
            except CometParseError:
                return self._store_raw(data)
        try:
            incoming = xml_document(data)
        except CometParseError:
            return self._store_raw(data)
        if "ivorn" not in incoming.element.attrib:
            return self._store_raw(data)
        log.info("VOEvent %s with role %r accepted", incoming.element.attrib["ivorn"], role)
        can_nak = self.factory.channel is not Channel.VTP_REMOTE  # never NAK upstream (VTP: we would be dropped)
        result: Deferred[Any] = self.process_event(incoming, can_nak=can_nak)  # type: ignore[attr-defined]
        return result


class StoringSubscriber(_StoringMixin, VOEventSubscriber):
    def __init__(self, filters: list[Any], max_length: int) -> None:
        super().__init__(filters)
        self.MAX_LENGTH = max_length

    def connectionMade(self, *args: Any) -> None:
        self.factory.on_connected(self)
        super().connectionMade(*args)

    def stringReceived(self, data: bytes) -> None:
        if _role(data) == "iamalive":
            self.factory.on_iamalive()
        if self._handle_foreign(data) is None:
            super().stringReceived(data)
        else:
            self.resetTimeout()


class StoringSubscriberFactory(VOEventSubscriberFactory):
    """A subscriber with capped, jittered back-off and health reporting.

    Twisted's back-off applies a normal-distributed jitter that can overshoot its ``maxDelay``; ours waits
    ``delay × U(1 − jitter, 1)`` with ``delay`` growing by e from ``FIRST_RETRY_S`` up to ``max_delay_s``, so the
    cap is hard. Each wait is reported in the connection's health (``next_retry_s``) and in ``broker_log``.

    A connection that had lasted ``RESET_DELAY`` seconds and is then lost is retried at once: a broker that
    drops a subscriber (a Comet broker does so at its iamalive when 10 or more events are un-ACKed, as happens
    to any subscriber while it is saturated) sends that subscriber nothing until it is back, so every second of
    back-off is a second of alerts lost. If that attempt fails, the usual back-off follows.
    """

    protocol = StoringSubscriber

    def __init__(
        self,
        name: str,
        health: HealthRegistry,
        *,
        local_ivo: str,
        validators: list[Any],
        max_length: int,
        max_delay_s: float,
        writer: InboxWriter,
        call_later: Callable[..., Any] | None = None,
    ) -> None:
        if call_later is not None:
            self.callLater = call_later  # a twisted.internet.task.Clock in tests
        super().__init__(local_ivo=local_ivo, validators=validators, handlers=[])
        self.name = name
        self.health = health
        self.writer = writer
        self.channel = Channel.VTP_REMOTE
        self.max_length = max_length
        self.maxDelay = max_delay_s
        self.jitter = RECONNECT_JITTER
        self.initialDelay = self.delay = FIRST_RETRY_S
        self.reconnects = 0
        self._last_error: str | None = None
        self._connected = False
        self._stable = False  # connected for RESET_DELAY s
        self._retry_now = False
        health.set_state(name, "vtp-remote", ConnectionState.CONNECTING)

    def buildProtocol(self, addr: Any) -> StoringSubscriber:
        self.reset_call = self.callLater(self.RESET_DELAY, self.resetDelay)
        p = StoringSubscriber(self.filters, self.max_length)
        p.factory = self
        return p

    def on_connected(self, _protocol: Any) -> None:
        self._connected, self._stable = True, False
        self.health.set_state(self.name, "vtp-remote", ConnectionState.CONNECTED, last_error=None, next_retry_s=None)

    def on_iamalive(self) -> None:
        self.health.touch(self.name, last_iamalive_utc=datetime.now(UTC))

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self._last_error = reason.getErrorMessage()
        super().clientConnectionFailed(connector, reason)

    def resetDelay(self) -> None:
        """Called once a connection has lasted ``RESET_DELAY`` s (and once at the start): back-off starts over."""
        super().resetDelay()
        self._stable = self._connected

    def clientConnectionLost(self, connector: Any, reason: Any) -> None:
        self._last_error = reason.getErrorMessage()
        self._retry_now, self._connected, self._stable = self._stable, False, False
        super().clientConnectionLost(connector, reason)

    def retry(self, connector: Any = None) -> None:
        """Schedule the next attempt (not called after ``stopTrying()``, so a stopped feed stays *stopped*)."""
        if not self.continueTrying:
            return
        connector = connector if connector is not None else self.connector
        self.retries += 1
        self.reconnects += 1
        if self._retry_now:
            wait_s, self._retry_now = 0.0, False
        else:
            wait_s = min(self.delay, self.maxDelay) * random.uniform(1.0 - self.jitter, 1.0)
            self.delay = min(self.delay * self.factor, self.maxDelay)
        self.health.set_state(
            self.name,
            "vtp-remote",
            ConnectionState.DISCONNECTED,
            last_error=self._last_error,
            reconnects=self.reconnects,
            next_retry_s=wait_s,
        )

        def reconnect() -> None:
            self._callID = None
            self.health.set_state(self.name, "vtp-remote", ConnectionState.CONNECTING, next_retry_s=None)
            connector.connect()

        self._callID = self.callLater(wait_s, reconnect)


class StoringReceiver(_StoringMixin, VOEventReceiver):
    def stringReceived(self, data: bytes) -> Any:
        handled = self._handle_foreign(data)
        if handled is None:
            return super().stringReceived(data)
        return handled.addBoth(lambda _: self.transport.loseConnection())


class StoringReceiverFactory(VOEventReceiverFactory):
    def __init__(
        self,
        *,
        local_ivo: str,
        validators: list[Any],
        max_length: int,
        writer: InboxWriter,
    ) -> None:
        super().__init__(local_ivo, validators=validators, handlers=[])
        self.writer = writer
        self.channel = Channel.VTP_AUTHOR
        self.max_length = max_length

    def buildProtocol(self, addr: Any) -> StoringReceiver:
        p = StoringReceiver()
        p.MAX_LENGTH = self.max_length
        p.factory = self
        return p


class StoreFailedError(Exception):
    """A packet could not be stored; the message is what the author's NAK says."""


class StoringValidator:
    """Comet validator: commits the raw bytes to the inbox; the ACK waits for the commit.

    When ``relay`` is given, a stored event that was new (not a duplicate) is passed on to local subscribers
    after its commit.
    """

    def __init__(
        self,
        channel: Channel,
        health: HealthRegistry,
        name: str,
        writer: InboxWriter,
        relay: RelayEvent | None = None,
    ) -> None:
        self._channel = channel
        self._health = health
        self._name = name
        self._writer = writer
        self._relay = relay

    def rename(self, name: str) -> None:
        """Report under ``name`` (the author port's real number is known only once it listens)."""
        self._name = name

    def __call__(self, event: Any) -> Deferred[None]:
        raw: bytes = event.raw_bytes
        self._health.packet(self._name)
        # A broker gets our ACK whatever happens (VTP), so its packets are kept and retried until stored;
        # an author gets a NAK and sends again.
        run = self._writer.run_until_stored if self._channel is Channel.VTP_REMOTE else self._writer.run
        d: Deferred[Any] = run(raw, self._channel, self._name)

        def stored(new: bool) -> None:
            if new and self._relay is not None:
                try:
                    self._relay(event)
                except Exception:  # relaying is a courtesy; the event is stored and will be ACKed
                    log.exception("could not relay %s to local subscribers", event.element.attrib.get("ivorn"))

        def failed(failure: Any) -> Any:
            then = "LOST (a broker is ACKed whatever happens)" if self._channel is Channel.VTP_REMOTE else "NAK sent"
            why = storage_unavailable(failure.value) or failure.getErrorMessage().strip().split("\n")[0]
            log.error("packet from %s NOT stored: %s; %s", self._name, why, then)
            self._health.touch(self._name, last_error=f"store failed: {why}")
            # Authors get a NAK saying why (not the SQL); subscribers still ACK (VTP), logged above.
            return Failure(StoreFailedError(f"not stored ({why}); please send it again later"))  # type: ignore[no-untyped-call]

        d.addCallbacks(stored, failed)
        return d


@dataclass(frozen=True, slots=True)
class VtpSettings:
    remotes: tuple[str, ...]
    receive_port: int | None
    author_whitelist: tuple[str, ...]
    local_ivo: str
    max_packet_bytes: int
    max_delay_s: float = DEFAULT_MAX_DELAY_S
    receive_interface: str = "0.0.0.0"
    broadcast_port: int | None = None
    """Rebroadcast new stored events to local VTP subscribers on this port (None = off; 0 = any free port)."""
    broadcast_interface: str = "127.0.0.1"


class VtpService:
    """Subscriptions and the author listener, living in the reactor thread."""

    def __init__(self, settings: VtpSettings, health: HealthRegistry, store_packets: StorePackets) -> None:
        self._settings = settings
        self._health = health
        self._factories: list[StoringSubscriberFactory] = []
        self._connectors: list[Any] = []
        self._listening: Any = None
        self._receiver: Any = None
        self._broadcaster: VOEventBroadcasterFactory | None = None
        self._broadcasting: Any = None
        self._writer = InboxWriter(store_packets)
        self.receive_port: int | None = None
        self.broadcast_port: int | None = None

    def start(self) -> None:
        _ensure_reactor()
        self._writer.start()
        threads.blockingCallFromThread(reactor, self._start_in_reactor)

    def _relay(self, event: Any) -> None:
        broadcaster = self._broadcaster
        if broadcaster is None:
            return
        for protocol in list(broadcaster.broadcasters):
            protocol.send_event(event)

    def _start_in_reactor(self) -> None:
        s = self._settings
        relay: RelayEvent | None = None
        if s.broadcast_port is not None:
            self._broadcaster = VOEventBroadcasterFactory(s.local_ivo, 0)  # 0: no test events of our own
            self._broadcasting = reactor.listenTCP(s.broadcast_port, self._broadcaster, interface=s.broadcast_interface)
            self.broadcast_port = self._broadcasting.getHost().port
            self._health.set_state(f"broadcast:{self.broadcast_port}", "vtp-broadcast", ConnectionState.LISTENING)
            relay = self._relay
        for remote in s.remotes:
            host, _, port = remote.rpartition(":")
            name = f"vtp://{host}:{port}"
            validator = StoringValidator(Channel.VTP_REMOTE, self._health, name, self._writer, relay)
            factory = StoringSubscriberFactory(
                name,
                self._health,
                local_ivo=s.local_ivo,
                validators=[validator],
                max_length=max(s.max_packet_bytes, TRANSPORT_MAX_BYTES),
                max_delay_s=s.max_delay_s,
                writer=self._writer,
            )
            self._factories.append(factory)
            self._connectors.append(reactor.connectTCP(host, int(port), factory))
        if s.receive_port is not None:
            validator = StoringValidator(Channel.VTP_AUTHOR, self._health, "author-port", self._writer, relay)
            receiver = StoringReceiverFactory(
                local_ivo=s.local_ivo,
                validators=[validator],
                max_length=max(s.max_packet_bytes, TRANSPORT_MAX_BYTES),
                writer=self._writer,
            )
            whitelist = [ip_network(n, strict=False) for n in s.author_whitelist]
            wrapped = WhitelistingFactory(receiver, whitelist, "submission")
            self._receiver = wrapped
            self._listening = reactor.listenTCP(s.receive_port, wrapped, interface=s.receive_interface)
            self.receive_port = self._listening.getHost().port
            name = f"author-port:{self.receive_port}"
            validator.rename(name)
            self._health.set_state(name, "vtp-author", ConnectionState.LISTENING)

    def local_subscriber_count(self) -> int:
        """How many local VTP subscribers are connected to the rebroadcast port (0 when not rebroadcasting)."""

        def count() -> int:
            return len(self._broadcaster.broadcasters) if self._broadcaster is not None else 0

        if _reactor_thread is None or not _reactor_thread.is_alive():
            return 0
        result: int = threads.blockingCallFromThread(reactor, count)
        return result

    def stop(self) -> None:
        if _reactor_thread is not None and _reactor_thread.is_alive():
            threads.blockingCallFromThread(reactor, self._stop_in_reactor)
        self._writer.stop()

    def _stop_in_reactor(self) -> Deferred[Any]:
        """Close every way in, then wait for the commits already in flight (their ACKs may go unsent)."""
        waits: list[Deferred[Any]] = []
        for factory in self._factories:
            factory.stopTrying()  # before disconnecting, or it reconnects
            self._health.set_state(factory.name, "vtp-remote", ConnectionState.STOPPED)
        for connector in self._connectors:
            connector.disconnect()
        self._factories.clear()
        self._connectors.clear()
        if self._listening is not None:
            waits.append(self._listening.stopListening())
            for wrapper in list(self._receiver.protocols):  # authors still connected: no new packet after this
                wrapper.loseConnection()
            self._health.set_state(f"author-port:{self.receive_port}", "vtp-author", ConnectionState.STOPPED)
            self._listening = None
            self._receiver = None
        if self._broadcasting is not None and self._broadcaster is not None:
            waits.append(self._broadcasting.stopListening())
            for protocol in list(self._broadcaster.broadcasters):
                protocol.transport.loseConnection()
            self._health.set_state(f"broadcast:{self.broadcast_port}", "vtp-broadcast", ConnectionState.STOPPED)
            self._broadcasting = None
            self._broadcaster = None
        self._writer.stop_retrying()
        if len(self._writer):
            log.info("waiting for %d inbox commits in flight", len(self._writer))
        waits.append(self._writer.drained())
        return DeferredList(waits, consumeErrors=True)


class NoReplyError(ConnectionError):
    """The author port closed the connection without a reply: it does so for a packet it cannot read (no IVORN
    to answer about) once it has stored the bytes (they are kept in the inbox as failed)."""


def send_to_author_port(host: str, port: int, packet: bytes, timeout_s: float = 10.0) -> str:
    """Act as a VTP author: send one packet, return the reply's role ("ack"/"nak"). Blocking; no reactor needed."""
    import socket
    import struct

    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack("!i", len(packet)) + packet)
        header = b""
        while len(header) < 4:
            chunk = sock.recv(4 - len(header))
            if not chunk:
                raise NoReplyError("connection closed before the reply")
            header += chunk
        (length,) = struct.unpack("!i", header)
        reply = b""
        while len(reply) < length:
            chunk = sock.recv(length - len(reply))
            if not chunk:
                raise ConnectionError("connection closed in the middle of the reply")
            reply += chunk
    return _role(reply) or "unknown"
