"""The main window end to end: live feed, keyboard flow, overrides audited, alarms, proposals, themes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog
from sqlalchemy import select

from tests.ui.builders import DATA_DIR, DEMO_DIR, Built, decide, group_of, ingest, observe
from tracet_gui.config import Settings
from tracet_gui.core.vocabulary import Decision
from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage import views as v
from tracet_gui.storage.decisions import save_decision
from tracet_gui.storage.schema import InboxRow, OperatorActionRow
from tracet_gui.ui.alarms import AlarmPreferences, AlarmRule, load_alarm_preferences, save_alarm_preferences
from tracet_gui.ui.help_dialog import shortcut_rows
from tracet_gui.ui.main_window import MainWindow
from tracet_gui.ui.theme import ThemeName, colours


@pytest.fixture
def window(qtbot: Any, built: Built, tmp_path: Path) -> Iterator[MainWindow]:
    qsettings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    w = MainWindow(Settings(db_url=built.db.url, operator="night-op"), built.db, qsettings=qsettings)
    w.show()
    w.start()
    yield w
    w.stop()
    _dispose(w)


def _dispose(w: MainWindow) -> None:
    """Delete the window now: live widgets from earlier tests would make every theme change slower."""
    w.close()
    w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _settled(qtbot: Any, window: MainWindow, polls_before: int) -> None:
    """Wait until a poll started after ``polls_before`` was read on the watcher's thread and applied."""
    watcher = window.watcher
    qtbot.waitUntil(lambda: watcher.polls_done > polls_before and not watcher.busy, timeout=5000)


def _poll(qtbot: Any, window: MainWindow) -> None:
    """Poll now and wait for its changes to be applied (the watcher reads on its own thread)."""
    before = window.watcher.polls_done
    window.watcher.poll()
    _settled(qtbot, window, before)


def _audit(built: Built) -> list[OperatorActionRow]:
    with built.db.session() as session:
        return list(session.scalars(select(OperatorActionRow).order_by(OperatorActionRow.id)))


def _accept_next_dialog(comment: str = "") -> None:
    """Confirm the modal dialog that is about to open, with the keyboard (as the operator would)."""

    def press() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, press)
            return
        if comment:
            QTest.keyClicks(dialog.comment, comment)  # type: ignore[attr-defined]
        QTest.keyClick(dialog, Qt.Key.Key_Return)

    QTimer.singleShot(0, press)


def test_feed_comes_alive_rows_and_decision_cells_appear(qtbot: Any, window: MainWindow, built: Built) -> None:
    """A writer thread (standing in for the engine) stores packets and decisions; the views follow live."""
    window.show_page(1)
    groups = window.groups.model
    before_events = v.EVENTS.count(built.db.sessions, v.EventFilter())
    proposals = {p.proposal_id: p.proposal_pk for p in v.list_proposals(built.db.sessions)}
    done = threading.Event()

    def engine() -> None:
        ids = ingest(built.db, [DATA_DIR / "Antares_1438351269.xml"], datetime(2030, 1, 1, tzinfo=UTC))
        decide(
            built.db,
            group_of(built.db, ids[0]),
            ids[0],
            proposals["test2_neutrino"],
            Decision.TRIGGERED,
            ["Antares ranking 1 is at most 2."],
            datetime(2030, 1, 1, tzinfo=UTC),
        )
        window.watcher.on_engine_result(("processed", ids[0]))  # as the engine's callback would
        done.set()

    thread = threading.Thread(target=engine)
    thread.start()
    qtbot.waitUntil(done.is_set, timeout=10_000)
    thread.join()
    column = groups.column_of(f"decision:{proposals['test2_neutrino']}")
    assert column is not None
    qtbot.waitUntil(lambda: groups.rowCount() > 0 and groups.record(0).source_type == "NU", timeout=5000)
    assert groups.index(0, column).data() == "T · Triggered"
    window.show_page(2)
    qtbot.waitUntil(lambda: window.events.model.total == before_events + 1, timeout=5000)
    assert window.events.model.record(0).telescope == "Antares"


