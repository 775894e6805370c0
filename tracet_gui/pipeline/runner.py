"""The pipeline thread: the single writer that turns inbox rows into decisions, in arrival order.

Ingest threads only commit raw packets and call :meth:`PipelineRunner.notify`. The runner then processes every
unprocessed inbox row in id order (so a start-up after a crash picks up whatever was stored but not processed),
executes pending operator actions, and records telescope reports. Telescope jobs run on a small worker pool so
a hung telescope delays nobody; their reports come back through the same queue.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tracet_gui.core.clock import Clock
from tracet_gui.core.runtime import freeze_long_lived_objects
from tracet_gui.core.sending import RequestSender
from tracet_gui.core.vocabulary import InboxStatus
from tracet_gui.pipeline.decider import JobReport, PointingChooser, RequestJob, run_job
from tracet_gui.pipeline.overrides import OverrideExecutor
from tracet_gui.pipeline.processor import PacketProcessor, ProcessedPacket
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.engine import WalCheckpointer
from tracet_gui.storage.errors import storage_unavailable
from tracet_gui.storage.inbox import RawPacket, StoredPacket, unprocessed_inbox_items

log = logging.getLogger(__name__)

#: How often (s) the runner looks for work nobody told it about (other processes, operator actions).
IDLE_SCAN_S = 1.0

#: Inbox rows (with their raw bytes) fetched per query while draining (a backlog is processed in batches of up
#: to this many per transaction, see ``PacketProcessor.process_many``).
DRAIN_BATCH = 64

#: Telescope requests that may be in flight at once.
TELESCOPE_WORKERS = 4

#: First and longest pause (s) between passes while the database cannot be written (locked, disk full).
STORAGE_RETRY_FIRST_S = 0.5
STORAGE_RETRY_MAX_S = 5.0


def prepare_long_running_process() -> None:
    """Load what the first packet would otherwise load, then exempt everything alive from garbage collection
    (``freeze_long_lived_objects``: full collections stopped every thread, ACKs and the pipeline, 150–350 ms)."""
    from tracet_gui.core.visibility import MWA_SITE, altitudes_deg

    altitudes_deg(MWA_SITE, 0.0, 0.0, [datetime.now(UTC)])  # IERS table and leap seconds, read once
    freeze_long_lived_objects()


@dataclass(frozen=True, slots=True)
class _Wake:
    pass


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


class _StorageStillUnavailableError(Exception):
    """Telescope answers could not be written yet (the database is still unavailable)."""


ResultCallback = Callable[[ProcessedPacket], None]

StorageCallback = Callable[[str | None], None]
"""Told why the database cannot be written (an operator message), or None once it can again."""


class PipelineRunner:
    def __init__(
        self,
        sessions: SessionFactory,
        processor: PacketProcessor,
        overrides: OverrideExecutor | None,
        sender: RequestSender,
        chooser: PointingChooser | None,
        clock: Clock,
        on_result: ResultCallback | None = None,
        on_storage: StorageCallback | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_storage = on_storage
        self._storage_problem: str | None = None
        self._storage_retry_s = STORAGE_RETRY_FIRST_S
        self._unrecorded: list[JobReport] = []
        self._processor = processor
        self._overrides = overrides
        self._sender = sender
        self._chooser = chooser
        self._clock = clock
        self._on_result = on_result
        self._queue: queue.Queue[_Wake | _Stop | JobReport] = queue.Queue()
        self._pool = ThreadPoolExecutor(TELESCOPE_WORKERS, thread_name_prefix="telescope")
        self._thread: threading.Thread | None = None
        bind = sessions.kw.get("bind")
        self._checkpointer = WalCheckpointer(bind) if bind is not None and hasattr(bind, "dialect") else None
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._working = threading.RLock()
        """Held by whichever thread processes or writes decisions: the pipeline thread for its passes and
        telescope reports, an ingest thread for ``store_and_process``. One processor, one thread at a time."""
        self.processed = 0
        self.passes = 0
        """Passes over the inbox completed (a pass runs at start, on each wake and every ``IDLE_SCAN_S``)."""
        processor.job_runner = self._submit_job

    # -- any thread -----------------------------------------------------------------------------------------

    def notify(self, _inbox_id: int | None = None) -> None:
        """New rows are in the inbox (called by ingest after its commit)."""
        self._queue.put(_Wake())

    def store_and_process(self, packet: RawPacket) -> tuple[StoredPacket, bool] | None:
        """Store and process a packet that arrived alone in one transaction (ingest thread, holding the write
        turn: ``PacketProcessor.store_and_process``), if the pipeline is idle; else None at once (the caller
        stores it and wakes the pipeline, as for any packet). Returns the stored packet and whether it was
        processed (False: only stored, the pipeline has older rows to process first)."""
        if self._thread is None or self._stopping or not self._working.acquire(blocking=False):
            return None
        try:
            if self._stopping or self._unrecorded or self._storage_problem is not None or not self._queue.empty():
                # Stopping (the telescope workers may be gone), or telescope answers or a wake not yet handled:
                # decided after them, by the pipeline thread, like any packet.
                return None
            outcome = self._processor.store_and_process(packet)
            if outcome is None:
                return None
            stored, result = outcome
            if result is not None:
                self.processed += 1
                self._emit(result)
            return stored, result is not None
        finally:
            self._working.release()

    def start(self) -> None:
        prepare_long_running_process()
        if self._checkpointer is not None:
            self._checkpointer.start()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()
        self.notify()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the packet in hand, stop, wait for telescope workers (they have their own timeouts)."""
        # Set while no one-transaction packet is in hand (its telescope job must still reach the workers, and
        # _finish_in_flight see it); a pipeline pass holding the lock longer than the timeout is not waited for.
        locked = self._working.acquire(timeout=timeout_s)
        self._stopping = True
        if locked:
            self._working.release()
        self._queue.put(_Stop())
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._checkpointer is not None:
            self._checkpointer.stop()

    @property
    def telescope_jobs_in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- pipeline thread ------------------------------------------------------------------------------------

    def _submit_job(self, job: RequestJob) -> None:
        with self._lock:
            self._in_flight += 1

        def work() -> None:
            try:
                report = run_job(job, self._sender, self._chooser, self._clock)
            finally:
                with self._lock:
                    self._in_flight -= 1
            self._queue.put(report)

        self._pool.submit(work)

    def _emit(self, result: ProcessedPacket) -> None:
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:
                log.exception("result callback failed")

    def _drain_inbox(self) -> None:
        last = 0
        while True:
            items = unprocessed_inbox_items(self._sessions, after_id=last, limit=DRAIN_BATCH)
            if not items:
                return
            start = 0
            while start < len(items):  # a transaction for as many of them as fit (``process_many``)
                results = self._processor.process_many(items[start:])
                for result in results:
                    self._emit(result)
                self.processed += len(results)
                start += len(results)
                last = items[start - 1].inbox_id
                self._record_reports(block=False)
            if len(items) < DRAIN_BATCH:
                return  # rows committed meanwhile come with their own wake (or the idle scan)

    def _record_reports(self, *, block: bool, first: JobReport | None = None) -> None:
        """Record any telescope reports waiting (non-blocking) without losing other queue items; all that are
        waiting (after ``first``) go in one transaction."""
        pending: list[_Wake | _Stop] = []
        reports: list[JobReport] = [first] if first is not None else []
        while True:
            try:
                item = self._queue.get(block=block, timeout=0.0 if not block else None)
            except queue.Empty:
                break
            if isinstance(item, JobReport):
                reports.append(item)
            else:
                pending.append(item)
            block = False
        self._record(*reports)
        for item in pending:
            self._queue.put(item)

    def _record(self, *reports: JobReport) -> None:
        """Record reports in one transaction; if that fails, each alone (one bad report fails only itself)."""
        if not reports:
            return
        if len(reports) > 1:
            try:
                results = self._processor.record_many(reports)
            except Exception:
                log.exception("recording %d telescope reports together failed; recording each alone", len(reports))
            else:
                for result in results:
                    self._emit(result)
                return
        for report in reports:
            try:
                self._emit(self._processor.record(report))
            except Exception as exc:
                problem = storage_unavailable(exc)
                if problem is None:
                    log.exception("recording a telescope report failed (decision %s)", report.job.decision_id)
                    continue
                self._unrecorded.append(report)  # the telescope answered: kept until it can be written
                self._storage_failed(problem)

    def _record_unrecorded(self) -> None:
        reports, self._unrecorded = self._unrecorded, []
        for report in reports:
            self._record(report)
        if self._unrecorded:
            raise _StorageStillUnavailableError

    def _storage_failed(self, problem: str) -> None:
        if self._storage_problem is None:
            log.error(
                "database unavailable (%s): packets wait in the inbox, telescope answers in memory; "
                "retrying every %.1f-%.0f s",
                problem,
                STORAGE_RETRY_FIRST_S,
                STORAGE_RETRY_MAX_S,
            )
            self._notify_storage(problem)
        self._storage_problem = problem

    def _storage_ok(self) -> None:
        self._storage_retry_s = STORAGE_RETRY_FIRST_S
        if self._storage_problem is not None:
            log.warning("database available again (was: %s): processing what waited", self._storage_problem)
            self._storage_problem = None
            self._notify_storage(None)

    def _notify_storage(self, problem: str | None) -> None:
        if self._on_storage is not None:
            try:
                self._on_storage(problem)
            except Exception:
                log.exception("storage status callback failed")

    def _pause_for_storage(self) -> bool:
        """Wait before the next attempt (keeping telescope reports that arrive); True when told to stop."""
        deadline = time.monotonic() + self._storage_retry_s
        self._storage_retry_s = min(self._storage_retry_s * 2, STORAGE_RETRY_MAX_S)
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if isinstance(item, _Stop):
                self._finish_in_flight()
                return True
            if isinstance(item, JobReport):
                self._unrecorded.append(item)
        return False

    def _run_overrides(self) -> None:
        if self._overrides is None:
            return
        try:
            changes, jobs = self._overrides.execute_pending()
        except Exception:
            log.exception("operator actions failed")
            return
        for job in jobs:
            self._submit_job(job)
        if changes:
            self._emit(ProcessedPacket(None, InboxStatus.PROCESSED, decision_changes=tuple(changes)))

    def _run(self) -> None:
        while True:
            passed_at = time.monotonic()
            try:
                with self._working:
                    self._record_unrecorded()
                    self._drain_inbox()
                    self._run_overrides()
                self.passes += 1
                self._storage_ok()
            except _StorageStillUnavailableError:
                if self._pause_for_storage():
                    return
                continue
            except Exception as exc:
                problem = storage_unavailable(exc)
                if problem is None:
                    log.exception("pipeline pass failed; continuing")
                else:  # not the packets' fault: they stay new and are processed once it can be written
                    self._storage_failed(problem)
                    if self._pause_for_storage():
                        return
                    continue
            if self._wait_for_work(passed_at):
                return

    def _wait_for_work(self, passed_at: float) -> bool:
        """Wait until a pass is due: new inbox rows (a wake) or ``IDLE_SCAN_S`` after the last pass. Telescope
        reports arriving meanwhile are recorded without a pass (they add no inbox rows; the next pass still
        comes within ``IDLE_SCAN_S``). True when told to stop."""
        while True:
            remaining = passed_at + IDLE_SCAN_S - time.monotonic()
            if remaining <= 0:
                return False  # a pass is due (waiting reports are recorded after it)
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if isinstance(item, _Stop):
                self._finish_in_flight()
                return True
            if not isinstance(item, JobReport):
                return False
            with self._working:
                self._record_reports(block=False, first=item)  # with any other report already waiting
            if self._unrecorded:
                return False  # the database failed: the pass retries them, with its pauses

    def _finish_in_flight(self, timeout_s: float = 20.0) -> None:
        """Record reports of jobs still running so a clean stop leaves no decision half-written."""
        deadline = time.monotonic() + timeout_s
        while self.telescope_jobs_in_flight or not self._queue.empty():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("stopping with %d telescope requests unanswered", self.telescope_jobs_in_flight)
                break
            try:
                item = self._queue.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if isinstance(item, JobReport):
                with self._working:
                    self._record(item)
        try:
            with self._working:
                self._record_unrecorded()
        except _StorageStillUnavailableError:
            for report in self._unrecorded:
                log.error(
                    "stopping with the telescope answer for decision %s not written (%s): %s",
                    report.job.decision_id,
                    self._storage_problem,
                    "; ".join(f"{'ok' if r.ok else 'failed'}: {r.message}" for r in report.results) or "no requests",
                )
