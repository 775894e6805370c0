"""Per-connection health: frozen records the GUI and the log read, a thread-safe registry that updates them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LISTENING = "listening"
    DISCONNECTED = "disconnected"
    DISABLED = "disabled"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """One feed connection (a remote VTP broker, the author port, GCN Kafka) as it is now."""

    name: str
    kind: str
    state: ConnectionState
    since_utc: datetime
    last_iamalive_utc: datetime | None = None
    last_packet_utc: datetime | None = None
    packets: int = 0
    reconnects: int = 0
    next_retry_s: float | None = None
    last_error: str | None = None

    @property
    def detail(self) -> str:
        parts = []
        if self.last_error:
            parts.append(self.last_error)
        if self.next_retry_s is not None and self.state in (ConnectionState.DISCONNECTED, ConnectionState.ERROR):
            parts.append(f"retry in {self.next_retry_s:.0f} s")
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnects")
        if self.last_iamalive_utc:
            parts.append(f"iamalive {self.last_iamalive_utc:%H:%M:%S}")
        parts.append(f"{self.packets} packets")
        return "; ".join(parts)


StateListener = Callable[[ConnectionHealth], None]


class HealthRegistry:
    """Holds the latest health of every connection; state changes go to listeners (e.g. broker_log)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, ConnectionHealth] = {}
        self._listeners: list[StateListener] = []

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def snapshot(self) -> list[ConnectionHealth]:
        with self._lock:
            return list(self._items.values())

    def get(self, name: str) -> ConnectionHealth | None:
        with self._lock:
            return self._items.get(name)

    def set_state(self, name: str, kind: str, state: ConnectionState, **changes: Any) -> ConnectionHealth:
        now = datetime.now(UTC)
        with self._lock:
            old = self._items.get(name)
            if old is None:
                new = ConnectionHealth(name, kind, state, now, **changes)
            else:
                since = old.since_utc if old.state == state else now
                new = replace(old, state=state, since_utc=since, **changes)
            self._items[name] = new
            changed = (
                old is None or old.state != state or ("last_error" in changes and old.last_error != new.last_error)
            )
        if changed:
            for listener in self._listeners:
                try:
                    listener(new)
                except Exception:  # a broken listener must not break ingest
                    log.exception("health listener failed")
        return new

    def touch(self, name: str, **changes: Any) -> None:
        """Update counters/timestamps without a state change (no listener call)."""
        with self._lock:
            old = self._items.get(name)
            if old is not None:
                self._items[name] = replace(old, **changes)

    def packet(self, name: str) -> None:
        now = datetime.now(UTC)
        with self._lock:
            old = self._items.get(name)
            if old is not None:
                self._items[name] = replace(old, packets=old.packets + 1, last_packet_utc=now)