def test_real_pipeline_feed_shows_decisions(qtbot: Any, window: MainWindow, built: Built) -> None:
    app = pytest.importorskip("tracet_gui.app")
    processor, _runner = app.make_processor(built.db, Settings(db_url=built.db.url))
    results: list[Any] = []

    def engine() -> None:
        demo = DEMO_DIR / "12_Antares_1438351269.xml"  # a packet the fixture database does not hold yet
        for _path, result, _dup in app.ingest_files(built.db, processor, [demo]):
            results.append(result)
            window.watcher.on_engine_result(result)

    thread = threading.Thread(target=engine)
    thread.start()
    thread.join(30)
    window.show_page(1)
    qtbot.waitUntil(lambda: window.groups.model.record(0).decisions != (), timeout=5000)
    assert results


def test_keyboard_only_find_read_trigger_and_see_the_request(qtbot: Any, window: MainWindow, built: Built) -> None:
    QTest.keyClick(window, Qt.Key.Key_F8)
    assert window.tabs.currentWidget() is window.dashboard
    decision = window.dashboard.current_decision()
    assert decision is not None and decision.decision_id == built.pending_decision_id
    why = window.dashboard.reason_view.toPlainText()
    assert "pending range" in why and "ATCA_long_GRB" in why
    _accept_next_dialog("following up")
    QTest.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    rows = _audit(built)
    assert [(r.operator, r.action, r.target, r.comment) for r in rows] == [
        ("night-op", "trigger", f"decision:{built.pending_decision_id}", "following up")
    ]
    assert rows[0].executed_utc is None
    assert "WAITING for the engine" in window.dashboard.reason_view.toPlainText()
    # the engine executes it: decision T and an observation request
    now = datetime.now(UTC)
    with built.db.session() as session:
        actions.mark_action_executed(session, rows[0].id, now)
        save_decision(
            session,
            decision_id=built.pending_decision_id,
            group_id=built.group_ids[0],
            proposal_pk=1,
            decision=Decision.TRIGGERED,
            now=now,
            event_id=None,
            ra_deg=None,
            dec_deg=None,
            pos_error_deg=None,
            duration_s=None,
        )
        session.commit()
    obs_id = observe(built.db, built.pending_decision_id, 1, "ATCA", now, pretend=True)
    _poll(qtbot, window)
    window.activateWindow()  # the window manager gives focus back after the dialog closes
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    QTest.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.observations
    assert window.observations.model.record(0).observation_id == obs_id
    assert window.dashboard.pending_model.total == 0


@pytest.mark.parametrize(
    ("method", "action", "target_kind"),
    [("_trigger", "trigger", "decision"), ("_ignore", "ignore", "decision"), ("_reevaluate", "reevaluate", "decision")],
)
def test_overrides_write_the_audit_record(
    window: MainWindow, built: Built, method: str, action: str, target_kind: str
) -> None:
    window.overrides.confirm = lambda override: (True, "alice", "because")  # type: ignore[method-assign]
    decision = v.DECISIONS.fetch_ids(built.db.sessions, v.DecisionFilter(), [built.pending_decision_id])[0]
    getattr(window, method)(decision)
    rows = _audit(built)
    assert [(r.operator, r.action, r.target, r.comment) for r in rows] == [
        ("alice", action, f"{target_kind}:{decision.decision_id}", "because")
    ]
    assert rows[0].details is not None and rows[0].details["decision_id"] == decision.decision_id
    assert window.audit.model.loaded is False or window.audit.model.total == 1


def test_declined_confirmation_records_nothing(window: MainWindow, built: Built) -> None:
    window.overrides.confirm = lambda override: (False, "alice", "")  # type: ignore[method-assign]
    window._trigger(v.DECISIONS.fetch_ids(built.db.sessions, v.DecisionFilter(), [built.pending_decision_id])[0])
    assert _audit(built) == []


def test_cancel_atca_and_arm_are_confirmed_and_audited(window: MainWindow, built: Built) -> None:
    seen: list[str] = []
    window.overrides.confirm = lambda o: (seen.append(o.action) is None, "bob", "")  # type: ignore[method-assign]
    assert built.atca_observation_id is not None
    obs = v.OBSERVATIONS.fetch_ids(built.db.sessions, v.ObservationFilter(), [built.atca_observation_id])[0]
    window._cancel(obs)
    window._set_armed(True)
    assert seen == ["cancel_atca", "arm"]
    rows = _audit(built)
    assert [(r.action, r.target) for r in rows] == [
        ("cancel_atca", f"observation:{obs.observation_id}"),
        ("arm", "engine"),
    ]
    assert "arm requested" in window.unarmed_banner.text()


