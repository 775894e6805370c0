"""What one watcher poll reads for the main window, on the watcher's worker thread.

``LivePollJob`` is a frozen snapshot taken on the GUI thread as a poll starts: each live list's query (filter,
sort, generation), the selected decisions, which ChangeSet field feeds which list. ``run`` reads everything
the window shows for the changes (rows, totals, armed state, the alarms' decisions, the selected decisions'
logs) and returns a ``LiveFetch`` of frozen values; the GUI thread then only applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tracet_gui.storage.operator_actions import ArmedState, armed_state
from tracet_gui.storage.views import (
    DECISIONS,
    ChangeSet,
    DecisionDetail,
    DecisionFilter,
    DecisionItem,
    EventItem,
    ObservationItem,
    Sessions,
    Totals,
    decision_detail,
    latest_event,
    latest_observation,
    totals,
)
from tracet_gui.ui.table_models import LiveRequest, LiveResult, yield_to_paint


@dataclass(frozen=True)
class Overview:
    """The banners' and the dashboard's figures."""

    armed: ArmedState
    totals: Totals
    latest_event: EventItem | None
    latest_observation: ObservationItem | None


def read_overview(sessions: Sessions, pause: Callable[[], None] = lambda: None) -> Overview:
    """The overview's reads (``pause`` before each: ``yield_to_paint`` on the watcher's worker)."""
    pause()
    armed = armed_state(sessions)
    pause()
    counts = totals(sessions)
    pause()
    event = latest_event(sessions)
    pause()
    return Overview(armed, counts, event, latest_observation(sessions))


@dataclass(frozen=True)
class LiveFetch:
    """What a ``LivePollJob`` read, in the order of its requests."""

    lists: tuple[LiveResult[Any] | None, ...]
    decisions: tuple[DecisionItem, ...]
    """The changed decisions (for the alarms)."""
    details: dict[int, DecisionDetail | None]
    """The logs of the selected decisions, when decisions or actions changed."""
    overview: Overview


@dataclass(frozen=True)
class LivePollJob:
    requests: tuple[tuple[LiveRequest[Any, Any] | None, str], ...]
    """Each live list's request and the ``ChangeSet`` field holding its ids."""
    selected_decisions: frozenset[int] = frozenset()

    def run(self, sessions: Sessions, changes: ChangeSet) -> LiveFetch | None:
        carried = any(request is not None and request.carried for request, _field in self.requests)
        if changes.empty and not carried:
            return None
        lists = tuple(
            None if request is None else request.run(sessions, getattr(changes, field))
            for request, field in self.requests
        )
        decisions: Sequence[DecisionItem] = ()
        if changes.decision_ids:
            yield_to_paint()
            decisions = DECISIONS.fetch_ids(sessions, DecisionFilter(), changes.decision_ids)
        details: dict[int, DecisionDetail | None] = {}
        if changes.decision_ids or changes.action_ids:
            yield_to_paint()
            details = {i: decision_detail(sessions, i) for i in self.selected_decisions}
        return LiveFetch(lists, tuple(decisions), details, read_overview(sessions, yield_to_paint))
