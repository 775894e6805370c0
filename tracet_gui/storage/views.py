"""Read-side queries for the operator console: paged, filtered, sorted lists, counts, details, change feeds.

Everything here opens one short session per call, reads, and returns frozen records (never ORM rows), so
the results may cross threads. Lists are fetched a page at a time; the order is always total (the sort
column with NULLs last, then the row id in the same direction), and :func:`sort_compare` reproduces it in
Python so a table can place a live update where the database would have put it.

Filters are frozen dataclasses whose fields carry UI metadata (``label``, ``kind``, ``choices``); they
mirror TraceT's event-log filters (reference §8), with one fix: events whose role is neither
``observation`` nor ``test`` (TraceT: NULL, shown nowhere) are listed under role "other".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.core.vocabulary import Decision
from tracet_gui.storage.schema import (
    BrokerLogRow,
    DecisionLogRow,
    EventGroupRow,
    EventRow,
    InboxRow,
    ObservationRow,
    OperatorActionRow,
    ProposalDecisionRow,
    ProposalRow,
)

Sessions = sessionmaker[Session]
AnySelect = Select[*tuple[Any, ...]]

GW_CLASS_THRESHOLD = 0.5
"""A GW class probability above this names the event's classification (TraceT's UI rule)."""

ID_CHUNK = 500
"""Largest ``IN (...)`` list sent in one query."""


# ------------------------------------------------------------------------------------------------------
# sorting
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sort:
    """Order of a list: a record attribute name (see each query's ``sortable``) and direction."""

    key: str
    descending: bool = True


def _may_be_null(column: ColumnElement[Any]) -> bool:
    """False for a NOT NULL table column (the primary key, received times, ...): False lets an index serve the sort."""
    expression = getattr(column, "expression", column)
    return not (isinstance(expression, Column) and expression.nullable is False)


def _ordered(query: AnySelect, column: ColumnElement[Any], id_column: ColumnElement[Any], sort: Sort) -> AnySelect:
    # "column IS NULL" first puts NULLs last on every backend, but no index can serve an ORDER BY that starts
    # with it: over a million rows SQLite then sorts the whole table for one page. NOT NULL columns skip it.
    nulls_last = [column.is_(None)] if _may_be_null(column) else []
    if sort.descending:
        return query.order_by(*nulls_last, column.desc(), id_column.desc())
    return query.order_by(*nulls_last, column.asc(), id_column.asc())


def sort_compare(a: Any, b: Any, sort: Sort, id_attr: str) -> int:
    """-1/0/1: where ``a`` goes relative to ``b`` in the database's order for ``sort`` (NULLs last)."""
    va, vb = sort_value(a, sort.key), sort_value(b, sort.key)
    if (va is None) != (vb is None):
        return 1 if va is None else -1
    sign = -1 if sort.descending else 1
    if va is not None and va != vb:
        return sign if va > vb else -sign
    ia, ib = getattr(a, id_attr), getattr(b, id_attr)
    if ia == ib:
        return 0
    return sign if ia > ib else -sign


def sort_value(record: Any, key: str) -> Any:
    """The value a record is sorted by (``decision:<pk>`` reads a group's decision code for one proposal)."""
    if key.startswith("decision:"):
        cell = record.decision_for(int(key.split(":", 1)[1]))
        return None if cell is None else cell.code
    return getattr(record, key)


def insertion_index(records: Sequence[Any], record: Any, sort: Sort, id_attr: str) -> int:
    """Index at which ``record`` belongs in ``records`` (already in ``sort`` order)."""
    lo, hi = 0, len(records)
    while lo < hi:
        mid = (lo + hi) // 2
        if sort_compare(records[mid], record, sort, id_attr) < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


def sort_key(sort: Sort, id_attr: str) -> Callable[[Any], Any]:
    """A ``key=`` for ``sorted`` giving the database order."""
    return functools.cmp_to_key(lambda a, b: sort_compare(a, b, sort, id_attr))


# ------------------------------------------------------------------------------------------------------
# filter helpers
# ------------------------------------------------------------------------------------------------------


def _ui(label: str, kind: str, choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """Field metadata for the filter panel: ``kind`` in text/choice/multi/tristate/int/float/datetime."""
    return {"label": label, "kind": kind, "choices": choices}


ROLE_CHOICES = ("observation", "test", "other")
SOURCE_CHOICES = ("GRB", "FS", "NU", "GW")
EVENT_TELESCOPE_CHOICES = ("SWIFT", "Fermi", "HESS", "Antares", "AMON", "MAXI", "LVC", "IceCube")
DECISION_CHOICES = tuple(d.value for d in Decision)


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.strip().lower(), autoescape=True)


def _range(conditions: list[ColumnElement[bool]], column: Any, low: Any, high: Any) -> None:
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column <= high)


def _role_condition(column: Any, role: str | None) -> ColumnElement[bool] | None:
    if role is None:
        return None
    if role == "other":
        return or_(column.is_(None), column.not_in(("observation", "test")))
    return column == role  # type: ignore[no-any-return]


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    items = sorted(set(ids))
    for start in range(0, len(items), ID_CHUNK):
        yield items[start : start + ID_CHUNK]


# ------------------------------------------------------------------------------------------------------
# generic list query
# ------------------------------------------------------------------------------------------------------

F = TypeVar("F")
R = TypeVar("R")


class ListQuery(Generic[F, R]):
    """A paged list over one table: count, page, fetch by ids – all with the same filter and order."""

    id_attr: str = "id"
    default_sort: Sort = Sort("id")

    def base(self, flt: F) -> AnySelect:
        raise NotImplementedError

    def id_column(self) -> ColumnElement[Any]:
        raise NotImplementedError

    def conditions(self, flt: F) -> list[ColumnElement[bool]]:
        raise NotImplementedError

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        raise NotImplementedError

    def records(self, session: Session, rows: Sequence[Any]) -> list[R]:
        raise NotImplementedError

    def order_column(self, key: str) -> ColumnElement[Any]:
        columns = self.sortable()
        if key not in columns:
            raise ValueError(f"cannot sort by {key!r}")
        return columns[key]

    def can_sort(self, key: str) -> bool:
        return key in self.sortable()

    def _filtered(self, flt: F) -> AnySelect:
        query = self.base(flt)
        conditions = self.conditions(flt)
        return query.where(and_(*conditions)) if conditions else query

    def count(self, sessions: Sessions, flt: F) -> int:
        inner = self._filtered(flt).with_only_columns(self.id_column()).order_by(None).subquery()
        with sessions() as session:
            return int(session.scalar(select(func.count()).select_from(inner)) or 0)

    def page_query(self, flt: F, sort: Sort, offset: int, limit: int) -> AnySelect:
        """The SELECT of one page (``page`` runs it; tests read its query plan)."""
        query = _ordered(self._filtered(flt), self.order_column(sort.key), self.id_column(), sort)
        return query.offset(offset).limit(limit)

    def page(self, sessions: Sessions, flt: F, sort: Sort, offset: int, limit: int) -> list[R]:
        query = self.page_query(flt, sort, offset, limit)
        with sessions() as session:
            rows = session.execute(query).all()
            return self.records(session, rows)

    def fetch_ids(self, sessions: Sessions, flt: F, ids: Iterable[int]) -> list[R]:
        """The records with these ids that match ``flt`` (any order)."""
        out: list[R] = []
        with sessions() as session:
            for chunk in _chunks(ids):
                rows = session.execute(self._filtered(flt).where(self.id_column().in_(chunk))).all()
                out += self.records(session, rows)
        return out


