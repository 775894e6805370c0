"""Proposal decisions, their reason logs, observation records and the operator audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracet_gui.core.vocabulary import Decision, LogKind
from tracet_gui.storage.schema import (
    DecisionLogRow,
    ObservationRow,
    OperatorActionRow,
    ProposalDecisionRow,
)


@dataclass(frozen=True, slots=True)
class StoredDecision:
    decision_id: int
    group_id: int
    proposal_pk: int
    decision: Decision
    ra_deg: float | None
    dec_deg: float | None
    pos_error_deg: float | None
    duration_s: float | None
    subarray_pointings: tuple[tuple[float, float], ...]
    needs_attention: bool
    has_observed: bool


@dataclass(frozen=True, slots=True)
class LogEntry:
    at_utc: datetime
    kind: LogKind
    text: str
    event_id: int | None


def decisions_for_group(session: Session, group_id: int) -> dict[int, StoredDecision]:
    """Decisions of a group keyed by proposal pk."""
    rows = session.scalars(select(ProposalDecisionRow).where(ProposalDecisionRow.group_id == group_id)).all()
    observed = set(
        session.scalars(
            select(ObservationRow.decision_id).where(
                ObservationRow.decision_id.in_([r.id for r in rows]), ObservationRow.ok.is_(True)
            )
        )
    )
    return {row.proposal_pk: _decision(row, row.id in observed) for row in rows}


def _decision(row: ProposalDecisionRow, has_observed: bool) -> StoredDecision:
    pointings = tuple((float(p[0]), float(p[1])) for p in (row.subarray_pointings or []))
    return StoredDecision(
        row.id,
        row.group_id,
        row.proposal_pk,
        Decision(row.decision),
        row.ra_deg,
        row.dec_deg,
        row.pos_error_deg,
        row.duration_s,
        pointings,
        row.needs_attention,
        has_observed,
    )


def get_decision(session: Session, decision_id: int) -> StoredDecision:
    row = session.get_one(ProposalDecisionRow, decision_id)
    observed = session.scalar(
        select(ObservationRow.id).where(ObservationRow.decision_id == decision_id, ObservationRow.ok.is_(True))
    )
    return _decision(row, observed is not None)


def save_decision(
    session: Session,
    *,
    decision_id: int | None,
    group_id: int,
    proposal_pk: int,
    decision: Decision,
    now: datetime,
    event_id: int | None,
    ra_deg: float | None,
    dec_deg: float | None,
    pos_error_deg: float | None,
    duration_s: float | None,
    subarray_pointings: tuple[tuple[float, float], ...] | None = None,
    needs_attention: bool | None = None,
) -> int:
    if decision_id is None:
        row = ProposalDecisionRow(group_id=group_id, proposal_pk=proposal_pk, created_utc=now, needs_attention=False)
        session.add(row)
    else:
        row = session.get_one(ProposalDecisionRow, decision_id)
    row.decision = decision.value
    row.updated_utc = now
    row.last_event_id = event_id
    row.ra_deg, row.dec_deg, row.pos_error_deg, row.duration_s = ra_deg, dec_deg, pos_error_deg, duration_s
    if subarray_pointings is not None:
        row.subarray_pointings = [list(p) for p in subarray_pointings]
    if needs_attention is not None:
        row.needs_attention = needs_attention
    session.flush()
    return row.id


def add_log_entries(session: Session, decision_id: int | None, group_id: int | None, entries: list[LogEntry]) -> None:
    session.add_all(
        DecisionLogRow(
            decision_id=decision_id,
            group_id=group_id,
            event_id=e.event_id,
            at_utc=e.at_utc,
            kind=e.kind.value,
            text=e.text,
        )
        for e in entries
    )


def decision_log(session: Session, decision_id: int) -> list[LogEntry]:
    rows = session.scalars(
        select(DecisionLogRow).where(DecisionLogRow.decision_id == decision_id).order_by(DecisionLogRow.id)
    )
    return [LogEntry(r.at_utc, LogKind(r.kind), r.text, r.event_id) for r in rows]


def add_observation(
    session: Session,
    *,
    decision_id: int | None,
    event_id: int | None,
    telescope: str,
    kind: str,
    pretend: bool,
    reason: str | None,
    request: dict[str, Any],
    requested_utc: datetime,
) -> int:
    row = ObservationRow(
        decision_id=decision_id,
        event_id=event_id,
        telescope=telescope,
        kind=kind,
        pretend=pretend,
        reason=reason,
        request=request,
        requested_utc=requested_utc,
    )
    session.add(row)
    session.flush()
    return row.id


def record_observation_result(
    session: Session,
    observation_id: int,
    *,
    ok: bool,
    response: dict[str, Any] | None,
    error: str | None,
    trigger_id: str | None,
    website_link: str | None,
    responded_utc: datetime,
) -> None:
    row = session.get_one(ObservationRow, observation_id)
    row.ok, row.response, row.error = ok, response, error
    if response is not None and isinstance(response.get("pretend"), bool):
        row.pretend = response["pretend"]  # what was really sent (unarmed: always pretend)
    row.trigger_id, row.website_link, row.responded_utc = trigger_id, website_link, responded_utc


def record_operator_action(
    session: Session,
    *,
    at_utc: datetime,
    operator: str,
    action: str,
    target: str | None,
    comment: str | None,
    details: dict[str, Any] | None = None,
) -> int:
    row = OperatorActionRow(
        at_utc=at_utc,
        operator=operator,
        action=action,
        target=target,
        comment=comment,
        details=details,
        executed_utc=at_utc,  # an audit record of something already done, not a request for the engine
    )
    session.add(row)
    session.flush()
    return row.id


def record_action_failure(session: Session, action_id: int, at_utc: datetime, error: str) -> None:
    """An operator action could not be carried out: it counts as executed, with the reason kept on the row."""
    row = session.get_one(OperatorActionRow, action_id)
    row.executed_utc = row.executed_utc or at_utc
    row.details = {**(row.details or {}), "error": error}


@dataclass(frozen=True, slots=True)
class ObservationSummary:
    """An accepted, real (not pretend) request of ours, for priority arbitration."""

    obsname: str
    project_id: str
    proposal_id: str
    priority: int


def recent_real_observations(session: Session, telescope_prefix: str, since_utc: datetime) -> list[ObservationSummary]:
    """Accepted real requests on a telescope since a time, newest first."""
    from tracet_gui.storage.schema import ProposalRow

    rows = session.execute(
        select(ObservationRow.request, ProposalRow.proposal_id, ProposalRow.priority, ProposalRow.project_id)
        .join(ProposalDecisionRow, ProposalDecisionRow.id == ObservationRow.decision_id)
        .join(ProposalRow, ProposalRow.id == ProposalDecisionRow.proposal_pk)
        .where(
            ObservationRow.telescope.startswith(telescope_prefix),
            ObservationRow.ok.is_(True),
            ObservationRow.pretend.is_(False),
            ObservationRow.requested_utc >= since_utc,
        )
        .order_by(ObservationRow.id.desc())
    ).all()
    return [ObservationSummary(str(r[0].get("obsname", "")), r[3], r[1], r[2]) for r in rows]


@dataclass(frozen=True, slots=True)
class StoredObservation:
    observation_id: int
    decision_id: int | None
    telescope: str
    kind: str
    pretend: bool
    ok: bool | None
    trigger_id: str | None
    project_id: str


def get_observation(session: Session, observation_id: int) -> StoredObservation:
    row = session.get_one(ObservationRow, observation_id)
    return StoredObservation(
        row.id,
        row.decision_id,
        row.telescope,
        row.kind,
        row.pretend,
        row.ok,
        row.trigger_id,
        str((row.request or {}).get("project_id", "")),
    )
