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

from tracet_gui.core.clock import Clock
from tracet_gui.core.sending import RequestSender
from tracet_gui.core.vocabulary import InboxStatus
from tracet_gui.pipeline.decider import JobReport, PointingChooser, RequestJob, run_job
from tracet_gui.pipeline.overrides import OverrideExecutor
from tracet_gui.pipeline.processor import PacketProcessor, ProcessedPacket
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.inbox import unprocessed_inbox_ids

log = logging.getLogger(__name__)

#: How often (s) the runner looks for work nobody told it about (other processes, operator actions).
IDLE_SCAN_S = 1.0

#: Telescope requests that may be in flight at once.
TELESCOPE_WORKERS = 4


@dataclass(frozen=True, slots=True)
class _Wake:
    pass


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


ResultCallback = Callable[[ProcessedPacket], None]


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
    ) -> None:
        self._sessions = sessions
        self._processor = processor
        self._overrides = overrides
        self._sender = sender
        self._chooser = chooser
        self._clock = clock
        self._on_result = on_result
        self._queue: queue.Queue[_Wake | _Stop | JobReport] = queue.Queue()
        self._pool = ThreadPoolExecutor(TELESCOPE_WORKERS, thread_name_prefix="telescope")
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self._lock = threading.Lock()
        self.processed = 0
        processor.job_runner = self._submit_job

    # -- any thread -----------------------------------------------------------------------------------------

    def notify(self, _inbox_id: int | None = None) -> None:
        """New rows are in the inbox (called by ingest after its commit)."""
        self._queue.put(_Wake())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()
        self.notify()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the packet in hand, stop, wait for telescope workers (they have their own timeouts)."""
        self._queue.put(_Stop())
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._pool.shutdown(wait=True, cancel_futures=True)

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
            ids = unprocessed_inbox_ids(self._sessions, after_id=last, limit=500)
            if not ids:
                return
            for inbox_id in ids:
                self._emit(self._processor.process(inbox_id))
                self.processed += 1
                last = inbox_id
                self._record_reports(block=False)

    def _record_reports(self, *, block: bool) -> None:
        """Record any telescope reports waiting (non-blocking) without losing other queue items."""
        pending: list[_Wake | _Stop] = []
        while True:
            try:
                item = self._queue.get(block=block, timeout=0.0 if not block else None)
            except queue.Empty:
                break
            if isinstance(item, JobReport):
                self._record(item)
            else:
                pending.append(item)
            block = False
        for item in pending:
            self._queue.put(item)

    def _record(self, report: JobReport) -> None:
        try:
            self._emit(self._processor.record(report))
        except Exception:
            log.exception("recording a telescope report failed (decision %s)", report.job.decision_id)

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
            try:
                self._drain_inbox()
                self._run_overrides()
            except Exception:
                log.exception("pipeline pass failed; continuing")
            try:
                item = self._queue.get(timeout=IDLE_SCAN_S)
            except queue.Empty:
                continue
            if isinstance(item, _Stop):
                self._finish_in_flight()
                return
            if isinstance(item, JobReport):
                self._record(item)

    def _finish_in_flight(self, timeout_s: float = 20.0) -> None:
        """Record reports of jobs still running so a clean stop leaves no decision half-written."""
        deadline = time.monotonic() + timeout_s
        while self.telescope_jobs_in_flight or not self._queue.empty():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("stopping with %d telescope requests unanswered", self.telescope_jobs_in_flight)
                return
            try:
                item = self._queue.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if isinstance(item, JobReport):
                self._record(item)