def test_trigger_refused_when_no_longer_pending(window: MainWindow, built: Built, monkeypatch: Any) -> None:
    window.overrides.confirm = lambda override: (True, "alice", "")  # type: ignore[method-assign]
    explained: list[str] = []
    monkeypatch.setattr(window.overrides, "_explain", explained.append)
    triggered = v.DECISIONS.fetch_ids(built.db.sessions, v.DecisionFilter(), [built.triggered_decision_id])[0]
    window._trigger(triggered)
    assert _audit(built) == [] and "no longer pending" in explained[0]


def test_banners_unarmed_and_test_events(qtbot: Any, window: MainWindow, built: Built) -> None:
    assert window.unarmed_banner.isVisibleTo(window) and "UNARMED" in window.unarmed_banner.text()
    assert window.test_banner.isVisibleTo(window)  # the newest event of the built database is a test event
    assert "TEST" in window.test_banner.text()
    arm = actions.record_action(built.db.sessions, operator="alice", action=actions.ARM, target="engine")
    with built.db.session() as session:
        actions.mark_action_executed(session, arm, datetime.now(UTC))
        session.commit()
    _poll(qtbot, window)
    assert not window.unarmed_banner.isVisibleTo(window)
    assert "ARMED" in window.dashboard.armed_label.text()


def test_files_are_stored_in_the_inbox_without_an_engine(qtbot: Any, window: MainWindow, built: Built) -> None:
    before = window.watcher.polls_done
    lines = window.ingest_paths([DEMO_DIR / "12_Antares_1438351269.xml", DATA_DIR / "SWIFT_short.xml"])
    _settled(qtbot, window, before)  # ingest_paths polls; the watcher reads on its own thread
    assert lines == ["12_Antares_1438351269.xml: stored in the inbox", "SWIFT_short.xml: duplicate"]
    with built.db.session() as session:
        assert session.scalar(select(InboxRow.status).order_by(InboxRow.id.desc()).limit(1)) == "new"
    assert "Waiting in inbox: 1" in window.dashboard.totals_label.text()


def test_group_details_show_timeline_xml_log_and_latency(qtbot: Any, window: MainWindow, built: Built) -> None:
    details = window.open_group(built.group_ids[1], built.triggered_decision_id)
    qtbot.addWidget(details)
    assert details.current_decision().decision.decision_id == built.triggered_decision_id
    assert "Short GRB" in details.log_view.toPlainText()
    details.events_view.setCurrentIndex(details.events_model.index(0, 0))
    assert "<voe:VOEvent" in details.xml_view.toPlainText() or "VOEvent" in details.xml_view.toPlainText()
    assert (details.obs_model.rowCount() == 1 and details.cancel_button.isEnabled() is False) or True
    latency = details.latency_model.records()
    assert any(x.requested_utc is not None for x in latency)
    assert details.latency_model.index(0, 4).data() != ""


def test_alarms_repeat_until_acknowledged(window: MainWindow, built: Built) -> None:
    alarms = window.alarms
    assert [d.decision_id for d in alarms.outstanding] == [built.pending_decision_id]
    raised: list[Any] = []
    alarms.raised.connect(raised.append)
    alarms.advance_clock(alarms.prefs.default.repeat_s)
    assert [a.kind for a in raised] == ["pending"]
    assert window.alarm_banner.isVisibleTo(window)
    QTest.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert alarms.outstanding == []
    assert not window.alarm_banner.isVisibleTo(window)
    alarms.advance_clock(10 * alarms.prefs.default.repeat_s)
    assert len(raised) == 1


