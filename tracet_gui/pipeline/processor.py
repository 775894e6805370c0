"""One inbox packet = one transaction: parse, store the event, group it, decide, record."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tracet_gui.core.clock import Clock, SystemClock
from tracet_gui.core.grouping import fold_event
from tracet_gui.core.records import ParsedEvent, ParseError
from tracet_gui.core.vocabulary import InboxStatus
from tracet_gui.pipeline.parse import VOEventParser
from tracet_gui.storage import events as event_store
from tracet_gui.storage.database import Session, SessionFactory
from tracet_gui.storage.inbox import load_inbox_item, mark_inbox, mark_inbox_failed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """A proposal's decision about a group changed (or was first made)."""

    trig_id: str
    proposal_id: str
    decision: str
    previous: str | None
    event_ivorn: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProcessedPacket:
    """What processing one inbox row did; crosses to the GUI thread as is."""

    inbox_id: int
    status: InboxStatus
    error: str | None = None
    event_id: int | None = None
    group_id: int | None = None
    trig_id: str | None = None
    ivorn: str | None = None
    ignored: bool | None = None
    ignore_reason: str | None = None
    decision_changes: tuple[DecisionChange, ...] = ()


class GroupDecider(Protocol):
    """Runs every proposal over a group after a new event joined it (inside the packet's transaction)."""

    def decide(
        self, session: Session, group_id: int, event_id: int, event: ParsedEvent
    ) -> Sequence[DecisionChange]: ...


class PacketProcessor:
    """Turns inbox rows into events, groups and decisions. Owned by one thread (the single writer)."""

    def __init__(
        self,
        sessions: SessionFactory,
        parser: VOEventParser | None = None,
        decider: GroupDecider | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._parser = parser or VOEventParser()
        self._decider = decider
        self._clock = clock or SystemClock()

    def process(self, inbox_id: int) -> ProcessedPacket:
        try:
            return self._process(inbox_id)
        except ParseError as exc:
            mark_inbox_failed(self._sessions, inbox_id, str(exc))
            return ProcessedPacket(inbox_id, InboxStatus.FAILED, error=str(exc))
        except Exception as exc:  # one bad packet must never stop the pipeline
            log.exception("processing inbox row %s failed", inbox_id)
            message = f"{type(exc).__name__}: {exc}"
            mark_inbox_failed(self._sessions, inbox_id, message)
            return ProcessedPacket(inbox_id, InboxStatus.FAILED, error=message)

    def _process(self, inbox_id: int) -> ProcessedPacket:
        with self._sessions() as session:
            item = load_inbox_item(session, inbox_id)
            if item.status is not InboxStatus.NEW:
                return ProcessedPacket(inbox_id, item.status)
            event = self._parser.parse(item.raw)
            event_id = event_store.add_event(session, inbox_id, event, item.received_utc)
            stored = event_store.load_group(session, event.trig_id)
            state = fold_event(stored.state if stored else None, event_id, event, item.received_utc)
            group_id = event_store.save_group(session, stored.group_id if stored else None, state)
            event_store.link_event(session, event_id, group_id)
            changes: Sequence[DecisionChange] = ()
            if self._decider is not None and not event.ignored:
                changes = self._decider.decide(session, group_id, event_id, event)
            mark_inbox(session, inbox_id, InboxStatus.PROCESSED, at_utc=self._clock.now())
            session.commit()
        return ProcessedPacket(
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
