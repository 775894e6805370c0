"""Watches the database for new and changed rows and tells the views (the GUI only observes).

A QTimer reads a handful of watermarks (max ids on indexed primary keys) once a second; when the engine
reports a result on its own thread, ``wake()`` (queued to the GUI thread) polls at once. What changed is
handed to the models as sets of ids; nothing here writes.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from tracet_gui.storage.views import ChangeSet, Sessions, Watermarks, changes_between, read_watermarks

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 1000
"""How often the database is checked for changes when nobody wakes the watcher (ms)."""


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
        self._wake.connect(self.poll)
        self._last_error: str | None = None

    @property
    def watermarks(self) -> Watermarks:
        return self._marks

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def on_engine_result(self, result: Any) -> None:
        """Callback for the engine (any thread): relay the frozen result and poll on the GUI thread."""
        self.result.emit(result)
        self._wake.emit()

    @Slot()
    def poll(self) -> ChangeSet:
        """Read the watermarks; emit and return what changed since the last poll."""
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