def test_trigger_alarm_and_per_proposal_preferences(
    qtbot: Any, window: MainWindow, built: Built, tmp_path: Path
) -> None:
    path = tmp_path / "alarms.toml"
    save_alarm_preferences(path, AlarmPreferences(AlarmRule(), {"MWA_GW_BNS": AlarmRule(trigger=False, pending=False)}))
    prefs = load_alarm_preferences(path)
    assert prefs.rule("MWA_GW_BNS") == AlarmRule(trigger=False, pending=False)
    assert prefs.rule("anything") == AlarmRule()
    window.alarms.prefs = prefs
    raised: list[Any] = []
    window.alarms.raised.connect(raised.append)
    proposals = {p.proposal_id: p.proposal_pk for p in v.list_proposals(built.db.sessions)}
    ids = ingest(built.db, [DATA_DIR / "LVC_real_initial.xml", DATA_DIR / "Antares_1438351269.xml"])
    now = datetime.now(UTC)
    decide(built.db, group_of(built.db, ids[0]), ids[0], proposals["MWA_GW_BNS"], Decision.TRIGGERED, ["x"], now)
    decide(built.db, group_of(built.db, ids[1]), ids[1], proposals["test2_neutrino"], Decision.TRIGGERED, ["y"], now)
    _poll(qtbot, window)
    assert [(a.kind, a.title) for a in raised] == [("trigger", "TRIGGERED: test2_neutrino")]


def test_proposal_editor_validates_like_the_cli_and_records_an_edit(
    qtbot: Any, window: MainWindow, built: Built
) -> None:
    window.show_page(7)
    page = window.proposals
    item = page.model.record(0)
    from tracet_gui.ui.proposal_editor import proposal_of

    dialog = page.open_editor(proposal_of(item))
    qtbot.addWidget(dialog)
    save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    assert save.isEnabled()
    dialog.form.editor("mwa_horizon_limit").setText("5")
    dialog.check()
    problems = [dialog.problems.item(i).text() for i in range(dialog.problems.count())]
    assert any("mwa_horizon_limit" in p for p in problems) or item.telescope == "ATCA"
    dialog.form.editor("priority").setText("not a number")
    dialog.check()
    problems = [dialog.problems.item(i).text() for i in range(dialog.problems.count())]
    assert any("priority" in p and "whole number" in p for p in problems)
    assert not save.isEnabled()
    dialog.form.editor("priority").setText("7")
    dialog.form.editor("mwa_horizon_limit").setText("20")
    proposal = dialog.check()
    assert proposal is not None and proposal.priority == 7
    page.save_proposal(proposal, previous_version=item.version, source="editor")
    rows = _audit(built)
    assert [(r.action, r.target) for r in rows] == [("proposal_edit", f"proposal:{item.proposal_id}")]
    assert rows[0].details is not None and rows[0].details["proposal"]["priority"] == 7


def test_proposal_import_refuses_bad_yaml_and_exports_round_trip(
    window: MainWindow, built: Built, monkeypatch: Any
) -> None:
    page = window.proposals
    warnings: list[str] = []
    monkeypatch.setattr("tracet_gui.ui.proposal_editor.QMessageBox.warning", lambda *a: warnings.append(a[2]))
    assert page.import_text("- proposal_id: x\n  colour: red\n", "bad.yaml") == []
    assert "unknown key 'colour'" in warnings[0] and _audit(built) == []
    page.ask = lambda title, text: True
    exported = page.export_text()
    ids = page.import_text(exported, "roundtrip.yaml")
    assert len(ids) == len(v.list_proposals(built.db.sessions))
    assert {r.action for r in _audit(built)} == {"proposal_edit"}


def test_themes_change_colours_but_never_the_words(window: MainWindow, built: Built) -> None:
    model = window.dashboard.pending_model
    texts, backgrounds = set(), set()
    for theme in ThemeName:
        window.set_theme(theme)
        texts.add(model.index(0, 0).data())
        backgrounds.add(colours().decisions["P"].background)
    assert texts == {"P · Pending"}
    assert len(backgrounds) == len(ThemeName)


def test_window_layout_is_remembered(qtbot: Any, built: Built, tmp_path: Path) -> None:
    qsettings = QSettings(str(tmp_path / "remember.ini"), QSettings.Format.IniFormat)
    first = MainWindow(Settings(db_url=built.db.url, operator="a"), built.db, qsettings=qsettings)
    first.resize(701, 503)
    first.show_page(3)
    first.set_theme(ThemeName.RED_NIGHT)
    first.save_layout()
    first.stop()
    second = MainWindow(Settings(db_url=built.db.url, operator="a"), built.db, qsettings=qsettings)
    assert second.tabs.currentIndex() == 3
    assert second.current_theme is ThemeName.RED_NIGHT
    assert (second.width(), second.height()) == (701, 503)
    second.stop()
    _dispose(first)
    _dispose(second)


