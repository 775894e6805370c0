"""Proposal decisions, their reason logs, observation records and the operator audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from tracet_gui.core.vocabulary import Decision, LogKind
from tracet_gui.storage.fastpath import execute, expire_loaded, prepared, table_of, update_by_id
from tracet_gui.storage.schema import (
    DecisionLogRow,
    EventGroupRow,
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


_DECISION = table_of(ProposalDecisionRow)
_LOG = table_of(DecisionLogRow)
_OBSERVATION = table_of(ObservationRow)
_DECISIONS_OF_GROUP = select(_DECISION).where(_DECISION.c.group_id == bindparam("group_id"))
_OBSERVED_IN_GROUP = (
    select(_OBSERVATION.c.decision_id)
    .join(_DECISION, _DECISION.c.id == _OBSERVATION.c.decision_id)
    .where(_DECISION.c.group_id == bindparam("group_id"), _OBSERVATION.c.ok.is_(True))
)
_INSERT_DECISIONS = prepared(insert(_DECISION).returning(_DECISION.c.id, _DECISION.c.group_id, _DECISION.c.proposal_pk))
_INSERT_LOG = prepared(insert(_LOG))
_INSERT_OBSERVATIONS = prepared(insert(_OBSERVATION).returning(_OBSERVATION.c.id, sort_by_parameter_order=True))


def decisions_for_group(session: Session, group_id: int) -> dict[int, StoredDecision]:
    """Decisions of a group keyed by proposal pk."""
    rows = execute(session, _DECISIONS_OF_GROUP, {"group_id": group_id}).all()
    if not rows:
        return {}
    observed = set(execute(session, _OBSERVED_IN_GROUP, {"group_id": group_id}).scalars())
    return {row.proposal_pk: _decision(row, row.id in observed) for row in rows}


def _decision(row: Any, has_observed: bool) -> StoredDecision:
    """From a ``ProposalDecisionRow`` or a Core row of its table (same attribute names)."""
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


@dataclass(frozen=True, slots=True)
class DecisionWrite:
    """One ``save_decision`` call, for :func:`save_decisions`."""

    decision_id: int | None
    group_id: int
    proposal_pk: int
    decision: Decision
    now: datetime
    event_id: int | None
    ra_deg: float | None
    dec_deg: float | None
    pos_error_deg: float | None
    duration_s: float | None
    subarray_pointings: tuple[tuple[float, float], ...] | None = None
    needs_attention: bool | None = None


def save_decisions(session: Session, writes: Sequence[DecisionWrite]) -> list[int]:
    """``save_decision`` for each write, in order, as few statements (one INSERT for every new decision,
    one UPDATE per distinct set of changed columns) instead of one ORM flush each. Returns the ids."""
    session.flush()  # anything the ORM still holds is written first, as with save_decision's flush
    ids: list[int | None] = [w.decision_id for w in writes]
    # New decisions in their order; consecutive rows with the same columns go in one INSERT (a column the ORM
    # would not have set, such as absent sub-array pointings, is left out so it stays SQL NULL).
    run: list[tuple[int, dict[str, Any]]] = []
    for n, w in enumerate(writes):
        if w.decision_id is not None:
            continue
        values = _decision_values(w)
        values.update(group_id=w.group_id, proposal_pk=w.proposal_pk, created_utc=w.now)
        values.setdefault("needs_attention", False)
        if run and tuple(run[-1][1]) != tuple(values):
            _insert_decisions(session, run, ids)
            run = []
        run.append((n, values))
    if run:
        _insert_decisions(session, run, ids)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in writes:
        if w.decision_id is not None:
            values = _decision_values(w)
            by_columns.setdefault(tuple(values), []).append({"b_id": w.decision_id, **values})
    for columns, params in by_columns.items():
        execute(session, update_by_id(_DECISION, columns), params)
        for p in params:
            expire_loaded(session, ProposalDecisionRow, p["b_id"])
    return [int(i) for i in ids if i is not None]


def _insert_decisions(session: Session, run: list[tuple[int, dict[str, Any]]], ids: list[int | None]) -> None:
    # One multi-row INSERT; the new ids are matched to the rows by (group, proposal), unique in this table.
    inserted = execute(session, _INSERT_DECISIONS, [values for _, values in run])
    by_key = {(row.group_id, row.proposal_pk): int(row.id) for row in inserted}
    for n, values in run:
        ids[n] = by_key[(values["group_id"], values["proposal_pk"])]


def _decision_values(w: DecisionWrite) -> dict[str, Any]:
    values: dict[str, Any] = {
        "decision": w.decision.value,
        "updated_utc": w.now,
        "last_event_id": w.event_id,
        "ra_deg": w.ra_deg,
        "dec_deg": w.dec_deg,
        "pos_error_deg": w.pos_error_deg,
        "duration_s": w.duration_s,
    }
    if w.subarray_pointings is not None:
        values["subarray_pointings"] = [list(p) for p in w.subarray_pointings]
    if w.needs_attention is not None:
        values["needs_attention"] = w.needs_attention
    return values


def insert_log_entries(session: Session, entries: Sequence[tuple[int | None, int | None, LogEntry]]) -> None:
    """``add_log_entries`` for several decisions at once: (decision_id, group_id, entry), one INSERT, in order."""
    if not entries:
        return
    execute(
        session,
        _INSERT_LOG,
        [
            {
                "decision_id": decision_id,
                "group_id": group_id,
                "event_id": e.event_id,
                "at_utc": e.at_utc,
                "kind": e.kind.value,
                "text": e.text,
            }
            for decision_id, group_id, e in entries
        ],
    )


@dataclass(frozen=True, slots=True)
class ObservationWrite:
    """One ``add_observation`` call, for :func:`insert_observations`."""

    decision_id: int | None
    event_id: int | None
    telescope: str
    kind: str
    pretend: bool
    reason: str | None
    request: dict[str, Any]
    requested_utc: datetime


def insert_observations(session: Session, writes: Sequence[ObservationWrite]) -> list[int]:
    """``add_observation`` for each write as one INSERT; the new ids in order."""
    if not writes:
        return []
    rows = [
        {
            "decision_id": w.decision_id,
            "event_id": w.event_id,
            "telescope": w.telescope,
            "kind": w.kind,
            "pretend": w.pretend,
            "reason": w.reason,
            "request": w.request,
            "requested_utc": w.requested_utc,
        }
        for w in writes
    ]
    inserted = execute(session, _INSERT_OBSERVATIONS, rows)
    return [int(r[0]) for r in inserted]


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


@dataclass(frozen=True, slots=True)
class ObservationResult:
    """One ``record_observation_result`` call, for :func:`record_observation_results`."""

    observation_id: int
    ok: bool
    response: dict[str, Any] | None
    error: str | None
    trigger_id: str | None
    website_link: str | None
    responded_utc: datetime


def record_observation_results(session: Session, results: Sequence[ObservationResult]) -> None:
    """``record_observation_result`` for each result, as UPDATE statements without loading the rows."""
    session.flush()
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in results:
        values: dict[str, Any] = {
            "ok": r.ok,
            "response": r.response,
            "error": r.error,
            "trigger_id": r.trigger_id,
            "website_link": r.website_link,
            "responded_utc": r.responded_utc,
        }
        if r.response is not None and isinstance(r.response.get("pretend"), bool):
            values["pretend"] = r.response["pretend"]  # what was really sent (unarmed: always pretend)
        by_columns.setdefault(tuple(values), []).append({"b_id": r.observation_id, **values})
    for columns, params in by_columns.items():
        execute(session, update_by_id(_OBSERVATION, columns), params)
        for p in params:
            expire_loaded(session, ObservationRow, p["b_id"])


@dataclass(frozen=True, slots=True)
class DecisionHead:
    """What a telescope report needs of its decision: proposal, current decision, the group's trig_id."""

    decision_id: int
    proposal_pk: int
    decision: Decision
    trig_id: str


_DECISION_HEAD = (
    select(_DECISION.c.proposal_pk, _DECISION.c.decision, EventGroupRow.__table__.c.trig_id)
    .join(EventGroupRow.__table__, EventGroupRow.__table__.c.id == _DECISION.c.group_id)
    .where(_DECISION.c.id == bindparam("decision_id"))
)


def decision_head(session: Session, decision_id: int) -> DecisionHead:
    row = execute(session, _DECISION_HEAD, {"decision_id": decision_id}).one()
    return DecisionHead(decision_id, row.proposal_pk, Decision(row.decision), row.trig_id)


def set_decision(session: Session, decision_id: int, decision: Decision, now: datetime, event_id: int | None) -> None:
    """Change only the decision (``save_decision`` with every other value as stored), one UPDATE."""
    session.flush()
    execute(
        session,
        update_by_id(_DECISION, ("decision", "updated_utc", "last_event_id")),
        {"b_id": decision_id, "decision": decision.value, "updated_utc": now, "last_event_id": event_id},
    )
    expire_loaded(session, ProposalDecisionRow, decision_id)


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
