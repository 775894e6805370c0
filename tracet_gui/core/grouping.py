"""Grouping events by trig_id (reference §3, with the §10.2 flaws fixed).

A group is folded event by event:

* its best position is the smallest-error position among its non-ignored events (a position without an
  error radius only fills a gap);
* its earliest/latest observed times are the true minimum/maximum event times of its non-ignored events;
* ignored events never move the group: they count as members and may only fill in a source type or name the
  group does not know yet (a Swift QuickLook notice already says "GRB 220711"). A group made only of
  ignored events takes its times, position and telescope from them, so it still reads sensibly in the views.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import SourceType


@dataclass(frozen=True, slots=True)
class GroupState:
    """What we know about one trig_id after folding its events."""

    trig_id: str
    first_received_utc: datetime
    last_received_utc: datetime
    event_count: int = 0
    ignored: bool = True
    source_type: SourceType | None = None
    source_name: str | None = None
    telescope: str | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    pos_error_deg: float | None = None
    best_event_id: int | None = None
    earliest_observed_utc: datetime | None = None
    latest_observed_utc: datetime | None = None

    @property
    def has_position(self) -> bool:
        return self.ra_deg is not None and self.dec_deg is not None


def _better_position(state: GroupState, event: ParsedEvent) -> bool:
    if not event.has_position:
        return False
    if not state.has_position:
        return True
    if event.pos_error_deg is None:
        return False
    return state.pos_error_deg is None or event.pos_error_deg < state.pos_error_deg


def fold_event(state: GroupState | None, event_id: int, event: ParsedEvent, received_utc: datetime) -> GroupState:
    """Return the group state after adding ``event`` (stored as ``event_id``)."""
    if state is None:
        state = GroupState(trig_id=event.trig_id, first_received_utc=received_utc, last_received_utc=received_utc)
    state = replace(
        state,
        event_count=state.event_count + 1,
        last_received_utc=max(state.last_received_utc, received_utc),
        first_received_utc=min(state.first_received_utc, received_utc),
    )
    if event.ignored and not state.ignored:
        # A real group is never moved by an ignored event; it only learns a missing source type or name.
        return replace(
            state,
            source_type=state.source_type or event.source_type,
            source_name=state.source_name or event.source_name,
        )
    if not event.ignored and state.ignored:
        # First real event: forget where and when the ignored members said things were.
        state = replace(
            state,
            ignored=False,
            telescope=None,
            ra_deg=None,
            dec_deg=None,
            pos_error_deg=None,
            best_event_id=None,
            earliest_observed_utc=None,
            latest_observed_utc=None,
        )
    if event.source_type is not None:
        state = replace(state, source_type=event.source_type)
    if event.source_name is not None:
        state = replace(state, source_name=event.source_name)
    if event.telescope is not None and state.telescope is None:
        state = replace(state, telescope=event.telescope)
    if event.observed_utc is not None:
        earliest = state.earliest_observed_utc
        latest = state.latest_observed_utc
        state = replace(
            state,
            earliest_observed_utc=event.observed_utc if earliest is None else min(earliest, event.observed_utc),
            latest_observed_utc=event.observed_utc if latest is None else max(latest, event.observed_utc),
        )
    if _better_position(state, event):
        state = replace(
            state, ra_deg=event.ra_deg, dec_deg=event.dec_deg, pos_error_deg=event.pos_error_deg, best_event_id=event_id
        )
    return state
