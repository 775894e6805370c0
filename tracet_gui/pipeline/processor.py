"""One inbox packet = one transaction: parse, store the event, group it, decide, record.

Everything is read and evaluated first; the writes come last, batched, so the transaction holds SQLite's
write lock (which the ingest threads' inbox commits wait for) only for those few statements and the commit.

Telescope requests leave only after that transaction committed (a :class:`JobRunner` sends them, inline
for replays or on worker threads when live); their answers come back through :meth:`PacketProcessor.record`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from tracet_gui.core.clock import Clock, SystemClock
from tracet_gui.core.grouping import fold_event
from tracet_gui.core.records import ParsedEvent, ParseError
from tracet_gui.core.sending import RequestSender
from tracet_gui.core.vocabulary import InboxStatus
from tracet_gui.pipeline.decider import (
    DecisionChange,
    DecisionPlan,
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
from tracet_gui.storage.errors import database_error, lost_a_race, storage_unavailable
from tracet_gui.storage.events import StoredGroup
from tracet_gui.storage.inbox import (
    InboxItem,
    RawPacket,
    StoredPacket,
    load_inbox_item,
    mark_inbox,
    mark_inbox_failed,
    store_in_transaction,
    unprocessed_before,
)

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


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """The read-only half of processing a packet: the event, its stored group, the decisions planned."""

    event: ParsedEvent
    stored: StoredGroup | None
    plan: DecisionPlan | None


ONE_TRANSACTION_MAX_BYTES = 256 * 1024
"""Larger packets are stored first and processed after (``store_and_process``): the ACK does not wait for them."""

BATCH_MAX_PACKETS = 64
"""Most packets committed together by ``PacketProcessor.process_many``."""
BATCH_MAX_S = 0.05
"""A batch stops taking packets after this long (s): the first packet's decision is committed at most this late."""
BATCH_YIELD_S = 0.01
"""A batch stops once it has run this long (s) while an inbox commit waits for the write turn."""

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

    def store_and_process(self, packet: RawPacket) -> tuple[StoredPacket, ProcessedPacket | None] | None:
        """Store a packet that arrived alone and process it in the same transaction: one commit (one fsync), and
        no hand-over to the pipeline thread, between receipt and decision. The caller holds the write turn and
        makes sure no other thread processes meanwhile (``PipelineRunner.store_and_process``).

        Returns the stored packet and its result; the result is None when the packet was only stored (a
        duplicate, or older rows still wait to be processed first: arrival order). None when nothing was written
        because the packet could not be read or processed here: the caller stores it the usual way, and the
        pipeline processes it (and records why it failed) as any other. Telescope requests leave after the
        commit, as always; so does the caller's ACK, so the raw packet is still stored before it is acknowledged.
        """
        received = packet.received_utc
        if received is None or len(packet.raw) > ONE_TRANSACTION_MAX_BYTES:
            return None
        try:
            with self._sessions() as session:
                evaluation = self._evaluate(session, packet.raw, received)
                with _rolled_back_on_error(session):
                    stored = store_in_transaction(session, packet)
                    if stored.duplicate or unprocessed_before(session, stored.inbox_id):
                        session.commit()
                        return stored, None
                    item = InboxItem(stored.inbox_id, packet.raw, packet.channel, received, InboxStatus.NEW)
                    outcome = self._write(session, item, evaluation)
                    if outcome is None:  # cannot happen: the row was added in this transaction
                        raise RuntimeError(f"inbox row {stored.inbox_id} was processed by someone else")
                    session.commit()
        except Exception as exc:
            if lost_a_race(exc):
                return None  # a concurrent writer of the same packet, or a conflict: the usual path retries those
            if storage_unavailable(exc) is not None:
                raise  # the usual path could not store it either: the caller reports it as it would
            if not isinstance(exc, ParseError):
                log.warning("processing a packet in its inbox transaction failed (%s); storing it alone", exc)
            return None
        result, jobs = outcome
        self._dispatch(jobs)
        return stored, result

    def others_waiting(self) -> bool:
        """True while another writer of this process waits for the pipeline's write turn (see the subclass)."""
        return False

    def process_many(self, items: Sequence[InboxItem]) -> list[ProcessedPacket]:
        """Process the first of ``items`` and as many of the following ones as fit one transaction; return the
        results of those processed, in order (at least one).

        A backlog (a burst, a restart) then costs one commit, with its fsync, per batch instead of per packet.
        The batch ends after the packet that sends a telescope request (requests never wait for later packets),
        after ``BATCH_MAX_PACKETS`` or ``BATCH_MAX_S``, when an inbox commit has waited ``BATCH_YIELD_S`` for the
        write turn, and before a packet that cannot be read or evaluated (it is then processed alone, where its
        failure is recorded). If a write fails the whole batch rolls back and the first packet is processed alone:
        each packet is still processed exactly once, in arrival order, and one bad packet fails only itself."""
        if len(items) > 1:
            try:
                done = self._process_batch(items)
            except Exception as exc:
                if storage_unavailable(exc) is not None:
                    raise  # not the packets' fault: they stay new
                log.warning("a batch of packets failed (%s); processing the first alone", exc)
                done = []
            if done:
                results: list[ProcessedPacket] = []
                for result, jobs in done:
                    self._dispatch(jobs)
                    results.append(result)
                return results
        return [self.process(items[0].inbox_id, items[0])]

    def _process_batch(self, items: Sequence[InboxItem]) -> list[tuple[ProcessedPacket, list[RequestJob]]]:
        done: list[tuple[ProcessedPacket, list[RequestJob]]] = []
        started = time.monotonic()
        with self._sessions() as session, ExitStack() as turn:
            for item in items:
                if item.status is not InboxStatus.NEW:
                    break
                try:  # reads only: a failure here leaves nothing of this packet to undo
                    evaluation = self._evaluate(session, item.raw, item.received_utc)
                except Exception as exc:
                    if storage_unavailable(exc) is not None or (done and database_error(exc)):
                        raise  # a failed statement may have aborted the transaction: all of it goes (see caller)
                    break  # processed alone next, where its failure is recorded
                if not done:
                    turn.enter_context(self.write_turn())
                    turn.enter_context(_rolled_back_on_error(session))
                outcome = self._write(session, item, evaluation)
                if outcome is None:  # processed by someone else since it was read: its status as it is now
                    outcome = (ProcessedPacket(item.inbox_id, load_inbox_item(session, item.inbox_id).status), [])
                done.append(outcome)
                elapsed = time.monotonic() - started
                if (
                    outcome[1]
                    or len(done) >= BATCH_MAX_PACKETS
                    or elapsed >= BATCH_MAX_S
                    or (elapsed >= BATCH_YIELD_S and self.others_waiting())
                ):
                    break
            if done:
                session.commit()
        return done

    def _evaluate(self, session: Session, raw: bytes, received_utc: datetime) -> _Evaluation:
        """Parse, read the group, evaluate every proposal: reads only, no write lock."""
        event = self._parser.parse(raw)
        stored = event_store.load_group(session, event.trig_id)
        previous = stored.state if stored is not None else None
        plan = None
        if self._decider is not None and not event.ignored:
            # The group as it will be once this event joins it (its stored id is only needed for the
            # group's best-position event, which the engine's view does not use).
            events = event_store.group_events(session, stored.group_id) if stored is not None else []
            preview = fold_event(previous, 0, event, received_utc)
            view = view_of(preview, (*(e.event for e in events), event))
            group_pk = stored.group_id if stored is not None else None
            plan = self._decider.plan(session, group_pk, view, event, received_utc)
        return _Evaluation(event, stored, plan)

    def _write(
        self, session: Session, item: InboxItem, evaluation: _Evaluation
    ) -> tuple[ProcessedPacket, list[RequestJob]] | None:
        """Write one evaluated packet (inside the caller's transaction and write turn; no commit). None when
        someone else processed the row since it was read: nothing was written."""
        event, stored, plan = evaluation.event, evaluation.stored, evaluation.plan
        inbox_id = item.inbox_id
        if not mark_inbox(session, inbox_id, InboxStatus.PROCESSED, at_utc=self._clock.now(), only_if=InboxStatus.NEW):
            return None
        attention = True if plan is not None and plan.needs_attention else None
        if stored is not None:
            group_id = stored.group_id
            event_id = event_store.insert_event(session, inbox_id, event, item.received_utc, group_id)
            state = fold_event(stored.state, event_id, event, item.received_utc)
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

    def _process(self, inbox_id: int, item: InboxItem | None) -> tuple[ProcessedPacket, list[RequestJob]]:
        with self._sessions() as session:
            # Reads and computation: no write lock yet.
            if item is None:
                item = load_inbox_item(session, inbox_id)
            if item.status is not InboxStatus.NEW:
                return ProcessedPacket(inbox_id, item.status), []
            evaluation = self._evaluate(session, item.raw, item.received_utc)
            with self.write_turn(), _rolled_back_on_error(session):
                # Writes: inbox status (only if no one else processed the row since it was read), event, group,
                # decisions, commit.
                outcome = self._write(session, item, evaluation)
                if outcome is None:
                    session.rollback()
                    return ProcessedPacket(inbox_id, load_inbox_item(session, inbox_id).status), []
                session.commit()
        return outcome

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
