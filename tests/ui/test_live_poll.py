"""Watcher polls read on the watcher's thread; the GUI thread only applies frozen results (issue 8)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QModelRoleData, Qt
from sqlalchemy import event, update

from tests.ui.builders import DATA_DIR, Built, decide, group_of, ingest
from tracet_gui.core.vocabulary import Decision
from tracet_gui.storage import views as v
from tracet_gui.storage.schema import ProposalDecisionRow
from tracet_gui.ui import columns as cols
from tracet_gui.ui.main_window import MainWindow
from tracet_gui.ui.table_models import (
    PAINT_IDLE,
    PAINT_ROLES,
    RECORD_ROLE,
    LazyListModel,
    LiveTableView,
    SearchProxyModel,
)
from tracet_gui.ui.watcher import DatabaseWatcher

LATER = datetime(2031, 1, 1, tzinfo=UTC)


class QueryThreads:
    """The thread of every SQL statement the database's engine executes while recording."""

    def __init__(self, built: Built) -> None:
        self.threads: list[threading.Thread] = []
        self.recording = False
        event.listen(built.db.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        if self.recording:
            self.threads.append(threading.current_thread())

    @property
    def on_gui_thread(self) -> int:
        return sum(1 for t in self.threads if t is threading.main_thread())


def _poll(qtbot: Any, watcher: DatabaseWatcher) -> None:
    before = watcher.polls_done
    watcher.poll()
    qtbot.waitUntil(lambda: watcher.polls_done > before and not watcher.busy, timeout=5000)


def test_a_poll_issues_no_sql_on_the_gui_thread(qtbot: Any, window: MainWindow, built: Built) -> None:
    window.show_page(3)  # the decisions list shows the selected decision's log
    assert window.decisions.select_id(built.pending_decision_id)
    window.show_page(1)  # the groups list on screen, as during a burst; the dashboard's pending list stays live
    window.decision_log.setPlainText("")
    proposals = {p.proposal_id: p.proposal_pk for p in v.list_proposals(built.db.sessions)}
    new_events = ingest(built.db, [DATA_DIR / "Antares_1438351269.xml"], LATER)
    group_id = group_of(built.db, new_events[0])
    decision_id = decide(built.db, group_id, new_events[0], proposals["test2_neutrino"], Decision.PENDING, ["x"], LATER)
    queries = QueryThreads(built)
    queries.recording = True
    _poll(qtbot, window.watcher)
    queries.recording = False
    assert queries.threads, "the poll read nothing"
    assert queries.on_gui_thread == 0, f"{queries.on_gui_thread} of {len(queries.threads)} queries on the GUI thread"
    # and what was read is shown
    assert window.groups.model.record(0).group_id == group_id
    assert window.dashboard.pending_model.row_of(decision_id) is not None
    assert window.dashboard.pending_model.total == 2
    qtbot.waitUntil(lambda: "Needs a human: 2" in window.dashboard.pending_title.text())
    assert "ATCA_long_GRB" in window.decision_log.toPlainText()  # the selected decision's log, read again
    assert f"Events: <b>{v.totals(built.db.sessions).events}</b>" in window.dashboard.totals_label.text()


def test_polls_asked_for_while_one_is_in_flight_make_one_more(qtbot: Any, built: Built) -> None:
    watcher = DatabaseWatcher(built.db.sessions)
    reads: list[str] = []

    class Job:
        def run(self, sessions: v.Sessions, changes: v.ChangeSet) -> None:
            reads.append("read")

    watcher.set_job(Job)
    for _ in range(5):  # the first starts; four more are asked for before its result is back
        watcher.poll()
    qtbot.waitUntil(lambda: not watcher.busy, timeout=5000)
    assert watcher.polls_done == 2
    assert reads == ["read", "read"]
    watcher.stop()


def test_a_result_read_under_an_old_sort_is_dropped_and_its_ids_read_again(qtbot: Any, built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    model.reload()
    request = model.live_request()
    assert request is not None and request.fetch and not request.carried
    marks = v.read_watermarks(built.db.sessions)
    new = ingest(built.db, [DATA_DIR / "Fermi_532614103_3.xml"], LATER)
    changes = v.changes_between(built.db.sessions, marks, v.read_watermarks(built.db.sessions))
    result = request.run(built.db.sessions, changes.event_ids)  # read by the watcher's thread...
    model.set_sort(v.Sort("event_id", descending=False))  # ...while the operator sorts the list the other way
    rows_before = model.records()
    with qtbot.assertNotEmitted(model.rowsInserted), qtbot.assertNotEmitted(model.dataChanged):
        assert model.apply_live(result) is False
    assert model.records() == rows_before
    again = model.live_request()
    assert again is not None and again.carried == frozenset(new)
    later = model.live_request()
    assert later is not None and later.carried == frozenset()  # carried once
    assert model.apply_live(again.run(built.db.sessions, ())) is True
    ids = [r.event_id for r in model.records()]
    assert ids == sorted(ids) and set(new) <= set(ids)


def test_a_deferred_list_only_notes_the_ids_and_reads_them_when_shown(built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    model.reload()
    model.set_deferred(True)
    request = model.live_request()
    assert request is not None and not request.fetch
    new = ingest(built.db, [DATA_DIR / "Fermi_532614103_3.xml"], LATER)
    result = request.run(built.db.sessions, new)
    assert result is not None and result.found is None  # nothing read for a hidden list
    assert model.apply_live(result) is True
    assert model.row_of(new[0]) is None
    model.set_deferred(False)
    assert model.row_of(new[0]) == 0


def test_a_painted_cell_follows_its_record_when_it_changes(built: Built) -> None:
    model = LazyListModel(built.db.sessions, v.DECISIONS, cols.DECISION_COLUMNS, v.DecisionFilter())
    model.reload()
    row = model.row_of(built.pending_decision_id)
    assert row is not None
    column = next(i for i, c in enumerate(model.columns) if c.decision)
    index = model.index(row, column)
    assert "Pending" in index.data()  # painted once: the cell's values are kept
    bold = index.data(Qt.ItemDataRole.FontRole)
    assert bold is not None and bold.bold()
    with built.db.session() as session:  # the engine decides to ignore it
        session.execute(
            update(ProposalDecisionRow)
            .where(ProposalDecisionRow.id == built.pending_decision_id)
            .values(decision=Decision.IGNORED.value, updated_utc=LATER)
        )
        session.commit()
    model.apply_changes({built.pending_decision_id})
    index = model.index(model.row_of(built.pending_decision_id) or 0, column)
    assert "Pending" not in index.data() and index.data() != ""
    assert index.data(Qt.ItemDataRole.FontRole) is None


def test_a_painted_cell_through_the_proxy_is_the_source_cell_with_and_without_a_search(built: Built) -> None:
    model = LazyListModel(
        built.db.sessions,
        v.DECISIONS,
        cols.DECISION_COLUMNS,
        v.DecisionFilter(),
        search_text=cols.decision_search_text,
    )
    model.reload()
    proxy = SearchProxyModel()
    proxy.setSourceModel(model)
    roles = [*PAINT_ROLES, RECORD_ROLE]

    def painted(index: QModelIndex) -> list[Any]:
        span = [QModelRoleData(role) for role in roles]
        proxy.multiData(index, span)  # what a delegate asks for when it paints a cell
        return [d.data() for d in span]

    def source_cells() -> list[list[Any]]:
        return [[model.index(r, c).data(role) for role in roles] for r in range(model.rowCount()) for c in range(3)]

    def proxy_cells() -> list[list[Any]]:
        return [painted(proxy.index(r, c)) for r in range(proxy.rowCount()) for c in range(3)]

    assert model.rowCount() > 1
    assert proxy_cells() == source_cells()
    pending = model.record(model.row_of(built.pending_decision_id) or 0)
    proxy.set_search(pending.proposal_id)  # fewer rows: proxy rows are no longer source rows
    assert 0 < proxy.rowCount() < model.rowCount()
    shown = [painted(proxy.index(r, 0))[-1] for r in range(proxy.rowCount())]
    assert pending in shown and all(d.proposal_id == pending.proposal_id for d in shown)
    proxy.set_search("")
    assert proxy_cells() == source_cells()


def test_a_live_table_holds_the_watchers_reads_back_while_it_paints(
    qtbot: Any, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = LazyListModel(built.db.sessions, v.EVENTS, cols.EVENT_COLUMNS, v.EventFilter())
    model.reload()
    view = LiveTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(800, 400)
    view.show()
    qtbot.waitExposed(view)
    seen: list[bool] = []
    paint_cell = LazyListModel.paint_cell

    def spy(self: LazyListModel[Any, Any], row: int, column: int, span: Any) -> None:
        seen.append(PAINT_IDLE.is_set())
        paint_cell(self, row, column, span)

    monkeypatch.setattr(LazyListModel, "paint_cell", spy)
    view.grab()  # paints the table now
    assert seen and not any(seen)  # every cell was painted with the worker held back
    assert PAINT_IDLE.is_set()  # and let go after