# ------------------------------------------------------------------------------------------------------
# events
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFilter:
    """TraceT's event-log filters (reference §8) plus a quick search."""

    search: str | None = field(default=None, metadata=_ui("Search", "text"))
    role: str | None = field(default=None, metadata=_ui("Role", "choice", ROLE_CHOICES))
    ignored: bool | None = field(default=None, metadata=_ui("Ignored", "tristate"))
    source_type: str | None = field(default=None, metadata=_ui("Source type", "choice", SOURCE_CHOICES))
    telescopes: tuple[str, ...] = field(default=(), metadata=_ui("Event telescopes", "multi", EVENT_TELESCOPE_CHOICES))
    trig_id: str | None = field(default=None, metadata=_ui("Trig ID", "text"))
    source_name: str | None = field(default=None, metadata=_ui("Source name", "text"))
    event_type: str | None = field(default=None, metadata=_ui("Event type", "text"))
    sequence_num: int | None = field(default=None, metadata=_ui("Sequence number", "int"))
    group_id: int | None = field(default=None, metadata=_ui("Group ID", "int"))
    received_from_utc: datetime | None = field(default=None, metadata=_ui("Received from (UTC)", "datetime"))
    received_to_utc: datetime | None = field(default=None, metadata=_ui("Received to (UTC)", "datetime"))
    observed_from_utc: datetime | None = field(default=None, metadata=_ui("Event time from (UTC)", "datetime"))
    observed_to_utc: datetime | None = field(default=None, metadata=_ui("Event time to (UTC)", "datetime"))
    duration_min_s: float | None = field(default=None, metadata=_ui("Duration min (s)", "float"))
    duration_max_s: float | None = field(default=None, metadata=_ui("Duration max (s)", "float"))
    ra_min_deg: float | None = field(default=None, metadata=_ui("RA min (deg)", "float"))
    ra_max_deg: float | None = field(default=None, metadata=_ui("RA max (deg)", "float"))
    dec_min_deg: float | None = field(default=None, metadata=_ui("Dec min (deg)", "float"))
    dec_max_deg: float | None = field(default=None, metadata=_ui("Dec max (deg)", "float"))
    pos_error_min_deg: float | None = field(default=None, metadata=_ui("Pos. error min (deg)", "float"))
    pos_error_max_deg: float | None = field(default=None, metadata=_ui("Pos. error max (deg)", "float"))
    fermi_prob_min: float | None = field(default=None, metadata=_ui("Fermi prob. min (%)", "float"))
    fermi_prob_max: float | None = field(default=None, metadata=_ui("Fermi prob. max (%)", "float"))
    swift_rate_min: float | None = field(default=None, metadata=_ui("Swift rate signif. min (σ)", "float"))
    swift_rate_max: float | None = field(default=None, metadata=_ui("Swift rate signif. max (σ)", "float"))


@dataclass(frozen=True, slots=True)
class EventItem:
    """One event as listed."""

    event_id: int
    inbox_id: int
    group_id: int | None
    ivorn: str
    role: str | None
    telescope: str | None
    event_type: str | None
    stream: str
    trig_id: str
    source_type: str | None
    source_name: str | None
    ignored: bool
    ignore_reason: str | None
    observed_utc: datetime | None
    received_utc: datetime
    ra_deg: float | None
    dec_deg: float | None
    pos_error_deg: float | None
    duration_s: float | None
    sequence_num: int | None
    fermi_detection_prob: float | None
    swift_rate_signif: float | None
    antares_ranking: int | None
    lvc_false_alarm_rate_hz: float | None
    gw_classification: str | None

    @property
    def is_test(self) -> bool:
        return self.role == "test"


def gw_classification(row: EventRow) -> str | None:
    """TraceT's derived GW class: BNS / NSBH / BBH / TERE above 0.5, NOPROB without probabilities."""
    if row.source_type != "GW":
        return None
    if row.lvc_binary_neutron_star_probability is None:
        return "NOPROB"
    for name, value in (
        ("BNS", row.lvc_binary_neutron_star_probability),
        ("NSBH", row.lvc_neutron_star_black_hole_probability),
        ("BBH", row.lvc_binary_black_hole_probability),
        ("TERE", row.lvc_terrestrial_probability),
    ):
        if value is not None and value > GW_CLASS_THRESHOLD:
            return name
    return ""


def _event_item(row: EventRow) -> EventItem:
    return EventItem(
        event_id=row.id,
        inbox_id=row.inbox_id,
        group_id=row.group_id,
        ivorn=row.ivorn,
        role=row.role,
        telescope=row.telescope,
        event_type=row.event_type,
        stream=row.stream,
        trig_id=row.trig_id,
        source_type=row.source_type,
        source_name=row.source_name,
        ignored=row.ignored,
        ignore_reason=row.ignore_reason,
        observed_utc=row.observed_utc,
        received_utc=row.received_utc,
        ra_deg=row.ra_deg,
        dec_deg=row.dec_deg,
        pos_error_deg=row.pos_error_deg,
        duration_s=row.duration_s,
        sequence_num=row.sequence_num,
        fermi_detection_prob=row.fermi_detection_prob,
        swift_rate_signif=row.swift_rate_signif,
        antares_ranking=row.antares_ranking,
        lvc_false_alarm_rate_hz=row.lvc_false_alarm_rate_hz,
        gw_classification=gw_classification(row),
    )


