"""One inbox packet = one transaction: parse, store the event, group it, decide, record.

Telescope requests leave only after that transaction committed (a :class:`JobRunner` sends them, inline
for replays or on worker threads when live); their answers come back through :meth:`PacketProcessor.record`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tracet_gui.core.clock import Clock, SystemClock
from tracet_gui.core.grouping import fold_event
from tracet_gui.core.records import ParseError
from tracet_gui.core.sending import RequestSender
from tracet_gui.core.vocabulary import InboxStatus
from tracet_gui.pipeline.decider import (
    DecisionChange,
    JobReport,
    PointingChooser,
    ProposalDecider,
    RequestJob,
    run_job,
)
from tracet_gui.pipeline.parse import VOEventParser
from tracet_gui.storage import events as event_store
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.inbox import load_inbox_item, mark_inbox, mark_inbox_failed

log = logging.getLogger(__name__)

__all__ = ["DecisionChange", "InlineJobRunner", "PacketProcessor", "ProcessedPacket"]


@dataclass(frozen=True, slots=True)
class ProcessedPacket:
    """What processing one inbox row (or one telescope report) did; crosses to the GUI thread as is."""

    inbox_id: int | None
    status: InboxStatus
    error: str | None = None
    event_id: int | None = None
    group_id: int | None = None
    trig_id: str | None = None
    ivorn: str | None = None
    ignored: bool | None = None
    ignore_reason: str | None = None
    decision_changes: tuple[DecisionChange, ...] = ()


JobRunner = Callable[[RequestJob], None]
"""Takes a job after its decision was committed; must eventually hand the JobReport to ``record``."""


class PacketProcessor:
    """Turns inbox rows into events, groups and decisions. Owned by one thread (the single writer)."""

    def __init__(
        self,
        sessions: SessionFactory,
        parser: VOEventParser | None = None,
        decider: ProposalDecider | None = None,
        clock: Clock | None = None,
        job_runner: JobRunner | None = None,
    ) -> None:
        self._sessions = sessions
        self._parser = parser or VOEventParser()
        self._decider = decider
        self._clock = clock or SystemClock()
        self.job_runner = job_runner

    def process(self, inbox_id: int) -> ProcessedPacket:
        try:
            result, jobs = self._process(inbox_id)
        except ParseError as exc:
            mark_inbox_failed(self._sessions, inbox_id, str(exc))
            return ProcessedPacket(inbox_id, InboxStatus.FAILED, error=str(exc))
        except Exception as exc:  # one bad packet must never stop the pipeline
            log.exception("processing inbox row %s failed", inbox_id)
            message = f"{type(exc).__name__}: {exc}"
            mark_inbox_failed(self._sessions, inbox_id, message)
            return ProcessedPacket(inbox_id, InboxStatus.FAILED, error=message)
        self._dispatch(jobs)
        return result

    def _process(self, inbox_id: int) -> tuple[ProcessedPacket, list[RequestJob]]:
        with self._sessions() as session:
            item = load_inbox_item(session, inbox_id)
            if item.status is not InboxStatus.NEW:
                return ProcessedPacket(inbox_id, item.status), []
            event = self._parser.parse(item.raw)
            event_id = event_store.add_event(session, inbox_id, event, item.received_utc)
            stored = event_store.load_group(session, event.trig_id)
            state = fold_event(stored.state if stored else None, event_id, event, item.received_utc)
            group_id = event_store.save_group(session, stored.group_id if stored else None, state)
            event_store.link_event(session, event_id, group_id)
            changes: list[DecisionChange] = []
            jobs: list[RequestJob] = []
            if self._decider is not None and not event.ignored:
                changes, jobs = self._decider.decide(session, group_id, event_id, event, item.received_utc)
            mark_inbox(session, inbox_id, InboxStatus.PROCESSED, at_utc=self._clock.now())
            session.commit()
        result = ProcessedPacket(
            inbox_id,
            InboxStatus.PROCESSED,
            event_id=event_id,
            group_id=group_id,
            trig_id=event.trig_id,
            ivorn=event.ivorn,
            ignored=event.ignored,
            ignore_reason=event.ignore_reason,
            decision_changes=tuple(changes),
        )
        return result, jobs

    def record(self, report: JobReport) -> ProcessedPacket:
        """Record a telescope job's answers (pipeline thread); may dispatch follow-up jobs (GW sky maps)."""
        if self._decider is None:
            raise RuntimeError("telescope report without a decider")
        with self._sessions() as session:
            changes, jobs = self._decider.record_report(session, report)
            session.commit()
        self._dispatch(jobs)
        return ProcessedPacket(
            None, InboxStatus.PROCESSED, group_id=report.job.group_id, decision_changes=tuple(changes)
        )

    def _dispatch(self, jobs: list[RequestJob]) -> None:
        for job in jobs:
            if self.job_runner is None:
                log.warning("no telescope runner: request for decision %s not sent", job.decision_id)
                continue
            self.job_runner(job)


class InlineJobRunner:
    """Runs telescope jobs synchronously on the calling thread (replays, CLI ingest, tests).

    Reports are recorded immediately; their changes are collected in ``changes`` for the caller to print.
    """

    def __init__(
        self, processor: PacketProcessor, sender: RequestSender, chooser: PointingChooser | None, clock: Clock
    ) -> None:
        self._processor = processor
        self._sender = sender
        self._chooser = chooser
        self._clock = clock
        self.changes: list[DecisionChange] = []
        self._queue: list[RequestJob] = []
        self._running = False
        processor.job_runner = self

    def __call__(self, job: RequestJob) -> None:
        # First in, first out: a follow-up job (GW sub-arrays after the sky map) runs after its parent is recorded.
        self._queue.append(job)
        if self._running:
            return
        self._running = True
        try:
            while self._queue:
                report = run_job(self._queue.pop(0), self._sender, self._chooser, self._clock)
                self.changes.extend(self._processor.record(report).decision_changes)
        finally:
            self._running = False
