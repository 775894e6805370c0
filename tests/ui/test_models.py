"""Table models: Qt's model tester, lazy paging, live upserts that keep selection, sort and scroll."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from sqlalchemy import insert

from tests.ui.builders import DATA_DIR, Built, decide, group_of, ingest
from tracet_gui.core.vocabulary import Decision
from tracet_gui.storage import views as v
from tracet_gui.storage.schema import EventRow, InboxRow
from tracet_gui.ui import columns as cols
from tracet_gui.ui.dashboard import HEALTH_COLUMNS, ConnectionView
from tracet_gui.ui.proposal_editor import PROPOSAL_COLUMNS
from tracet_gui.ui.table_models import PAGE_SIZE, RECORD_ROLE, LazyListModel, SearchProxyModel, StaticListModel
from tracet_gui.ui.table_page import TablePage


def _models(built: Built) -> list[tuple[str, LazyListModel[Any, Any]]]:
    s = built.db.sessions
    proposals = v.list_proposals(s, active_only=True)
    return [
        ("events", LazyListModel(s, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())),
        ("groups", LazyListModel(s, v.GROUPS, cols.group_columns(proposals), v.GroupFilter(ignored=None))),
        ("decisions", LazyListModel(s, v.DECISIONS, cols.DECISION_COLUMNS, v.DecisionFilter())),
        ("observations", LazyListModel(s, v.OBSERVATIONS, cols.OBSERVATION_COLUMNS, v.ObservationFilter())),
        ("broker", LazyListModel(s, v.BROKER_LOG, cols.BROKER_COLUMNS, v.BrokerLogFilter())),
        ("audit", LazyListModel(s, v.ACTIONS, cols.ACTION_COLUMNS, v.ActionFilter())),
    ]


def test_every_lazy_model_passes_the_qt_model_tester(qtmodeltester: Any, built: Built) -> None:
    from tracet_gui.storage.operator_actions import record_action

    record_action(built.db.sessions, operator="alice", action="arm", target="engine")
    for name, model in _models(built):
        model.reload()
        assert model.rowCount() > 0, name
        qtmodeltester.check(model, force_py=True)
        proxy = SearchProxyModel()
        proxy.setSourceModel(model)
        proxy.set_search("a")
        qtmodeltester.check(proxy, force_py=True)


def test_static_models_pass_the_qt_model_tester(qtmodeltester: Any, built: Built) -> None:
    proposals = v.list_proposals(built.db.sessions)
    qtmodeltester.check(StaticListModel(PROPOSAL_COLUMNS, proposals, id_attr="proposal_pk"), force_py=True)
    health = [ConnectionView("vtp://x", "connected", "ok", datetime.now(UTC))]
    qtmodeltester.check(StaticListModel(HEALTH_COLUMNS, health), force_py=True)


def test_decision_cells_say_the_decision_in_words_and_colour(built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.DECISIONS, cols.DECISION_COLUMNS, v.DecisionFilter())
    model.reload()
    texts = {model.index(r, 0).data() for r in range(model.rowCount())}
    assert texts == {"P · Pending", "I · Ignored", "T · Triggered"}
    brushes = {model.index(r, 0).data(8).color().name() for r in range(model.rowCount())}  # BackgroundRole
    assert len(brushes) == 3


def _bulk_events(built: Built, n: int) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with built.db.session() as session:
        session.execute(
            insert(InboxRow),
            [
                {
                    "received_utc": now,
                    "channel": "file",
                    "sha256": f"{i:064d}",
                    "size_bytes": 1,
                    "raw": b"x",
                    "status": "processed",
                    "duplicate_count": 0,
                }
                for i in range(n)
            ],
        )
        first = session.query(InboxRow.id).filter(InboxRow.sha256 == f"{0:064d}").scalar()
        session.execute(
            insert(EventRow),
            [
                {
                    "inbox_id": first + i,
                    "ivorn": f"ivo://bulk#{i}",
                    "role": "observation",
                    "telescope": "SWIFT",
                    "event_type": "BAT_GRB_Pos",
                    "stream": "SWIFT_BAT_GRB_Pos",
                    "trig_id": f"bulk{i}",
                    "self_generated_trig_id": False,
                    "ignored": False,
                    "received_utc": now + timedelta(seconds=i),
                    "extra": {},
                }
                for i in range(n)
            ],
        )
        session.commit()


def test_large_tables_load_one_page_at_a_time(built: Built) -> None:
    _bulk_events(built, 3 * PAGE_SIZE + 17)
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    model.reload()
    total = model.total
    assert total > 3 * PAGE_SIZE
    assert model.rowCount() == PAGE_SIZE
    pages = 1
    while model.canFetchMore():
        model.fetchMore()
        pages += 1
    assert model.rowCount() == total
    assert pages == -(-total // PAGE_SIZE)
    ids = [model.record(r).event_id for r in range(model.rowCount())]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == total


def test_new_rows_appear_in_place_keeping_selection_and_sort(qtbot: Any, built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    page = TablePage("events", model)
    qtbot.addWidget(page)
    page.activate_page()
    selected = model.record(3).event_id
    assert page.select_id(selected)
    sort_before = model.sort_order
    marks = v.read_watermarks(built.db.sessions)
    new = ingest(
        built.db,
        [DATA_DIR / "Fermi_532614103_3.xml", DATA_DIR / "IceCube_134191_017593623_1.xml"],
        datetime(2031, 1, 1, tzinfo=UTC),
    )
    changes = v.changes_between(built.db.sessions, marks, v.read_watermarks(built.db.sessions))
    with qtbot.assertNotEmitted(model.modelReset):
        model.apply_changes(changes.event_ids)
    assert [model.record(0).event_id, model.record(1).event_id] == sorted(new, reverse=True)
    assert page.current_record().event_id == selected
    assert model.sort_order == sort_before
    assert model.total == v.EVENTS.count(built.db.sessions, v.EventFilter())


def test_changed_rows_move_to_their_new_place_without_a_reset(qtbot: Any, built: Built) -> None:
    model = LazyListModel(
        built.db.sessions,
        v.GROUPS,
        cols.group_columns(v.list_proposals(built.db.sessions)),
        v.GroupFilter(ignored=None),
    )
    page = TablePage("groups", model)
    qtbot.addWidget(page)
    page.activate_page()
    oldest = model.record(model.rowCount() - 1)
    page.select_id(oldest.group_id)
    # a new event joins the oldest group: it becomes the most recently active one
    marks = v.read_watermarks(built.db.sessions)
    path = DATA_DIR / "SWIFT_XRT_Pos_1093742-588.xml"
    first_group = next(r for r in model.records() if r.trig_id == "1093742")
    assert first_group is not None
    ingest(built.db, [DATA_DIR / "Fermi_532614103_3.xml"], datetime(2032, 1, 1, tzinfo=UTC))
    changes = v.changes_between(built.db.sessions, marks, v.read_watermarks(built.db.sessions))
    with qtbot.assertNotEmitted(model.modelReset):
        model.apply_changes(changes.group_ids)
    assert model.record(0).trig_id == "532614103"
    assert model.record(0).event_count == 3
    assert page.current_record().group_id == oldest.group_id
    assert path.exists()


def test_decision_cells_update_live_and_filtered_rows_leave(qtbot: Any, built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.DECISIONS, cols.DECISION_COLUMNS, v.DecisionFilter(needs_human=True))
    model.reload()
    assert model.rowCount() == 1
    marks = v.read_watermarks(built.db.sessions)
    event_ids = ingest(built.db, [DATA_DIR / "Antares_1438351269.xml"], datetime(2033, 1, 1, tzinfo=UTC))
    group_id = group_of(built.db, event_ids[0])
    pk = v.list_proposals(built.db.sessions)[0].proposal_pk
    new = decide(built.db, group_id, event_ids[0], pk, Decision.PENDING, ["why"], datetime(2033, 1, 1, tzinfo=UTC))
    with built.db.session() as session:
        from tracet_gui.storage.decisions import save_decision

        save_decision(
            session,
            decision_id=built.pending_decision_id,
            group_id=built.group_ids[0],
            proposal_pk=1,
            decision=Decision.TRIGGERED,
            now=datetime(2033, 1, 2, tzinfo=UTC),
            event_id=None,
            ra_deg=None,
            dec_deg=None,
            pos_error_deg=None,
            duration_s=None,
        )
        session.commit()
    changes = v.changes_between(built.db.sessions, marks, v.read_watermarks(built.db.sessions))
    assert built.pending_decision_id in changes.decision_ids or new in changes.decision_ids
    model.apply_changes(changes.decision_ids | {built.pending_decision_id})
    assert [model.record(r).decision_id for r in range(model.rowCount())] == [new]
    assert model.total == 1


def test_sorting_goes_to_the_database_and_keeps_the_selection(qtbot: Any, built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    page = TablePage("events", model)
    qtbot.addWidget(page)
    page.activate_page()
    chosen = model.record(2).event_id
    page.select_id(chosen)
    column = model.column_of("received_utc")
    assert column is not None
    page.view.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    records = model.records()
    assert [r.received_utc for r in records] == sorted(r.received_utc for r in records)
    assert model.sort_order == v.Sort("received_utc", descending=False)
    assert page.current_record().event_id == chosen


def test_quick_search_narrows_at_once_then_queries_the_database(qtbot: Any, built: Built) -> None:
    model = LazyListModel(
        built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter(), search_text=cols.event_search_text
    )
    page = TablePage("events", model)
    qtbot.addWidget(page)
    page.activate_page()
    page.search.setText("532614103")
    assert page.proxy.rowCount() == 2
    qtbot.waitUntil(lambda: model.filter.search == "532614103", timeout=3000)
    assert model.total == 2
    assert all("532614103" in r.trig_id for r in model.records())


def test_structured_filter_panel_applies_to_the_database(qtbot: Any, built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    page = TablePage("events", model)
    qtbot.addWidget(page)
    page.activate_page()
    panel = page.filter_panel
    panel.findChild(object, "filter_telescopes_Fermi").setChecked(True)
    panel.findChild(object, "filter_received_from_utc").setText("not a date")
    panel.apply()
    assert "received_from_utc" in panel.error.text()
    panel.findChild(object, "filter_received_from_utc").setText("2024-05-01 12:00")
    panel.apply()
    assert panel.error.text() == ""
    assert model.filter.telescopes == ("Fermi",)
    assert {r.telescope for r in model.records()} == {"Fermi"}
    assert page.filters_button.text() == "Filters (2)…"
    index = page.proxy.index(0, 0)
    assert index.data(RECORD_ROLE).telescope == "Fermi"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the PySide6 6.12 + 3.11 leak this guards against")
def test_canary_qtimer_stop_does_not_leak_none(qapp: Any) -> None:
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(1000):
        timer.stop()
    assert sys.getrefcount(None) - before < 50


def test_scroll_position_stays_on_the_same_rows_when_new_ones_arrive_above(qtbot: Any, built: Built) -> None:
    _bulk_events(built, PAGE_SIZE)
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    page = TablePage("events", model)
    qtbot.addWidget(page)
    page.resize(900, 400)
    page.show()
    page.activate_page()
    bar = page.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 40, timeout=3000)
    bar.setValue(40)
    assert bar.value() == 40
    top_before = page.view.indexAt(page.view.viewport().rect().topLeft()).data(RECORD_ROLE).event_id
    marks = v.read_watermarks(built.db.sessions)
    ingest(
        built.db,
        [DATA_DIR / "Fermi_532614103_3.xml", DATA_DIR / "IceCube_134191_017593623_1.xml"],
        datetime(2040, 1, 1, tzinfo=UTC),
    )
    model.apply_changes(v.changes_between(built.db.sessions, marks, v.read_watermarks(built.db.sessions)).event_ids)
    assert model.record(0).received_utc.year == 2040
    assert bar.value() == 42
    top_after = page.view.indexAt(page.view.viewport().rect().topLeft()).data(RECORD_ROLE).event_id
    assert top_after == top_before


def test_a_hidden_page_notes_changes_and_applies_them_when_shown(qtbot: Any, built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    page = TablePage("events", model)
    qtbot.addWidget(page)
    page.show()
    page.activate_page()
    page.hide()
    assert model.deferred
    before = [model.record(r).event_id for r in range(model.rowCount())]
    marks = v.read_watermarks(built.db.sessions)
    new = ingest(built.db, [DATA_DIR / "Fermi_532614103_3.xml"], datetime(2031, 1, 1, tzinfo=UTC))
    changes = v.changes_between(built.db.sessions, marks, v.read_watermarks(built.db.sessions))
    model.apply_changes(changes.event_ids)
    assert [model.record(r).event_id for r in range(model.rowCount())] == before  # nothing read while hidden
    page.show()
    assert not model.deferred
    assert model.record(0).event_id == new[0]
    assert model.total == v.EVENTS.count(built.db.sessions, v.EventFilter())


def test_multi_data_through_the_proxy_gives_what_data_gives_for_each_role(built: Built) -> None:
    from PySide6.QtCore import QModelRoleData, QModelRoleDataSpan

    model = LazyListModel(built.db.sessions, v.DECISIONS, cols.DECISION_COLUMNS, v.DecisionFilter())
    model.reload()
    proxy = SearchProxyModel()
    proxy.setSourceModel(model)
    roles = [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.BackgroundRole]
    roles += [Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole, RECORD_ROLE]
    filled = 0
    for row in range(proxy.rowCount()):
        for column in range(proxy.columnCount()):
            index = proxy.index(row, column)
            for role in roles:
                role_data = QModelRoleData(int(role))
                proxy.multiData(index, QModelRoleDataSpan(role_data))
                assert role_data.data() == proxy.data(index, role), (row, column, role)
                filled += role_data.data() is not None
    assert filled > proxy.rowCount() * proxy.columnCount()


def test_a_hidden_dashboard_keeps_its_pending_list_live_and_defers_the_others(qtbot: Any, built: Built) -> None:
    from tracet_gui.ui.dashboard import Dashboard

    dashboard = Dashboard(built.db.sessions)
    qtbot.addWidget(dashboard)
    dashboard.show()
    dashboard.load()
    dashboard.hide()
    assert dashboard.events_model.deferred and dashboard.obs_model.deferred
    assert not dashboard.pending_model.deferred  # the alarms and the "needs a human" title follow it
    dashboard.show()
    assert not dashboard.events_model.deferred and not dashboard.obs_model.deferred


def test_cell_roles_follow_the_record_decision_colours_bold_pending_muted_ignored(built: Built) -> None:
    """Each painted role as the rules say: decision cells coloured by their swatch (bold while pending), every
    other cell of an ignored group in the muted colour, numbers right-aligned, a tooltip naming the column."""
    from tracet_gui.ui.theme import colours

    palette = colours()
    columns = cols.group_columns(v.list_proposals(built.db.sessions, active_only=True))
    everything = v.GroupFilter(ignored=None)
    model = LazyListModel(built.db.sessions, v.GROUPS, columns, everything, muted=lambda g: g.ignored)
    model.reload()
    assert model.rowCount() > 1
    seen_muted = seen_decision = False
    for row in range(model.rowCount()):
        record = model.record(row)
        for column, spec in enumerate(model.columns):
            index = model.index(row, column)
            value = spec.value(record)
            foreground = index.data(Qt.ItemDataRole.ForegroundRole)
            background = index.data(Qt.ItemDataRole.BackgroundRole)
            font = index.data(Qt.ItemDataRole.FontRole)
            align = index.data(Qt.ItemDataRole.TextAlignmentRole)
            assert bool(align & int(Qt.AlignmentFlag.AlignRight)) == spec.numeric
            text = index.data()
            assert index.data(Qt.ItemDataRole.ToolTipRole) == (f"{spec.title}: {text}" if text else None)
            swatch = palette.decisions.get(str(value or "")) if spec.decision else None
            if swatch is not None:
                seen_decision = True
                assert background.color().name() == QColor(swatch.background).name()
                assert foreground.color().name() == QColor(swatch.foreground).name()
                assert (font is not None and font.bold()) == (value == "P")
            elif record.ignored and not spec.decision:
                seen_muted = True
                assert foreground.color().name() == QColor(palette.muted).name()
                assert background is None and font is None
            else:
                assert foreground is None and background is None and font is None
    assert seen_muted, "the test data holds an ignored group"
    assert seen_decision, "the test data holds decided groups"