class EventQuery(ListQuery[EventFilter, EventItem]):
    id_attr = "event_id"
    default_sort = Sort("event_id")

    def base(self, flt: EventFilter) -> AnySelect:
        return select(EventRow)

    def id_column(self) -> ColumnElement[Any]:
        return EventRow.id  # type: ignore[return-value]

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        e = EventRow
        columns: dict[str, Any] = {
            "event_id": e.id,
            "group_id": e.group_id,
            "role": e.role,
            "telescope": e.telescope,
            "event_type": e.event_type,
            "stream": e.stream,
            "trig_id": e.trig_id,
            "source_type": e.source_type,
            "source_name": e.source_name,
            "ignored": e.ignored,
            "observed_utc": e.observed_utc,
            "received_utc": e.received_utc,
            "ra_deg": e.ra_deg,
            "dec_deg": e.dec_deg,
            "pos_error_deg": e.pos_error_deg,
            "duration_s": e.duration_s,
            "sequence_num": e.sequence_num,
            "fermi_detection_prob": e.fermi_detection_prob,
            "swift_rate_signif": e.swift_rate_signif,
        }
        return columns

    def conditions(self, flt: EventFilter) -> list[ColumnElement[bool]]:
        e = EventRow
        out: list[ColumnElement[bool]] = []
        if flt.search:
            text = flt.search
            out.append(
                or_(
                    _contains(e.trig_id, text),
                    _contains(e.source_name, text),
                    _contains(e.stream, text),
                    _contains(e.ivorn, text),
                )
            )
        role = _role_condition(e.role, flt.role)
        if role is not None:
            out.append(role)
        if flt.ignored is not None:
            out.append(e.ignored.is_(flt.ignored))
        if flt.source_type:
            out.append(e.source_type == flt.source_type)
        if flt.telescopes:
            out.append(e.telescope.in_(flt.telescopes))
        if flt.trig_id:
            out.append(_contains(e.trig_id, flt.trig_id))
        if flt.source_name:
            out.append(_contains(e.source_name, flt.source_name))
        if flt.event_type:
            out.append(_contains(e.event_type, flt.event_type))
        if flt.sequence_num is not None:
            out.append(e.sequence_num == flt.sequence_num)
        if flt.group_id is not None:
            out.append(e.group_id == flt.group_id)
        _range(out, e.received_utc, flt.received_from_utc, flt.received_to_utc)
        _range(out, e.observed_utc, flt.observed_from_utc, flt.observed_to_utc)
        _range(out, e.duration_s, flt.duration_min_s, flt.duration_max_s)
        _range(out, e.ra_deg, flt.ra_min_deg, flt.ra_max_deg)
        _range(out, e.dec_deg, flt.dec_min_deg, flt.dec_max_deg)
        _range(out, e.pos_error_deg, flt.pos_error_min_deg, flt.pos_error_max_deg)
        _range(out, e.fermi_detection_prob, flt.fermi_prob_min, flt.fermi_prob_max)
        _range(out, e.swift_rate_signif, flt.swift_rate_min, flt.swift_rate_max)
        return out

    def records(self, session: Session, rows: Sequence[Any]) -> list[EventItem]:
        return [_event_item(row[0]) for row in rows]


# ------------------------------------------------------------------------------------------------------
# proposals (columns of the group list, the editor)
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalItem:
    """One stored proposal with its decision statistics (all time)."""

    proposal_pk: int
    proposal_id: str
    telescope: str
    project_id: str
    event_telescope: str | None
    source_type: str
    testing: str
    priority: int
    active: bool
    version: int
    updated_utc: datetime
    settings: dict[str, Any]
    decision_counts: dict[str, int]

    @property
    def description(self) -> str:
        return str(self.settings.get("proposal_description") or "")


def list_proposals(sessions: Sessions, *, active_only: bool = False) -> list[ProposalItem]:
    """Proposals by priority (lower first), then proposal id."""
    with sessions() as session:
        query = select(ProposalRow).order_by(ProposalRow.priority, ProposalRow.proposal_id)
        if active_only:
            query = query.where(ProposalRow.active.is_(True))
        rows = session.scalars(query).all()
        counts: dict[int, dict[str, int]] = {}
        for pk, code, n in session.execute(
            select(ProposalDecisionRow.proposal_pk, ProposalDecisionRow.decision, func.count()).group_by(
                ProposalDecisionRow.proposal_pk, ProposalDecisionRow.decision
            )
        ):
            counts.setdefault(pk, {})[code] = int(n)
        return [
            ProposalItem(
                r.id,
                r.proposal_id,
                r.telescope,
                r.project_id,
                r.event_telescope,
                r.source_type,
                r.testing,
                r.priority,
                r.active,
                r.version,
                r.updated_utc,
                dict(r.settings or {}),
                counts.get(r.id, {}),
            )
            for r in rows
        ]


# ------------------------------------------------------------------------------------------------------
# event groups
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionCell:
    """One proposal's decision in a group row."""

    decision_id: int
    proposal_pk: int
    code: str
    needs_attention: bool


@dataclass(frozen=True, slots=True)
class GroupFilter:
    """TraceT's event-group-log filters plus decision, dates and a quick search."""

    search: str | None = field(default=None, metadata=_ui("Search", "text"))
    role: str | None = field(default=None, metadata=_ui("Role", "choice", ("observation", "test")))
    ignored: bool | None = field(default=False, metadata=_ui("Ignored", "tristate"))
    source_type: str | None = field(default=None, metadata=_ui("Source type", "choice", SOURCE_CHOICES))
    telescopes: tuple[str, ...] = field(default=(), metadata=_ui("Event telescopes", "multi", EVENT_TELESCOPE_CHOICES))
    trig_id: str | None = field(default=None, metadata=_ui("Trig ID", "text"))
    source_name: str | None = field(default=None, metadata=_ui("Source name", "text"))
    decision: str | None = field(default=None, metadata=_ui("Has decision", "choice", DECISION_CHOICES))
    received_from_utc: datetime | None = field(default=None, metadata=_ui("First alert from (UTC)", "datetime"))
    received_to_utc: datetime | None = field(default=None, metadata=_ui("First alert to (UTC)", "datetime"))


@dataclass(frozen=True, slots=True)
class GroupItem:
    """One event group as listed, with one decision cell per proposal that decided about it."""

    group_id: int
    trig_id: str
    source_type: str | None
    source_name: str | None
    telescope: str | None
    event_count: int
    ignored: bool
    needs_attention: bool
    is_test: bool
    ra_deg: float | None
    dec_deg: float | None
    pos_error_deg: float | None
    earliest_observed_utc: datetime | None
    latest_observed_utc: datetime | None
    first_received_utc: datetime
    last_received_utc: datetime
    decisions: tuple[DecisionCell, ...] = ()

    def decision_for(self, proposal_pk: int) -> DecisionCell | None:
        for cell in self.decisions:
            if cell.proposal_pk == proposal_pk:
                return cell
        return None

    @property
    def pending_count(self) -> int:
        return sum(1 for cell in self.decisions if cell.code == Decision.PENDING.value)


def _group_is_test() -> ColumnElement[bool]:
    return exists().where(EventRow.group_id == EventGroupRow.id, EventRow.role == "test")


