"""Watches the database for new and changed rows and tells the views (the GUI only observes).

A QTimer reads a handful of watermarks (max ids on indexed primary keys) once a second; when the engine
reports a result on its own thread, ``wake()`` (queued to the GUI thread) polls at once. What changed is
handed to the models as sets of ids; nothing here writes.

On PostgreSQL (a shared deployment) :meth:`DatabaseWatcher.listen` replaces the once-a-second poll: every
commit announces itself with ``NOTIFY`` and a listener thread wakes the watcher, which then reads the
watermarks once per batch of notices; the timer stays only as a slow safety net.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from tracet_gui.storage.coordination import ChangeListener, ChangeNotice
from tracet_gui.storage.database import Database
from tracet_gui.storage.views import ChangeSet, Sessions, Watermarks, changes_between, read_watermarks

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 1000
"""How often the database is checked for changes when nobody wakes the watcher (ms)."""

WAKE_SPACING_MS = 250
"""Least time between two polls asked for by wakes (engine results, notices): a burst of 1,000 results costs a
few polls a second, not a queue of 1,000 polls the GUI thread would work through without a break (ms)."""

LISTENING_POLL_INTERVAL_MS = 30_000
"""The safety-net poll while change notices arrive (ms): notices do the work, this only bounds a miss."""


class DatabaseWatcher(QObject):
    """Emits ``changed(ChangeSet)`` whenever rows appear or change; ``result(obj)`` relays engine results."""

    changed = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    _wake = Signal()

    def __init__(self, sessions: Sessions, parent: QObject | None = None, interval_ms: int = POLL_INTERVAL_MS) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self._marks = read_watermarks(sessions)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)
        self._wake.connect(self._woken)
        self._wake_timer = QTimer(self)
        self._wake_timer.setSingleShot(True)
        self._wake_timer.timeout.connect(self.poll)
        self._last_poll = float("-inf")
        self._last_error: str | None = None
        self._listener: ChangeListener | None = None
        self.notice_batches = 0
        """Batches of change notices received (a viewer on PostgreSQL); 0 while polling."""

    @property
    def watermarks(self) -> Watermarks:
        return self._marks

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._wake_timer.stop()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    @property
    def listening(self) -> bool:
        """True while change notices, not the timer, drive this watcher."""
        return self._listener is not None and self._listener.connected.is_set()

    def listen(self, database: Database) -> bool:
        """Re-read when ``database`` announces a commit instead of every second; False where it cannot.

        Call before :meth:`start`. The listener thread only emits a queued signal; every (re)connection polls
        too, since notices sent while disconnected are lost.
        """
        listener = database.change_listener(self._on_notices, on_connected=self._wake.emit)
        if listener is None:
            return False
        self._listener = listener
        self._timer.setInterval(LISTENING_POLL_INTERVAL_MS)
        listener.start()
        return True

    def _on_notices(self, _batch: list[ChangeNotice]) -> None:  # listener thread
        self.notice_batches += 1
        self._wake.emit()

    def on_engine_result(self, result: Any) -> None:
        """Callback for the engine (any thread): relay the frozen result and poll on the GUI thread."""
        self.result.emit(result)
        self._wake.emit()

    @Slot()
    def _woken(self) -> None:
        """Poll soon: at once after a quiet spell, else ``WAKE_SPACING_MS`` after the last poll (wakes coalesce)."""
        if self._wake_timer.isActive():
            return
        wait_ms = WAKE_SPACING_MS - (time.monotonic() - self._last_poll) * 1000
        self._wake_timer.start(int(max(0.0, wait_ms)))  # wait_ms is -inf before the first poll

    @Slot()
    def poll(self) -> ChangeSet:
        """Read the watermarks; emit and return what changed since the last poll."""
        self._last_poll = time.monotonic()
        try:
            marks = read_watermarks(self._sessions)
            changes = changes_between(self._sessions, self._marks, marks)
        except Exception as exc:  # the database may be briefly unavailable; keep watching
            message = f"database read failed: {type(exc).__name__}: {exc}"
            if message != self._last_error:
                log.warning("%s", message)
                self.failed.emit(message)
            self._last_error = message
            return ChangeSet()
        self._last_error = None
        self._marks = marks
        if not changes.empty:
            self.changed.emit(changes)
        return changes
