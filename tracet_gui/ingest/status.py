"""Publishes the engine's feed health to the database every few seconds, for viewer consoles.

A console with its own engine asks the engine; a viewer (``tracet-gui run --viewer`` beside a ``headless``
engine) reads ``feed_status`` instead, and the age of those rows tells it whether the engine is alive. On a
clean stop the rows are marked ``stopped`` at once, so viewers do not wait for them to go stale.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from tracet_gui.ingest.health import ConnectionHealth, ConnectionState
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.feed_status import PUBLISH_INTERVAL_S, FeedStatus, publish_feed_status

log = logging.getLogger(__name__)


def engine_name() -> str:
    """This engine as viewers see it: process and host."""
    return f"tracet-gui engine pid {os.getpid()} on {socket.gethostname()}"


def feed_status_of(health: ConnectionHealth, *, stopped: bool = False) -> FeedStatus:
    state = ConnectionState.STOPPED.value if stopped else str(health.state.value)
    detail = f"engine stopped; {health.detail}" if stopped else health.detail
    return FeedStatus(health.name, health.kind, state, health.since_utc, health.last_packet_utc, health.packets, detail)


class FeedStatusPublisher:
    """A daemon thread writing ``health()`` to ``feed_status`` every ``interval_s`` (and once more at stop)."""

    def __init__(
        self,
        sessions: SessionFactory,
        health: Callable[[], Sequence[ConnectionHealth]],
        *,
        interval_s: float = PUBLISH_INTERVAL_S,
        name: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._health = health
        self._interval_s = interval_s
        self._name = name or engine_name()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        """How many times the status was written (a failed write is logged and retried next time)."""

    def start(self) -> FeedStatusPublisher:
        self._thread = threading.Thread(target=self._run, name="feed-status", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop publishing and mark every connection stopped."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.publish(stopped=True)

    def publish(self, *, stopped: bool = False) -> None:
        try:
            items = [feed_status_of(h, stopped=stopped) for h in self._health()]
            publish_feed_status(self._sessions, self._name, items, datetime.now(UTC))
            self.published += 1
        except Exception:  # the database may be briefly unavailable: the next round tries again
            log.warning("could not publish the feed status", exc_info=True)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.publish()
            self._stopping.wait(self._interval_s)