def _group_items(session: Session, rows: Sequence[tuple[EventGroupRow, bool]]) -> list[GroupItem]:
    ids = [row.id for row, _ in rows]
    cells: dict[int, list[DecisionCell]] = {}
    for chunk in _chunks(ids):
        for d in session.execute(
            select(
                ProposalDecisionRow.group_id,
                ProposalDecisionRow.id,
                ProposalDecisionRow.proposal_pk,
                ProposalDecisionRow.decision,
                ProposalDecisionRow.needs_attention,
            ).where(ProposalDecisionRow.group_id.in_(chunk))
        ):
            cells.setdefault(d[0], []).append(DecisionCell(d[1], d[2], d[3], bool(d[4])))
    return [
        GroupItem(
            group_id=g.id,
            trig_id=g.trig_id,
            source_type=g.source_type,
            source_name=g.source_name,
            telescope=g.telescope,
            event_count=g.event_count,
            ignored=g.ignored,
            needs_attention=g.needs_attention,
            is_test=bool(is_test),
            ra_deg=g.ra_deg,
            dec_deg=g.dec_deg,
            pos_error_deg=g.pos_error_deg,
            earliest_observed_utc=g.earliest_observed_utc,
            latest_observed_utc=g.latest_observed_utc,
            first_received_utc=g.first_received_utc,
            last_received_utc=g.last_received_utc,
            decisions=tuple(sorted(cells.get(g.id, []), key=lambda c: c.proposal_pk)),
        )
        for g, is_test in rows
    ]


class GroupQuery(ListQuery[GroupFilter, GroupItem]):
    id_attr = "group_id"
    default_sort = Sort("last_received_utc")

    def base(self, flt: GroupFilter) -> AnySelect:
        return select(EventGroupRow, _group_is_test().label("is_test"))

    def id_column(self) -> ColumnElement[Any]:
        return EventGroupRow.id  # type: ignore[return-value]

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        g = EventGroupRow
        columns: dict[str, Any] = {
            "group_id": g.id,
            "trig_id": g.trig_id,
            "source_type": g.source_type,
            "source_name": g.source_name,
            "telescope": g.telescope,
            "event_count": g.event_count,
            "ignored": g.ignored,
            "ra_deg": g.ra_deg,
            "dec_deg": g.dec_deg,
            "pos_error_deg": g.pos_error_deg,
            "earliest_observed_utc": g.earliest_observed_utc,
            "latest_observed_utc": g.latest_observed_utc,
            "first_received_utc": g.first_received_utc,
            "last_received_utc": g.last_received_utc,
        }
        return columns

    def order_column(self, key: str) -> ColumnElement[Any]:
        if key.startswith("decision:"):
            pk = int(key.split(":", 1)[1])
            return (
                select(ProposalDecisionRow.decision)
                .where(ProposalDecisionRow.group_id == EventGroupRow.id, ProposalDecisionRow.proposal_pk == pk)
                .scalar_subquery()
            )
        return super().order_column(key)

    def can_sort(self, key: str) -> bool:
        return key.startswith("decision:") or super().can_sort(key)

    def conditions(self, flt: GroupFilter) -> list[ColumnElement[bool]]:
        g = EventGroupRow
        out: list[ColumnElement[bool]] = []
        if flt.search:
            out.append(
                or_(
                    _contains(g.trig_id, flt.search),
                    _contains(g.source_name, flt.search),
                    _contains(g.telescope, flt.search),
                )
            )
        if flt.role == "test":
            out.append(_group_is_test())
        elif flt.role == "observation":
            out.append(~_group_is_test())
        if flt.ignored is not None:
            out.append(g.ignored.is_(flt.ignored))
        if flt.source_type:
            out.append(g.source_type == flt.source_type)
        if flt.telescopes:
            out.append(
                or_(
                    g.telescope.in_(flt.telescopes),
                    exists().where(EventRow.group_id == g.id, EventRow.telescope.in_(flt.telescopes)),
                )
            )
        if flt.trig_id:
            out.append(_contains(g.trig_id, flt.trig_id))
        if flt.source_name:
            out.append(_contains(g.source_name, flt.source_name))
        if flt.decision:
            out.append(
                exists().where(ProposalDecisionRow.group_id == g.id, ProposalDecisionRow.decision == flt.decision)
            )
        _range(out, g.first_received_utc, flt.received_from_utc, flt.received_to_utc)
        return out

    def records(self, session: Session, rows: Sequence[Any]) -> list[GroupItem]:
        return _group_items(session, [(row[0], bool(row[1])) for row in rows])


# ------------------------------------------------------------------------------------------------------
# decisions
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """TraceT's decision-log filters (decision, received dates) plus proposal, trig id and search."""

    search: str | None = field(default=None, metadata=_ui("Search", "text"))
    decision: str | None = field(default=None, metadata=_ui("Decision", "choice", DECISION_CHOICES))
    proposal_id: str | None = field(default=None, metadata=_ui("Proposal", "text"))
    trig_id: str | None = field(default=None, metadata=_ui("Trig ID", "text"))
    group_id: int | None = field(default=None, metadata=_ui("Group ID", "int"))
    needs_attention: bool | None = field(default=None, metadata=_ui("Flagged for attention", "tristate"))
    needs_human: bool | None = field(default=None, metadata=_ui("Needs a human (pending or flagged)", "tristate"))
    created_from_utc: datetime | None = field(default=None, metadata=_ui("Created from (UTC)", "datetime"))
    created_to_utc: datetime | None = field(default=None, metadata=_ui("Created to (UTC)", "datetime"))


@dataclass(frozen=True, slots=True)
class DecisionItem:
    """One proposal decision as listed, with its latest reason (newest log entry that is not the verdict line)."""

    decision_id: int
    group_id: int
    trig_id: str
    proposal_pk: int
    proposal_id: str
    priority: int
    telescope: str
    project_id: str
    testing: str
    decision: str
    needs_attention: bool
    created_utc: datetime
    updated_utc: datetime
    duration_s: float | None
    ra_deg: float | None
    dec_deg: float | None
    pos_error_deg: float | None
    last_reason: str | None

    @property
    def is_pending(self) -> bool:
        return self.decision == Decision.PENDING.value


