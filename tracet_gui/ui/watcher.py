"""Watches the database for new and changed rows and tells the views (the GUI only observes).

A QTimer reads a handful of watermarks (max ids on indexed primary keys) once a second; when the engine
reports a result on its own thread, ``wake()`` (queued to the GUI thread) polls at once. What changed is
handed to the models as sets of ids; nothing here writes.

A poll reads on a worker thread, never on the GUI thread: the watermarks, the changes, then whatever the
window's ``PollJob`` asks for (the changed rows of every live list, the totals, ...), all as frozen values
the GUI thread only applies (``polled``). At most one poll is in flight; polls asked for meanwhile make one
more when it is over.

On PostgreSQL (a shared deployment) :meth:`DatabaseWatcher.listen` replaces the once-a-second poll: every
commit announces itself with ``NOTIFY`` and a listener thread wakes the watcher, which then reads the
watermarks once per batch of notices; the timer stays only as a slow safety net.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

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


class PollJob(Protocol):
    """What a poll reads besides the changes, on the watcher's worker thread (no Qt object may be touched)."""

    def run(self, sessions: Sessions, changes: ChangeSet) -> Any:
        """Frozen results for the GUI thread to apply; None when there is nothing to read."""
        ...


@dataclass(frozen=True)
class PollResult:
    """One poll: what changed, and what its ``PollJob`` read (None: no job, or nothing to read)."""

    changes: ChangeSet
    fetched: Any = None


class DatabaseWatcher(QObject):
    """Emits ``changed(ChangeSet)`` whenever rows appear or change and ``polled(PollResult)`` with what the poll's
    job read; ``result(obj)`` relays engine results. Both are emitted on the GUI thread after the worker read."""

    changed = Signal(object)
    polled = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    _wake = Signal()
    _done = Signal(object)

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
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watcher")
        self._in_flight = False
        self._again = False
        self._job: Callable[[], PollJob | None] | None = None
        self._done.connect(self._finish)  # emitted on the worker thread: queued to this (the GUI) thread
        self.polls_done = 0
        """Polls whose reads are over and applied."""

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
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)  # a poll in progress ends (reads only); its result is dropped
        self._in_flight = self._again = False

    def set_job(self, snapshot: Callable[[], PollJob | None]) -> None:
        """``snapshot()`` is called on the GUI thread as each poll starts; the job it returns runs on the worker."""
        self._job = snapshot

    @property
    def busy(self) -> bool:
        """True while a poll is in flight or one more is due (after it, or on the wake timer)."""
        return self._in_flight or self._again or self._wake_timer.isActive()

    def request_poll(self) -> None:
        """Poll soon (coalesced with other requests and wakes, like an engine result)."""
        self._woken()

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
    def poll(self) -> None:
        """Start reading what changed since the last poll on the worker thread (``changed``/``polled`` follow on
        the GUI thread); while a poll is in flight, only note that one more is due when it is over."""
        if self._executor is None:
            return
        if self._in_flight:
            self._again = True
            return
        self._last_poll = time.monotonic()
        self._in_flight = True
        self._again = False
        job = self._job() if self._job is not None else None
        self._executor.submit(self._read, self._marks, job)

    def _read(self, marks: Watermarks, job: PollJob | None) -> None:  # worker thread
        try:
            new = read_watermarks(self._sessions)
            changes = changes_between(self._sessions, marks, new)
            fetched = job.run(self._sessions, changes) if job is not None else None
        except Exception as exc:  # the database may be briefly unavailable; keep watching
            self._done.emit(f"database read failed: {type(exc).__name__}: {exc}")
            return
        self._done.emit((new, PollResult(changes, fetched)))

    @Slot(object)
    def _finish(self, outcome: tuple[Watermarks, PollResult] | str) -> None:
        self._in_flight = False
        if self._executor is None:  # stopped meanwhile
            return
        if isinstance(outcome, str):
            if outcome != self._last_error:
                log.warning("%s", outcome)
                self.failed.emit(outcome)
            self._last_error = outcome
        else:
            self._last_error = None
            self._marks, result = outcome
            if not result.changes.empty:
                self.changed.emit(result.changes)
            if not result.changes.empty or result.fetched is not None:
                self.polled.emit(result)
        self.polls_done += 1
        if self._again:
            self._again = False
            self._woken()
