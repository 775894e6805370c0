"""One inbox packet = one transaction: parse, store the event, group it, decide, record.

Everything is read and evaluated first; the writes come last, batched, so the transaction holds SQLite's
write lock (which the ingest threads' inbox commits wait for) only for those few statements and the commit.

Telescope requests leave only after that transaction committed (a :class:`JobRunner` sends them, inline
for replays or on worker threads when live); their answers come back through :meth:`PacketProcessor.record`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
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
    view_of,
)
from tracet_gui.pipeline.parse import VOEventParser
from tracet_gui.storage import events as event_store
from tracet_gui.storage.database import Session, SessionFactory
from tracet_gui.storage.errors import storage_unavailable
from tracet_gui.storage.inbox import InboxItem, load_inbox_item, mark_inbox, mark_inbox_failed

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


@contextmanager
def _rolled_back_on_error(session: Session) -> Iterator[None]:
    """Roll back at once on an error (inside the write turn), not only when the session closes."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise


JobRunner = Callable[[RequestJob], None]
"""Takes a job after its decision was committed; must eventually hand the JobReport to ``record``."""


class PacketProcessor:
    """Turns inbox rows into events, groups and decisions. Owned by one thread (the single writer).

    Every write transaction runs inside :meth:`write_turn` (a no-op here): a subclass can order the pipeline's
    writes with other writers of the same database (the engine lets a waiting inbox commit go first), holding
    its turn only while this process writes, not while it reads and evaluates.
    """

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

    def write_turn(self) -> AbstractContextManager[object]:
        """Held while a write transaction of the pipeline runs (see the class docstring)."""
        return nullcontext()

    def process(self, inbox_id: int, item: InboxItem | None = None) -> ProcessedPacket:
        """Process one inbox row (``item``: the row as already read, else it is read here)."""
        try:
            result, jobs = self._process(inbox_id, item)
        except ParseError as exc:
            with self.write_turn():
                mark_inbox_failed(self._sessions, inbox_id, str(exc))
            return ProcessedPacket(inbox_id, InboxStatus.FAILED, error=str(exc))
        except Exception as exc:  # one bad packet must never stop the pipeline
            if storage_unavailable(exc) is not None:
                raise  # not the packet's fault: it stays new and is processed once the database is back
            log.exception("processing inbox row %s failed", inbox_id)
            message = f"{type(exc).__name__}: {exc}"
            with self.write_turn():
                mark_inbox_failed(self._sessions, inbox_id, message)
            return ProcessedPacket(inbox_id, InboxStatus.FAILED, error=message)
        self._dispatch(jobs)
        return result

    def _process(self, inbox_id: int, item: InboxItem | None) -> tuple[ProcessedPacket, list[RequestJob]]:
        with self._sessions() as session:
            # Reads and computation: no write lock yet.
            if item is None:
                item = load_inbox_item(session, inbox_id)
            if item.status is not InboxStatus.NEW:
                return ProcessedPacket(inbox_id, item.status), []
            event = self._parser.parse(item.raw)
            stored = event_store.load_group(session, event.trig_id)
            previous = stored.state if stored is not None else None
            plan = None
            if self._decider is not None and not event.ignored:
                # The group as it will be once this event joins it (its stored id is only needed for the
                # group's best-position event, which the engine's view does not use).
                events = event_store.group_events(session, stored.group_id) if stored is not None else []
                preview = fold_event(previous, 0, event, item.received_utc)
                view = view_of(preview, (*(e.event for e in events), event))
                group_pk = stored.group_id if stored is not None else None
                plan = self._decider.plan(session, group_pk, view, event, item.received_utc)
            attention = True if plan is not None and plan.needs_attention else None
            with self.write_turn(), _rolled_back_on_error(session):
                # Writes: inbox status (only if no one else processed the row since it was read), event, group,
                # decisions, commit.
                if not mark_inbox(
                    session, inbox_id, InboxStatus.PROCESSED, at_utc=self._clock.now(), only_if=InboxStatus.NEW
                ):
                    session.rollback()
                    return ProcessedPacket(inbox_id, load_inbox_item(session, inbox_id).status), []
                if stored is not None:
                    group_id = stored.group_id
                    event_id = event_store.insert_event(session, inbox_id, event, item.received_utc, group_id)
                    state = fold_event(previous, event_id, event, item.received_utc)
                    event_store.update_group(session, group_id, state, needs_attention=attention)
                else:
                    event_id = event_store.insert_event(session, inbox_id, event, item.received_utc, None)
                    state = fold_event(None, event_id, event, item.received_utc)
                    group_id = event_store.insert_group(session, state, needs_attention=bool(attention))
                    event_store.set_event_group(session, event_id, group_id)
                changes: list[DecisionChange] = []
                jobs: list[RequestJob] = []
                if plan is not None and self._decider is not None:
                    changes, jobs = self._decider.write(session, plan, group_id, event_id, event)
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
        return self.record_many([report])[0]

    def record_many(self, reports: Sequence[JobReport]) -> list[ProcessedPacket]:
        """Record several telescope reports in one transaction (one commit), in order; raises if any fails
        (then none is recorded: the caller may record them one by one)."""
        if self._decider is None:
            raise RuntimeError("telescope report without a decider")
        outcomes: list[tuple[list[DecisionChange], list[RequestJob]]] = []
        with self.write_turn(), self._sessions() as session:
            for report in reports:
                outcomes.append(self._decider.record_report(session, report))
            session.commit()
        results: list[ProcessedPacket] = []
        for report, (changes, jobs) in zip(reports, outcomes, strict=True):
            self._dispatch(jobs)
            results.append(
                ProcessedPacket(
                    None, InboxStatus.PROCESSED, group_id=report.job.group_id, decision_changes=tuple(changes)
                )
            )
        return results

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