class DecisionQuery(ListQuery[DecisionFilter, DecisionItem]):
    id_attr = "decision_id"
    default_sort = Sort("updated_utc")

    def base(self, flt: DecisionFilter) -> AnySelect:
        last_log = (
            select(DecisionLogRow.text)
            .where(DecisionLogRow.decision_id == ProposalDecisionRow.id, DecisionLogRow.kind != "decision")
            .order_by(DecisionLogRow.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        return (
            select(ProposalDecisionRow, EventGroupRow.trig_id, ProposalRow, last_log.label("last_reason"))
            .join(EventGroupRow, EventGroupRow.id == ProposalDecisionRow.group_id)
            .join(ProposalRow, ProposalRow.id == ProposalDecisionRow.proposal_pk)
        )

    def id_column(self) -> ColumnElement[Any]:
        return ProposalDecisionRow.id  # type: ignore[return-value]

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        d = ProposalDecisionRow
        columns: dict[str, Any] = {
            "decision_id": d.id,
            "group_id": d.group_id,
            "trig_id": EventGroupRow.trig_id,
            "proposal_id": ProposalRow.proposal_id,
            "priority": ProposalRow.priority,
            "telescope": ProposalRow.telescope,
            "project_id": ProposalRow.project_id,
            "decision": d.decision,
            "created_utc": d.created_utc,
            "updated_utc": d.updated_utc,
            "duration_s": d.duration_s,
            "ra_deg": d.ra_deg,
            "dec_deg": d.dec_deg,
            "pos_error_deg": d.pos_error_deg,
            "needs_attention": d.needs_attention,
        }
        return columns

    def conditions(self, flt: DecisionFilter) -> list[ColumnElement[bool]]:
        d = ProposalDecisionRow
        out: list[ColumnElement[bool]] = []
        if flt.search:
            out.append(
                or_(
                    _contains(EventGroupRow.trig_id, flt.search),
                    _contains(ProposalRow.proposal_id, flt.search),
                    _contains(EventGroupRow.source_name, flt.search),
                )
            )
        if flt.decision:
            out.append(d.decision == flt.decision)
        if flt.proposal_id:
            out.append(_contains(ProposalRow.proposal_id, flt.proposal_id))
        if flt.trig_id:
            out.append(_contains(EventGroupRow.trig_id, flt.trig_id))
        if flt.group_id is not None:
            out.append(d.group_id == flt.group_id)
        if flt.needs_attention is not None:
            out.append(d.needs_attention.is_(flt.needs_attention))
        if flt.needs_human is not None:
            human = or_(d.decision == Decision.PENDING.value, d.needs_attention.is_(True))
            out.append(human if flt.needs_human else ~human)
        _range(out, d.created_utc, flt.created_from_utc, flt.created_to_utc)
        return out

    def records(self, session: Session, rows: Sequence[Any]) -> list[DecisionItem]:
        out = []
        for d, trig_id, p, last_reason in rows:
            out.append(
                DecisionItem(
                    decision_id=d.id,
                    group_id=d.group_id,
                    trig_id=trig_id,
                    proposal_pk=p.id,
                    proposal_id=p.proposal_id,
                    priority=p.priority,
                    telescope=p.telescope,
                    project_id=p.project_id,
                    testing=p.testing,
                    decision=d.decision,
                    needs_attention=d.needs_attention,
                    created_utc=d.created_utc,
                    updated_utc=d.updated_utc,
                    duration_s=d.duration_s,
                    ra_deg=d.ra_deg,
                    dec_deg=d.dec_deg,
                    pos_error_deg=d.pos_error_deg,
                    last_reason=last_reason,
                )
            )
        return out


# ------------------------------------------------------------------------------------------------------
# observations
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    search: str | None = field(default=None, metadata=_ui("Search", "text"))
    telescope: str | None = field(
        default=None, metadata=_ui("Telescope", "choice", ("MWA_VCS", "MWA_correlate", "ATCA"))
    )
    ok: bool | None = field(default=None, metadata=_ui("Succeeded", "tristate"))
    pretend: bool | None = field(default=None, metadata=_ui("Pretend", "tristate"))
    decision_id: int | None = field(default=None, metadata=_ui("Decision ID", "int"))
    requested_from_utc: datetime | None = field(default=None, metadata=_ui("Requested from (UTC)", "datetime"))
    requested_to_utc: datetime | None = field(default=None, metadata=_ui("Requested to (UTC)", "datetime"))


@dataclass(frozen=True, slots=True)
class ObservationItem:
    """One telescope request and its response."""

    observation_id: int
    decision_id: int | None
    group_id: int | None
    trig_id: str | None
    proposal_id: str | None
    event_id: int | None
    telescope: str
    kind: str
    pretend: bool
    reason: str | None
    ok: bool | None
    error: str | None
    trigger_id: str | None
    website_link: str | None
    requested_utc: datetime
    responded_utc: datetime | None
    request: dict[str, Any]
    response: dict[str, Any] | None

    @property
    def obs_ids(self) -> tuple[str, ...]:
        """MWA observation ids found in the response (``obsid_list`` or ``obsids``)."""
        resp = self.response or {}
        for key in ("obsid_list", "obsids"):
            value = resp.get(key)
            if isinstance(value, list):
                return tuple(str(v) for v in value)
        return ()

    @property
    def state(self) -> str:
        if self.ok is None:
            return "waiting"
        return "ok" if self.ok else "failed"

    @property
    def is_cancellable(self) -> bool:
        return self.telescope == "ATCA" and bool(self.ok) and not self.pretend


class ObservationQuery(ListQuery[ObservationFilter, ObservationItem]):
    id_attr = "observation_id"
    default_sort = Sort("observation_id")

    def base(self, flt: ObservationFilter) -> AnySelect:
        return (
            select(ObservationRow, ProposalDecisionRow.group_id, EventGroupRow.trig_id, ProposalRow.proposal_id)
            .outerjoin(ProposalDecisionRow, ProposalDecisionRow.id == ObservationRow.decision_id)
            .outerjoin(EventGroupRow, EventGroupRow.id == ProposalDecisionRow.group_id)
            .outerjoin(ProposalRow, ProposalRow.id == ProposalDecisionRow.proposal_pk)
        )

    def id_column(self) -> ColumnElement[Any]:
        return ObservationRow.id  # type: ignore[return-value]

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        o = ObservationRow
        columns: dict[str, Any] = {
            "observation_id": o.id,
            "decision_id": o.decision_id,
            "trig_id": EventGroupRow.trig_id,
            "proposal_id": ProposalRow.proposal_id,
            "telescope": o.telescope,
            "kind": o.kind,
            "pretend": o.pretend,
            "ok": o.ok,
            "trigger_id": o.trigger_id,
            "requested_utc": o.requested_utc,
            "responded_utc": o.responded_utc,
        }
        return columns

    def conditions(self, flt: ObservationFilter) -> list[ColumnElement[bool]]:
        o = ObservationRow
        out: list[ColumnElement[bool]] = []
        if flt.search:
            out.append(
                or_(
                    _contains(EventGroupRow.trig_id, flt.search),
                    _contains(ProposalRow.proposal_id, flt.search),
                    _contains(o.trigger_id, flt.search),
                    _contains(o.reason, flt.search),
                )
            )
        if flt.telescope:
            out.append(o.telescope == flt.telescope)
        if flt.ok is not None:
            out.append(o.ok.is_(flt.ok))
        if flt.pretend is not None:
            out.append(o.pretend.is_(flt.pretend))
        if flt.decision_id is not None:
            out.append(o.decision_id == flt.decision_id)
        _range(out, o.requested_utc, flt.requested_from_utc, flt.requested_to_utc)
        return out

    def records(self, session: Session, rows: Sequence[Any]) -> list[ObservationItem]:
        return [_observation_item(o, group_id, trig_id, proposal_id) for o, group_id, trig_id, proposal_id in rows]


def _observation_item(
    o: ObservationRow, group_id: int | None, trig_id: str | None, proposal_id: str | None
) -> ObservationItem:
    return ObservationItem(
        observation_id=o.id,
        decision_id=o.decision_id,
        group_id=group_id,
        trig_id=trig_id,
        proposal_id=proposal_id,
        event_id=o.event_id,
        telescope=o.telescope,
        kind=o.kind,
        pretend=o.pretend,
        reason=o.reason,
        ok=o.ok,
        error=o.error,
        trigger_id=o.trigger_id,
        website_link=o.website_link,
        requested_utc=o.requested_utc,
        responded_utc=o.responded_utc,
        request=dict(o.request or {}),
        response=None if o.response is None else dict(o.response),
    )


# ------------------------------------------------------------------------------------------------------
# broker log, operator actions
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerLogFilter:
    search: str | None = field(default=None, metadata=_ui("Search", "text"))
    connection: str | None = field(default=None, metadata=_ui("Connection", "text"))
    state: str | None = field(default=None, metadata=_ui("State", "text"))
    before_utc: datetime | None = field(default=None, metadata=_ui("Created before (UTC)", "datetime"))


@dataclass(frozen=True, slots=True)
class BrokerLogItem:
    log_id: int
    at_utc: datetime
    connection: str
    state: str
    text: str | None


class BrokerLogQuery(ListQuery[BrokerLogFilter, BrokerLogItem]):
    id_attr = "log_id"
    default_sort = Sort("log_id")

    def base(self, flt: BrokerLogFilter) -> AnySelect:
        return select(BrokerLogRow)

    def id_column(self) -> ColumnElement[Any]:
        return BrokerLogRow.id  # type: ignore[return-value]

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        b = BrokerLogRow
        columns: dict[str, Any] = {"log_id": b.id, "at_utc": b.at_utc, "connection": b.connection, "state": b.state}
        return columns

    def conditions(self, flt: BrokerLogFilter) -> list[ColumnElement[bool]]:
        b = BrokerLogRow
        out: list[ColumnElement[bool]] = []
        if flt.search:
            out.append(
                or_(_contains(b.connection, flt.search), _contains(b.text, flt.search), _contains(b.state, flt.search))
            )
        if flt.connection:
            out.append(_contains(b.connection, flt.connection))
        if flt.state:
            out.append(_contains(b.state, flt.state))
        if flt.before_utc is not None:
            out.append(b.at_utc <= flt.before_utc)
        return out

    def records(self, session: Session, rows: Sequence[Any]) -> list[BrokerLogItem]:
        return [BrokerLogItem(r.id, r.at_utc, r.connection, r.state, r.text) for (r,) in rows]


@dataclass(frozen=True, slots=True)
class ActionFilter:
    search: str | None = field(default=None, metadata=_ui("Search", "text"))
    action: str | None = field(default=None, metadata=_ui("Action", "text"))
    pending: bool | None = field(default=None, metadata=_ui("Not executed yet", "tristate"))


@dataclass(frozen=True, slots=True)
class ActionItem:
    action_id: int
    at_utc: datetime
    operator: str
    action: str
    target: str | None
    comment: str | None
    executed_utc: datetime | None


class ActionQuery(ListQuery[ActionFilter, ActionItem]):
    id_attr = "action_id"
    default_sort = Sort("action_id")

    def base(self, flt: ActionFilter) -> AnySelect:
        return select(OperatorActionRow)

    def id_column(self) -> ColumnElement[Any]:
        return OperatorActionRow.id  # type: ignore[return-value]

    def sortable(self) -> dict[str, ColumnElement[Any]]:
        a = OperatorActionRow
        columns: dict[str, Any] = {
            "action_id": a.id,
            "at_utc": a.at_utc,
            "operator": a.operator,
            "action": a.action,
            "target": a.target,
            "executed_utc": a.executed_utc,
        }
        return columns

    def conditions(self, flt: ActionFilter) -> list[ColumnElement[bool]]:
        a = OperatorActionRow
        out: list[ColumnElement[bool]] = []
        if flt.search:
            out.append(
                or_(
                    _contains(a.operator, flt.search),
                    _contains(a.action, flt.search),
                    _contains(a.target, flt.search),
                    _contains(a.comment, flt.search),
                )
            )
        if flt.action:
            out.append(_contains(a.action, flt.action))
        if flt.pending is True:
            out.append(a.executed_utc.is_(None))
        elif flt.pending is False:
            out.append(a.executed_utc.is_not(None))
        return out

    def records(self, session: Session, rows: Sequence[Any]) -> list[ActionItem]:
        return [ActionItem(r.id, r.at_utc, r.operator, r.action, r.target, r.comment, r.executed_utc) for (r,) in rows]


EVENTS = EventQuery()
GROUPS = GroupQuery()
DECISIONS = DecisionQuery()
OBSERVATIONS = ObservationQuery()
BROKER_LOG = BrokerLogQuery()
ACTIONS = ActionQuery()


# ------------------------------------------------------------------------------------------------------
# change feed
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Highest ids (and a few counts) of the tables the console shows; any change means "look again"."""

    inbox_id: int = 0
    event_id: int = 0
    group_id: int = 0
    decision_id: int = 0
    decision_log_id: int = 0
    observation_id: int = 0
    observations_answered: int = 0
    broker_log_id: int = 0
    action_id: int = 0
    actions_executed: int = 0
    proposals_version: int = 0
    decision_updated_utc: datetime | None = None
    """Newest ``proposal_decision.updated_utc`` (indexed): catches a decision changed without a log line."""


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Ids that appeared or changed between two watermarks."""

    event_ids: frozenset[int] = frozenset()
    group_ids: frozenset[int] = frozenset()
    decision_ids: frozenset[int] = frozenset()
    observation_ids: frozenset[int] = frozenset()
    broker_log_ids: frozenset[int] = frozenset()
    action_ids: frozenset[int] = frozenset()
    new_decision_log_ids: frozenset[int] = frozenset()
    proposals_changed: bool = False
    inbox_changed: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.event_ids
            or self.group_ids
            or self.decision_ids
            or self.observation_ids
            or self.broker_log_ids
            or self.action_ids
            or self.proposals_changed
            or self.inbox_changed
        )


def read_watermarks(sessions: Sessions) -> Watermarks:
    """One cheap query: max ids use the primary-key index; the counts are over small tables."""

    def top(column: Any) -> Any:
        return func.coalesce(select(func.max(column)).scalar_subquery(), 0)

    query = select(
        top(InboxRow.id),
        top(EventRow.id),
        top(EventGroupRow.id),
        top(ProposalDecisionRow.id),
        top(DecisionLogRow.id),
        top(ObservationRow.id),
        select(func.count(ObservationRow.id)).where(ObservationRow.ok.is_not(None)).scalar_subquery(),
        top(BrokerLogRow.id),
        top(OperatorActionRow.id),
        select(func.count(OperatorActionRow.id)).where(OperatorActionRow.executed_utc.is_not(None)).scalar_subquery(),
        select(
            func.coalesce(func.sum(ProposalRow.version), 0) + func.count(ProposalRow.id) * 1_000_003
        ).scalar_subquery(),
    )
    with sessions() as session:
        row = session.execute(query).one()
        updated = session.scalar(select(func.max(ProposalDecisionRow.updated_utc)))
    if isinstance(updated, str):  # SQLite returns max() of a datetime column as text
        updated = datetime.fromisoformat(updated).replace(tzinfo=UTC)
    elif updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    (inbox, event, group, decision, log, observation, answered, broker, action, executed, proposals) = (
        int(v or 0) for v in row
    )
    return Watermarks(
        inbox, event, group, decision, log, observation, answered, broker, action, executed, proposals, updated
    )


def changes_between(sessions: Sessions, old: Watermarks, new: Watermarks) -> ChangeSet:
    """What appeared or changed from ``old`` to ``new`` (both read with :func:`read_watermarks`)."""
    if old == new:
        return ChangeSet()
    with sessions() as session:
        event_ids: set[int] = set()
        group_ids: set[int] = set()
        if new.event_id > old.event_id:
            for eid, gid in session.execute(select(EventRow.id, EventRow.group_id).where(EventRow.id > old.event_id)):
                event_ids.add(eid)
                if gid is not None:
                    group_ids.add(gid)
        if new.group_id > old.group_id:
            group_ids.update(session.scalars(select(EventGroupRow.id).where(EventGroupRow.id > old.group_id)))
        decision_ids: set[int] = set()
        log_ids: set[int] = set()
        if new.decision_log_id > old.decision_log_id:
            for lid, did, gid in session.execute(
                select(DecisionLogRow.id, DecisionLogRow.decision_id, DecisionLogRow.group_id).where(
                    DecisionLogRow.id > old.decision_log_id
                )
            ):
                log_ids.add(lid)
                if did is not None:
                    decision_ids.add(did)
                if gid is not None:
                    group_ids.add(gid)
        if new.decision_updated_utc != old.decision_updated_utc and new.decision_updated_utc is not None:
            changed = select(ProposalDecisionRow.id, ProposalDecisionRow.group_id)
            if old.decision_updated_utc is not None:
                changed = changed.where(ProposalDecisionRow.updated_utc > old.decision_updated_utc)
            for did, gid in session.execute(changed):
                decision_ids.add(did)
                group_ids.add(gid)
        if new.decision_id > old.decision_id:
            for did, gid in session.execute(
                select(ProposalDecisionRow.id, ProposalDecisionRow.group_id).where(
                    ProposalDecisionRow.id > old.decision_id
                )
            ):
                decision_ids.add(did)
                group_ids.add(gid)
        if decision_ids:
            for chunk in _chunks(decision_ids):
                group_ids.update(
                    session.scalars(select(ProposalDecisionRow.group_id).where(ProposalDecisionRow.id.in_(chunk)))
                )
        observation_ids: set[int] = set()
        if new.observation_id > old.observation_id:
            observation_ids.update(
                session.scalars(select(ObservationRow.id).where(ObservationRow.id > old.observation_id))
            )
        if new.observations_answered != old.observations_answered or decision_ids:
            condition: ColumnElement[bool] = ObservationRow.decision_id.in_(decision_ids) if decision_ids else false()
            if new.observations_answered != old.observations_answered:
                condition = or_(condition, ObservationRow.responded_utc.is_not(None))
            observation_ids.update(session.scalars(select(ObservationRow.id).where(condition)))
        broker_ids: set[int] = set()
        if new.broker_log_id > old.broker_log_id:
            broker_ids.update(session.scalars(select(BrokerLogRow.id).where(BrokerLogRow.id > old.broker_log_id)))
        action_ids: set[int] = set()
        if new.action_id > old.action_id:
            action_ids.update(session.scalars(select(OperatorActionRow.id).where(OperatorActionRow.id > old.action_id)))
        if new.actions_executed != old.actions_executed:
            action_ids.update(
                session.scalars(
                    select(OperatorActionRow.id)
                    .where(OperatorActionRow.executed_utc.is_not(None))
                    .order_by(OperatorActionRow.executed_utc.desc())
                    .limit(max(1, new.actions_executed - old.actions_executed) + 50)
                )
            )
    return ChangeSet(
        event_ids=frozenset(event_ids),
        group_ids=frozenset(group_ids),
        decision_ids=frozenset(decision_ids),
        observation_ids=frozenset(observation_ids),
        broker_log_ids=frozenset(broker_ids),
        action_ids=frozenset(action_ids),
        new_decision_log_ids=frozenset(log_ids),
        proposals_changed=new.proposals_version != old.proposals_version,
        inbox_changed=new.inbox_id != old.inbox_id,
    )


# ------------------------------------------------------------------------------------------------------
# dashboard
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """Latest broker-log line of one connection."""

    connection: str
    state: str
    text: str | None
    at_utc: datetime


@dataclass(frozen=True, slots=True)
class Totals:
    events: int
    groups: int
    pending_decisions: int
    observations: int
    failed_packets: int
    unprocessed_packets: int


def connection_states(sessions: Sessions) -> list[ConnectionState]:
    """The newest broker-log entry per connection, by connection name."""
    newest = select(func.max(BrokerLogRow.id)).group_by(BrokerLogRow.connection)
    with sessions() as session:
        rows = session.scalars(
            select(BrokerLogRow).where(BrokerLogRow.id.in_(newest)).order_by(BrokerLogRow.connection)
        )
        return [ConnectionState(r.connection, r.state, r.text, r.at_utc) for r in rows]


def totals(sessions: Sessions) -> Totals:
    """Counts for the dashboard (``count(*)``: SQLite counts a million rows 4x faster than ``count(id)``)."""

    def rows(table: Any) -> Select[int]:
        return select(func.count()).select_from(table)

    with sessions() as session:
        row = session.execute(
            select(
                rows(EventRow).scalar_subquery(),
                rows(EventGroupRow).scalar_subquery(),
                rows(ProposalDecisionRow)
                .where(ProposalDecisionRow.decision == Decision.PENDING.value)
                .scalar_subquery(),
                rows(ObservationRow).scalar_subquery(),
                rows(InboxRow).where(InboxRow.status == "failed").scalar_subquery(),
                rows(InboxRow).where(InboxRow.status == "new").scalar_subquery(),
            )
        ).one()
    return Totals(*(int(v or 0) for v in row))


def attention_decisions(sessions: Sessions, limit: int = 200) -> list[DecisionItem]:
    """Decisions a human must look at: pending ones and ones flagged (e.g. a retraction after a trigger)."""
    return DECISIONS.page(sessions, DecisionFilter(needs_human=True), Sort("updated_utc"), 0, limit)


def latest_event(sessions: Sessions) -> EventItem | None:
    page = EVENTS.page(sessions, EventFilter(), Sort("event_id"), 0, 1)
    return page[0] if page else None


def latest_observation(sessions: Sessions) -> ObservationItem | None:
    page = OBSERVATIONS.page(sessions, ObservationFilter(), Sort("observation_id"), 0, 1)
    return page[0] if page else None


# ------------------------------------------------------------------------------------------------------
# details
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    log_id: int
    decision_id: int | None
    at_utc: datetime
    kind: str
    text: str
    event_id: int | None

    def format(self) -> str:
        event = f"Event {self.event_id}" if self.event_id is not None else "-"
        return f"{self.at_utc:%Y-%m-%d %H:%M:%S}Z  {event}: {self.text}"


@dataclass(frozen=True, slots=True)
class Latency:
    """Event time → receipt → decision → telescope request, for one proposal's decision."""

    proposal_id: str
    decision_id: int
    event_id: int | None
    observed_utc: datetime | None
    received_utc: datetime | None
    decided_utc: datetime | None
    requested_utc: datetime | None

    @staticmethod
    def _delta(a: datetime | None, b: datetime | None) -> float | None:
        return None if a is None or b is None else (b - a).total_seconds()

    @property
    def receipt_delay_s(self) -> float | None:
        return self._delta(self.observed_utc, self.received_utc)

    @property
    def decision_delay_s(self) -> float | None:
        return self._delta(self.received_utc, self.decided_utc)

    @property
    def request_delay_s(self) -> float | None:
        return self._delta(self.decided_utc, self.requested_utc)

    @property
    def total_s(self) -> float | None:
        return self._delta(self.observed_utc, self.requested_utc or self.decided_utc)


@dataclass(frozen=True, slots=True)
class DecisionDetail:
    decision: DecisionItem
    log: tuple[LogLine, ...]
    observations: tuple[ObservationItem, ...]
    actions: tuple[ActionItem, ...]


@dataclass(frozen=True, slots=True)
class GroupDetail:
    group: GroupItem
    events: tuple[EventItem, ...]
    decisions: tuple[DecisionDetail, ...]
    group_log: tuple[LogLine, ...]
    latencies: tuple[Latency, ...]

    @property
    def observations(self) -> tuple[ObservationItem, ...]:
        return tuple(o for d in self.decisions for o in d.observations)


def _log_lines(rows: Iterable[DecisionLogRow]) -> tuple[LogLine, ...]:
    return tuple(LogLine(r.id, r.decision_id, r.at_utc, r.kind, r.text, r.event_id) for r in rows)


def decision_detail(sessions: Sessions, decision_id: int) -> DecisionDetail | None:
    found = DECISIONS.fetch_ids(sessions, DecisionFilter(), [decision_id])
    if not found:
        return None
    return _decision_details(sessions, found)[0]


def _decision_details(sessions: Sessions, decisions: Sequence[DecisionItem]) -> list[DecisionDetail]:
    ids = [d.decision_id for d in decisions]
    observations = OBSERVATIONS.fetch_ids(sessions, ObservationFilter(), _observation_ids(sessions, ids))
    with sessions() as session:
        logs = _log_lines(
            session.scalars(
                select(DecisionLogRow).where(DecisionLogRow.decision_id.in_(ids)).order_by(DecisionLogRow.id)
            )
        )
        targets = [f"decision:{i}" for i in ids]
        obs_targets = [f"observation:{o.observation_id}" for o in observations]
        action_rows = session.scalars(
            select(OperatorActionRow)
            .where(OperatorActionRow.target.in_(targets + obs_targets))
            .order_by(OperatorActionRow.id)
        ).all()
    actions = [
        ActionItem(r.id, r.at_utc, r.operator, r.action, r.target, r.comment, r.executed_utc) for r in action_rows
    ]
    obs_decision = {o.observation_id: o.decision_id for o in observations}
    out = []
    for d in decisions:
        mine = {f"decision:{d.decision_id}"} | {
            f"observation:{o}" for o, did in obs_decision.items() if did == d.decision_id
        }
        out.append(
            DecisionDetail(
                d,
                tuple(line for line in logs if line.decision_id == d.decision_id),
                tuple(
                    sorted((o for o in observations if o.decision_id == d.decision_id), key=lambda o: o.observation_id)
                ),
                tuple(a for a in actions if a.target in mine),
            )
        )
    return out


def _observation_ids(sessions: Sessions, decision_ids: Sequence[int]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(ObservationRow.id).where(ObservationRow.decision_id.in_(decision_ids))))