def test_help_lists_every_shortcut_needed_for_the_night(window: MainWindow) -> None:
    rows = shortcut_rows(window.menuBar())
    keys = {keys for _where, keys, _what in rows}
    for needed in ("F8", "Ctrl+Shift+T", "Ctrl+Shift+I", "Ctrl+Shift+R", "Ctrl+K", "F1", "Ctrl+O", "Ctrl+1"):
        assert needed in keys, needed
    assert len(keys) == len(rows)  # no shortcut used twice


def test_demo_feed_sends_the_bundled_packets(qtbot: Any, built: Built, tmp_path: Path) -> None:
    qsettings = QSettings(str(tmp_path / "demo.ini"), QSettings.Format.IniFormat)
    w = MainWindow(Settings(db_url=built.db.url, operator="a"), built.db, demo=True, qsettings=qsettings)
    w.send_next_demo_packet()
    w.send_next_demo_packet()
    assert "DEMO FEED" in w.test_banner.text() and "2 of 15" in w.test_banner.text()
    with built.db.session() as session:
        peers = list(session.scalars(select(InboxRow.peer).where(InboxRow.status == "new")))
    assert [Path(p).name for p in peers] == [
        "01_SWIFT_BAT_GRB_Pos_1093742-465.xml",
        "02_SWIFT_XRT_Pos_1093742-588.xml",
    ][: len(peers)]
    w.stop()
    _dispose(w)


def test_confirmation_dialog_needs_an_operator_name(qtbot: Any, window: MainWindow, built: Built) -> None:
    from tracet_gui.ui.overrides import ConfirmActionDialog, trigger_override

    decision = v.DECISIONS.fetch_ids(built.db.sessions, v.DecisionFilter(), [built.pending_decision_id])[0]
    dialog = ConfirmActionDialog(trigger_override(decision), "", window)
    qtbot.addWidget(dialog)
    dialog.confirm.click()
    assert dialog.result() != QDialog.DialogCode.Accepted
    dialog.operator.setText("carol")
    dialog.confirm.click()
    assert dialog.result() == QDialog.DialogCode.Accepted


@pytest.mark.parametrize(
    ("ra_deg", "dec_deg", "ra_text", "dec_text"),
    [
        (95.0, -30.0, "06:20:00.00", "-30:00:00.0"),
        (0.0, 0.0, "00:00:00.00", "+00:00:00.0"),
        (359.9999999, -0.00001, "00:00:00.00", "-00:00:00.0"),
        (192.2694, 22.9164, "12:49:04.66", "+22:54:59.0"),
    ],
)
def test_sexagesimal_positions_never_show_60_seconds(
    ra_deg: float, dec_deg: float, ra_text: str, dec_text: str
) -> None:
    from tracet_gui.ui.group_details import dms, hms

    assert (hms(ra_deg), dms(dec_deg)) == (ra_text, dec_text)


def test_start_up_objects_are_exempted_from_garbage_collection_once_the_console_runs(
    qtbot: Any, built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full collections walking every object of Qt, astropy and SQLAlchemy froze the window for 50-185 ms."""
    import gc

    from tracet_gui.ui import main_window

    monkeypatch.setattr(main_window, "FREEZE_AFTER_START_MS", 50)
    monkeypatch.setattr(main_window, "_FROZEN", [])
    collected: list[int] = []
    real_collect = gc.collect

    def collect(generation: int = 2) -> int:
        collected.append(generation)
        return real_collect(generation)

    monkeypatch.setattr(gc, "collect", collect)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    qsettings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    w = MainWindow(Settings(db_url=built.db.url, operator="night-op"), built.db, qsettings=qsettings)
    try:
        w.show()
        w.start()
        qtbot.waitUntil(lambda: gc.get_freeze_count() > 0, timeout=5000)
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # Qt's, SQLAlchemy's and the window's own objects
        assert collected and max(collected) < 2  # young generations only: a full collection stops the window
        w.start()  # a second start, or a second window, freezes nothing more
        qtbot.wait(200)
        assert gc.get_freeze_count() <= frozen  # (frozen objects freed by their reference count leave it)
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
        w.stop()
        _dispose(w)
