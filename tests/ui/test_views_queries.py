"""The read-side queries (no Qt): order, filters, change feed, details, operator actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.ui.builders import DATA_DIR, Built, ingest
from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage import views as v
from tracet_gui.storage.schema import OperatorActionRow

QUERIES: list[tuple[Any, Any]] = [
    (v.EVENTS, v.EventFilter()),
    (v.GROUPS, v.GroupFilter(ignored=None)),
    (v.DECISIONS, v.DecisionFilter()),
    (v.OBSERVATIONS, v.ObservationFilter()),
    (v.BROKER_LOG, v.BrokerLogFilter()),
]


@pytest.mark.parametrize(("query", "flt"), QUERIES, ids=lambda x: type(x).__name__)
def test_python_order_matches_database_order_for_every_sortable_column(built: Built, query: Any, flt: Any) -> None:
    sessions = built.db.sessions
    keys = list(query.sortable())
    if query is v.GROUPS:
        keys += [f"decision:{p.proposal_pk}" for p in v.list_proposals(sessions)[:3]]
    for key in keys:
        for descending in (True, False):
            sort = v.Sort(key, descending)
            rows = query.page(sessions, flt, sort, 0, 1000)
            assert rows, key
            assert sorted(rows, key=v.sort_key(sort, query.id_attr)) == rows, (key, descending)
            for i, record in enumerate(rows):
                others = rows[:i] + rows[i + 1 :]
                assert v.insertion_index(others, record, sort, query.id_attr) == i, (key, descending)


@pytest.mark.parametrize(
    ("flt", "expect"),
    [
        (v.EventFilter(role="test"), lambda e: e.role == "test"),
        (v.EventFilter(role="other"), lambda e: e.role not in ("observation", "test")),
        (v.EventFilter(ignored=True), lambda e: e.ignored),
        (v.EventFilter(telescopes=("SWIFT", "Fermi")), lambda e: e.telescope in ("SWIFT", "Fermi")),
        (v.EventFilter(source_type="GRB"), lambda e: e.source_type == "GRB"),
        (v.EventFilter(dec_min_deg=0.0, dec_max_deg=30.0), lambda e: e.dec_deg is not None and 0 <= e.dec_deg <= 30),
        (v.EventFilter(search="1093742"), lambda e: "1093742" in e.trig_id),
        (v.EventFilter(event_type="xrt"), lambda e: "xrt" in (e.event_type or "").lower()),
        (v.EventFilter(pos_error_max_deg=0.05), lambda e: e.pos_error_deg is not None and e.pos_error_deg <= 0.05),
    ],
)
def test_event_filters_keep_exactly_the_matching_events(built: Built, flt: v.EventFilter, expect: Any) -> None:
    everything = v.EVENTS.page(built.db.sessions, v.EventFilter(), v.Sort("event_id"), 0, 1000)
    kept = v.EVENTS.page(built.db.sessions, flt, v.Sort("event_id"), 0, 1000)
    assert [e.event_id for e in kept] == [e.event_id for e in everything if expect(e)]
    assert v.EVENTS.count(built.db.sessions, flt) == len(kept)


def test_role_other_lists_events_traceT_showed_nowhere(built: Built) -> None:
    # SWIFT_Point_Dir_Change has role "utility": TraceT's observation/test logs both hid it.
    other = v.EVENTS.page(built.db.sessions, v.EventFilter(role="other"), v.Sort("event_id"), 0, 100)
    assert {e.role for e in other} == {"utility"}


@pytest.mark.parametrize(
    ("flt", "expect"),
    [
        (v.GroupFilter(ignored=None, decision="P"), lambda g: g.pending_count > 0),
        (v.GroupFilter(ignored=None, role="test"), lambda g: g.is_test),
        (v.GroupFilter(ignored=False), lambda g: not g.ignored),
        (v.GroupFilter(ignored=None, telescopes=("LVC",)), lambda g: g.telescope == "LVC"),
        (v.GroupFilter(ignored=None, source_type="GRB"), lambda g: g.source_type == "GRB"),
    ],
)
def test_group_filters(built: Built, flt: v.GroupFilter, expect: Any) -> None:
    everything = v.GROUPS.page(built.db.sessions, v.GroupFilter(ignored=None), v.Sort("group_id"), 0, 1000)
    kept = v.GROUPS.page(built.db.sessions, flt, v.Sort("group_id"), 0, 1000)
    assert [g.group_id for g in kept] == [g.group_id for g in everything if expect(g)]
    assert kept


def test_group_rows_carry_one_decision_cell_per_deciding_proposal(built: Built) -> None:
    group = v.GROUPS.fetch_ids(built.db.sessions, v.GroupFilter(ignored=None), [built.group_ids[0]])[0]
    codes = sorted(cell.code for cell in group.decisions)
    assert codes == ["I", "P"]
    pending = next(c for c in group.decisions if c.code == "P")
    assert group.decision_for(pending.proposal_pk) == pending
    assert group.pending_count == 1


def test_needs_human_lists_pending_and_flagged_decisions(built: Built) -> None:
    rows = v.DECISIONS.page(built.db.sessions, v.DecisionFilter(needs_human=True), v.Sort("decision_id"), 0, 100)
    assert [d.decision_id for d in rows] == [built.pending_decision_id]
    assert rows[0].last_reason is not None and "pending range" in rows[0].last_reason


def test_change_feed_names_new_events_groups_and_decisions(built: Built) -> None:
    sessions = built.db.sessions
    before = v.read_watermarks(sessions)
    assert v.changes_between(sessions, before, v.read_watermarks(sessions)).empty
    new_events = ingest(built.db, [DATA_DIR / "Fermi_532614103_3.xml"], datetime(2024, 6, 1, tzinfo=UTC))
    after = v.read_watermarks(sessions)
    changes = v.changes_between(sessions, before, after)
    assert changes.event_ids == frozenset(new_events)
    assert changes.group_ids and not changes.decision_ids
    action_id = actions.record_action(sessions, operator="alice", action=actions.ARM, target="engine")
    changes = v.changes_between(sessions, after, v.read_watermarks(sessions))
    assert changes.action_ids == frozenset({action_id})


def test_operator_action_is_recorded_pending_and_executed_once(built: Built) -> None:
    sessions = built.db.sessions
    target = actions.target_for("decision", built.pending_decision_id)
    action_id = actions.record_action(
        sessions, operator=" alice ", action=actions.TRIGGER, target=target, comment="  go ", details={"x": 1}
    )
    with sessions() as session:
        row = session.get_one(OperatorActionRow, action_id)
        assert (row.operator, row.action, row.target, row.comment, row.details) == (
            "alice",
            "trigger",
            target,
            "go",
            {"x": 1},
        )
        assert row.executed_utc is None
    assert [a.action_id for a in actions.pending_actions(sessions)] == [action_id]
    now = datetime.now(UTC)
    with sessions() as session:
        assert actions.mark_action_executed(session, action_id, now)
        assert not actions.mark_action_executed(session, action_id, now + timedelta(seconds=1))
        session.commit()
    assert actions.pending_actions(sessions) == []
    assert actions.list_actions(sessions, target=target)[0].executed_utc is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operator": "alice", "action": "launch_missiles", "target": None}, "unknown operator action"),
        ({"operator": "  ", "action": "trigger", "target": "decision:1"}, "operator's name"),
    ],
)
def test_bad_operator_actions_are_refused(built: Built, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        actions.record_action(built.db.sessions, **kwargs)
    with built.db.sessions() as session:
        assert session.scalars(select(OperatorActionRow)).all() == []


def test_armed_state_follows_the_last_executed_arm_or_disarm(built: Built) -> None:
    sessions = built.db.sessions
    assert actions.armed_state(sessions) == actions.ArmedState(False, None, None, None)
    arm = actions.record_action(sessions, operator="alice", action=actions.ARM, target="engine")
    assert actions.armed_state(sessions).requested == "arm"
    assert not actions.armed_state(sessions).armed
    with sessions() as session:
        actions.mark_action_executed(session, arm, datetime.now(UTC))
        session.commit()
    state = actions.armed_state(sessions)
    assert state.armed and state.operator == "alice" and state.requested is None


def test_group_detail_has_timeline_logs_observations_and_latency(built: Built) -> None:
    detail = v.group_detail(built.db.sessions, built.group_ids[1])
    assert detail is not None
    assert [e.event_id for e in detail.events] == sorted(e.event_id for e in detail.events)
    assert len(detail.observations) == 1
    latency = next(x for x in detail.latencies if x.decision_id == built.triggered_decision_id)
    assert latency.requested_utc == detail.observations[0].requested_utc
    assert latency.decided_utc is not None and latency.received_utc is not None
    assert latency.request_delay_s == (latency.requested_utc - latency.decided_utc).total_seconds()
    raw = v.event_raw_xml(built.db.sessions, detail.events[0].event_id)
    assert raw is not None and b"VOEvent" in raw


def test_totals_and_connection_states(built: Built) -> None:
    totals = v.totals(built.db.sessions)
    assert totals.events == v.EVENTS.count(built.db.sessions, v.EventFilter())
    assert totals.pending_decisions == 1
    states = v.connection_states(built.db.sessions)
    assert [(s.connection, s.text) for s in states] == [
        ("kafka:gcn.nasa.gov", "no credentials"),
        ("vtp://127.0.0.1:8099", "iamalive"),
    ]


def _query_plan(built: Built, statement: Any) -> list[str]:
    compiled = statement.compile(built.db.engine, compile_kwargs={"literal_binds": True})
    with built.db.engine.connect() as conn:
        return [str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]


@pytest.mark.parametrize(
    ("query", "flt"),
    [*QUERIES, (v.GROUPS, v.GroupFilter()), (v.ACTIONS, v.ActionFilter())],
    ids=lambda x: type(x).__name__,
)
def test_the_default_page_is_read_in_index_order_not_sorted(built: Built, query: Any, flt: Any) -> None:
    """A page of a million-row table must not sort the table: no temporary B-tree for the ORDER BY."""
    plan = _query_plan(built, query.page_query(flt, query.default_sort, 0, 200))
    assert not [step for step in plan if "TEMP B-TREE" in step], plan


def test_a_nullable_sort_column_still_puts_nulls_last(built: Built) -> None:
    statement = v.GROUPS.page_query(v.GroupFilter(ignored=None), v.Sort("source_name", False), 0, 1000)
    assert "IS NULL" in str(statement)
    names = [
        g.source_name
        for g in v.GROUPS.page(built.db.sessions, v.GroupFilter(ignored=None), v.Sort("source_name", False), 0, 1000)
    ]
    assert None in names and names.index(None) > 0 and all(n is None for n in names[names.index(None) :])