def _latency(detail: DecisionDetail, events: dict[int, EventItem]) -> Latency:
    d = detail.decision
    first_obs = detail.observations[0] if detail.observations else None
    decided = [line for line in detail.log if line.kind == "decision"]
    event_id: int | None = None
    decided_utc: datetime | None = None
    if first_obs is not None:
        event_id = first_obs.event_id
        before = [line for line in decided if line.at_utc <= first_obs.requested_utc]
        decided_utc = (before[-1] if before else decided[0]).at_utc if decided else first_obs.requested_utc
    elif decided:
        event_id = decided[0].event_id
        decided_utc = decided[0].at_utc
    if event_id is None and detail.log:
        event_id = next((line.event_id for line in detail.log if line.event_id is not None), None)
    event = events.get(event_id) if event_id is not None else None
    return Latency(
        d.proposal_id,
        d.decision_id,
        event_id,
        event.observed_utc if event else None,
        event.received_utc if event else None,
        decided_utc,
        first_obs.requested_utc if first_obs else None,
    )


def group_detail(sessions: Sessions, group_id: int) -> GroupDetail | None:
    """Everything the group-details window shows, read in a few short queries."""
    groups = GROUPS.fetch_ids(sessions, GroupFilter(ignored=None), [group_id])
    if not groups:
        return None
    events = EVENTS.page(sessions, EventFilter(group_id=group_id), Sort("event_id", descending=False), 0, 10_000)
    decisions = DECISIONS.page(sessions, DecisionFilter(group_id=group_id), Sort("priority", descending=False), 0, 1000)
    details = _decision_details(sessions, decisions) if decisions else []
    with sessions() as session:
        group_log = _log_lines(
            session.scalars(
                select(DecisionLogRow)
                .where(DecisionLogRow.group_id == group_id, DecisionLogRow.decision_id.is_(None))
                .order_by(DecisionLogRow.id)
            )
        )
    by_id = {e.event_id: e for e in events}
    return GroupDetail(groups[0], tuple(events), tuple(details), group_log, tuple(_latency(d, by_id) for d in details))


def event_raw_xml(sessions: Sessions, event_id: int) -> bytes | None:
    """The packet exactly as received."""
    with sessions() as session:
        return session.scalar(
            select(InboxRow.raw).join(EventRow, EventRow.inbox_id == InboxRow.id).where(EventRow.id == event_id)
        )


def group_id_for_decision(sessions: Sessions, decision_id: int) -> int | None:
    with sessions() as session:
        return session.scalar(select(ProposalDecisionRow.group_id).where(ProposalDecisionRow.id == decision_id))


def is_pending(sessions: Sessions, decision_id: int) -> bool:
    with sessions() as session:
        code = session.scalar(select(ProposalDecisionRow.decision).where(ProposalDecisionRow.id == decision_id))
    return code == Decision.PENDING.value
