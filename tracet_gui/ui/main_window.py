"""The operator console's main window and ``run_gui``, the entry point ``tracet-gui run`` calls.

The window only observes: it reads the database through short read-only sessions (``storage.views``),
is woken by the engine's results (relayed to the GUI thread by ``DatabaseWatcher``) and records operator
actions as ``operator_action`` rows the engine executes. A modal dialog here never delays a trigger.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.config import Settings, user_config_dir
from tracet_gui.core.resources import resources_dir
from tracet_gui.core.runtime import freeze_long_lived_objects
from tracet_gui.core.vocabulary import Channel
from tracet_gui.ingest.engine_process import EngineProcess
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage.database import Database
from tracet_gui.storage.feed_status import STALE_AFTER_S, read_feed_status
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.operator_actions import armed_state
from tracet_gui.storage.views import (
    ACTIONS,
    BROKER_LOG,
    DECISIONS,
    EVENTS,
    GROUPS,
    OBSERVATIONS,
    ActionFilter,
    BrokerLogFilter,
    ChangeSet,
    DecisionDetail,
    DecisionFilter,
    DecisionItem,
    EventFilter,
    GroupFilter,
    GroupItem,
    ObservationFilter,
    ObservationItem,
    connection_states,
    decision_detail,
    list_proposals,
)
from tracet_gui.ui import columns as cols
from tracet_gui.ui.alarms import Alarm, AlarmController, load_alarm_preferences, tray_icon
from tracet_gui.ui.dashboard import ConnectionView, Dashboard, connection_view
from tracet_gui.ui.export_dialog import ExportDialog  # sky map + reports (issue 7)
from tracet_gui.ui.group_details import GroupDetailsWindow, format_log
from tracet_gui.ui.help_dialog import HelpDialog
from tracet_gui.ui.live_poll import LiveFetch, LivePollJob, Overview, read_overview
from tracet_gui.ui.overrides import OverrideController
from tracet_gui.ui.proposal_editor import ProposalsPage
from tracet_gui.ui.skymap_view import SkyMapPage  # sky map + reports (issue 7)
from tracet_gui.ui.table_models import LazyListModel
from tracet_gui.ui.table_page import TablePage
from tracet_gui.ui.theme import THEME_LABELS, ThemeName, apply_theme, colours, decision_text, swatch_css
from tracet_gui.ui.watcher import DatabaseWatcher, PollResult

log = logging.getLogger(__name__)

SETTINGS_ORG = "tracet-gui"
SETTINGS_APP = "console"

DEMO_INTERVAL_MS = 3000
"""Time between two bundled packets of the demo feed (ms): the feed visibly comes alive in under a minute."""

HEALTH_INTERVAL_MS = 2000
"""How often the feed-health card asks the engine (ms)."""

FREEZE_AFTER_START_MS = 5000
"""Objects alive this long after start are exempted from garbage collection (``freeze_long_lived_objects``)."""


_FROZEN: list[bool] = []


def _freeze_once() -> None:
    """``freeze_long_lived_objects`` once per process (the first console window to have run for a while)."""
    if not _FROZEN:
        _FROZEN.append(True)
        freeze_long_lived_objects(full_collection=False)  # no full collection: it would stop the window


class EngineLike(Protocol):
    """What the window needs from the ingest engine (``tracet_gui.ingest.engine.Engine``)."""

    def start(self) -> None: ...
    def stop(self) -> object: ...
    def health(self) -> Sequence[Any]: ...
    def submit_file(self, path: Path) -> Any: ...


def demo_packets() -> list[Path]:
    """The bundled packets the demo feed sends, in order."""
    return sorted((resources_dir() / "demo").glob("*.xml"))


class MainWindow(QMainWindow):
    """Dashboard + list views + details windows + overrides + alarms."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        engine: EngineLike | None = None,
        *,
        demo: bool = False,
        qsettings: QSettings | None = None,
        viewer_note: str = "",
    ) -> None:
        super().__init__()
        self.viewer_note = viewer_note
        """Why this console has no engine of its own (shown in the status bar), e.g. another engine runs."""
        self.settings = settings
        self.database = database
        self.sessions = database.sessions
        self.engine = engine
        self.demo = demo
        self.qsettings = qsettings or QSettings(SETTINGS_ORG, SETTINGS_APP)
        self.setWindowTitle("tracet-gui — transient alert console")
        self.setAcceptDrops(True)
        icon_path = resources_dir() / "icons" / "tracet-gui.svg"
        if icon_path.is_file():
            self.setWindowIcon(QIcon(str(icon_path)))
        self.overrides = OverrideController(self.sessions, settings.operator, self)
        self.details: dict[int, GroupDetailsWindow] = {}
        self._demo_queue: list[Path] = demo_packets() if demo else []
        self._demo_sent = 0

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(4)
        self.unarmed_banner = self._banner("unarmedBanner")
        self.test_banner = self._banner("testBanner")
        self.alarm_banner = self._banner("alarmBanner")
        for banner in (self.unarmed_banner, self.test_banner, self.alarm_banner):
            layout.addWidget(banner)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        # pages
        self.dashboard = Dashboard(self.sessions)
        self.groups = TablePage(
            "groups",
            LazyListModel(
                self.sessions,
                GROUPS,
                cols.group_columns(list_proposals(self.sessions, active_only=True)),
                GroupFilter(),
                search_text=cols.group_search_text,
                muted=lambda g: g.ignored,
            ),
        )
        self.events = TablePage(
            "events",
            LazyListModel(
                self.sessions,
                EVENTS,
                cols.EVENT_COLUMNS,
                EventFilter(),
                search_text=cols.event_search_text,
                muted=lambda e: e.ignored,
            ),
        )
        self.decisions = TablePage(
            "decisions",
            LazyListModel(
                self.sessions,
                DECISIONS,
                cols.DECISION_COLUMNS,
                DecisionFilter(),
                search_text=cols.decision_search_text,
            ),
        )
        self.decision_log = QPlainTextEdit()
        self.decision_log.setObjectName("decisionsReason")
        self.decision_log.setReadOnly(True)
        self.decision_log.setPlaceholderText("The reason log of the selected decision appears here.")
        self.decisions_split = QSplitter(Qt.Orientation.Vertical)
        self.decisions_split.addWidget(self.decisions)
        self.decisions_split.addWidget(self.decision_log)
        self.decisions_split.setSizes([500, 200])
        self.observations = TablePage(
            "observations",
            LazyListModel(
                self.sessions,
                OBSERVATIONS,
                cols.OBSERVATION_COLUMNS,
                ObservationFilter(),
                search_text=cols.observation_search_text,
            ),
        )
        self.broker = TablePage(
            "broker",
            LazyListModel(
                self.sessions, BROKER_LOG, cols.BROKER_COLUMNS, BrokerLogFilter(), search_text=cols.broker_search_text
            ),
        )
        self.audit = TablePage(
            "audit",
            LazyListModel(
                self.sessions, ACTIONS, cols.ACTION_COLUMNS, ActionFilter(), search_text=cols.action_search_text
            ),
        )
        self.proposals = ProposalsPage(self.sessions, lambda: self.overrides.operator)
        self.skymap = SkyMapPage(self.sessions)  # sky map + reports (issue 7)
        self.pages: list[tuple[str, QWidget]] = [
            ("&Dashboard", self.dashboard),
            ("&Groups", self.groups),
            ("&Events", self.events),
            ("De&cisions", self.decisions_split),
            ("&Observations", self.observations),
            ("&Broker log", self.broker),
            ("&Audit", self.audit),
            ("&Proposals", self.proposals),
            ("S&ky map", self.skymap),  # sky map + reports (issue 7)
        ]
        for title, page in self.pages:
            self.tabs.addTab(page, title.replace("&", ""))
        self.table_pages = [self.groups, self.events, self.decisions, self.observations, self.broker, self.audit]

        # signals
        self.tabs.currentChanged.connect(self._page_shown)
        self.dashboard.open_group.connect(self.open_group)
        self.dashboard.trigger_requested.connect(self._trigger)
        self.dashboard.ignore_requested.connect(self._ignore)
        self.dashboard.reevaluate_requested.connect(self._reevaluate)
        self.dashboard.arm_requested.connect(self._set_armed)
        self.groups.record_activated.connect(lambda g: self.open_group(g.group_id))
        self.events.record_activated.connect(lambda e: e.group_id is not None and self.open_group(e.group_id))
        self.decisions.record_activated.connect(lambda d: self.open_group(d.group_id, d.decision_id))
        self.decisions.selection_changed.connect(self._show_decision_log)
        self.observations.record_activated.connect(
            lambda o: o.group_id is not None and self.open_group(o.group_id, o.decision_id or 0)
        )
        # --- sky map + reports (issue 7): a table selection highlights the group on the map, a click on a
        # marker selects the group in the groups table
        for table in (self.groups, self.events, self.decisions, self.observations):
            table.selection_changed.connect(self._show_on_sky_map)
        self.skymap.group_selected.connect(self.select_group_everywhere)
        # --- end sky map

        self.watcher = DatabaseWatcher(self.sessions, self)
        self.watcher.listen(database)  # PostgreSQL: commits announce themselves, no once-a-second poll
        self.watcher.set_job(self._poll_job)  # a poll reads every live list's changes on the watcher's thread
        self.watcher.polled.connect(self._apply_polled)
        self.watcher.failed.connect(lambda m: self.statusBar().showMessage(m, 10_000))
        self.tray = tray_icon(self.windowIcon(), self)
        self.alarms = AlarmController(
            self.sessions, load_alarm_preferences(user_config_dir() / "alarms.toml"), self.tray, self
        )
        self.alarms.raised.connect(self._alarm_raised)
        self.alarms.outstanding_changed.connect(self._update_alarm_banner)

        self._build_menus()
        self.status_engine = QLabel()
        self.status_engine.setToolTip(f"database: {database.url}")
        self.statusBar().addPermanentWidget(self.status_engine)
        operator_label = QLabel(f"operator: {settings.operator}")
        operator_label.setToolTip(f"database: {database.url}")
        self.statusBar().addPermanentWidget(operator_label)

        self._health_timer = QTimer(self)
        self._health_timer.setInterval(HEALTH_INTERVAL_MS)
        self._health_timer.timeout.connect(self.refresh_health)
        self._demo_timer = QTimer(self)
        self._demo_timer.setInterval(DEMO_INTERVAL_MS)
        self._demo_timer.timeout.connect(self.send_next_demo_packet)

        self.restore_layout()
        self.dashboard.load()
        self.refresh_overview()
        self._page_shown(self.tabs.currentIndex())

    # ---- construction helpers --------------------------------------------------------------------------
    def _banner(self, name: str) -> QLabel:
        label = QLabel()
        label.setObjectName("banner")
        label.setAccessibleName(name)
        label.setProperty("role", name)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setVisible(False)
        return label

    def _action(
        self, menu: Any, text: str, slot: Callable[[], Any], keys: str | Sequence[str] = (), tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if isinstance(keys, str):
            keys = [keys] if keys else []
        if keys:
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open VOEvent files…", self.open_files, "Ctrl+O", "Ingest VOEvent XML files")
        inject = file_menu.addMenu("&Inject bundled test event")
        for path in demo_packets():
            self._action(inject, path.stem, functools.partial(self.ingest_paths, [path]))
        file_menu.addSeparator()
        self._action(file_menu, "E&xport proposals…", self.proposals.export_yaml)
        self._action(file_menu, "Export observation &report…", self.export_report, "Ctrl+Shift+E")  # issue 7
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q")

        view = bar.addMenu("&View")
        for i, (title, _page) in enumerate(self.pages):
            self._action(view, title, functools.partial(self.show_page, i), f"Ctrl+{i + 1}")
        view.addSeparator()
        self._action(view, "Quick &search", self.focus_search, "Ctrl+F")
        self._action(view, "&Filters", self.toggle_filters, "Ctrl+Shift+F")
        self._action(view, "&Refresh", self.refresh_all, "F5")
        themes = view.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[ThemeName, QAction] = {}
        for name, keys in ((ThemeName.SYSTEM, ""), (ThemeName.DARK, ""), (ThemeName.RED_NIGHT, "Ctrl+Shift+N")):
            action = self._action(themes, THEME_LABELS[name], functools.partial(self.set_theme, name), keys)
            action.setCheckable(True)
            group.addAction(action)
            self.theme_actions[name] = action

        decision = bar.addMenu("&Decision")
        self._action(decision, "&Next decision that needs a human", self.next_pending, "F8")
        self._action(decision, "Open &group details", self.open_current_group, "Ctrl+D")
        decision.addSeparator()
        self._action(decision, "&Trigger observation…", lambda: self._trigger(self.current_decision()), "Ctrl+Shift+T")
        self._action(decision, "&Ignore event…", lambda: self._ignore(self.current_decision()), "Ctrl+Shift+I")
        self._action(decision, "&Re-evaluate…", lambda: self._reevaluate(self.current_decision()), "Ctrl+Shift+R")
        self._action(decision, "&Cancel ATCA observation…", self._cancel_current, "Ctrl+Shift+X")
        decision.addSeparator()
        self._action(decision, "&Acknowledge alarms", self.acknowledge_alarms, "Ctrl+K")
        self.mute_action = self._action(decision, "&Mute alarm sound", self._toggle_mute, "Ctrl+Shift+M")
        self.mute_action.setCheckable(True)

        ops = bar.addMenu("O&perations")
        self._action(ops, "&Arm / disarm…", lambda: self._set_armed(None), "Ctrl+Shift+A")
        self.demo_action = self._action(ops, "&Demo feed running", self.toggle_demo, "Ctrl+Shift+D")
        self.demo_action.setCheckable(True)
        self.demo_action.setChecked(self.demo)
        self._action(ops, "&New proposal…", self.proposals.new, "Ctrl+N")
        self._action(ops, "&Import proposals…", self.proposals.import_yaml)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_help, "F1")
        self._action(help_menu, "&About", self.show_about)

    # ---- life cycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching (and the demo feed, alarms, health polling)."""
        self.watcher.start()
        self.alarms.start()
        self._update_alarm_banner(len(self.alarms.outstanding))
        self._health_timer.start()
        self.refresh_health()
        if self.demo:
            self._demo_timer.start()
            QTimer.singleShot(500, self.send_next_demo_packet)
        # Once the pages have loaded: full garbage collections walking Qt's, astropy's and SQLAlchemy's objects
        # froze the window for 50-185 ms during a burst (see freeze_long_lived_objects).
        QTimer.singleShot(FREEZE_AFTER_START_MS, self, _freeze_once)

    def stop(self) -> None:
        for timer in (self._health_timer, self._demo_timer):
            timer.stop()
        self.watcher.stop()
        self.alarms.stop()
        self.skymap.shutdown()  # sky map + reports (issue 7)
        for window in list(self.details.values()):
            window.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self.save_layout()
        self.stop()
        super().closeEvent(event)

    def save_layout(self) -> None:
        s = self.qsettings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/tab", self.tabs.currentIndex())
        s.setValue("window/theme", self.current_theme.value)
        s.setValue("window/decisions_split", self.decisions_split.saveState())
        s.setValue("window/dashboard_split", self.dashboard.splitter.saveState())
        for page in self.table_pages:
            page.save_state(s)
        s.sync()

    def restore_layout(self) -> None:
        s = self.qsettings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        else:
            self.resize(1400, 880)
        state = s.value("window/state")
        if isinstance(state, QByteArray | bytes) and state:
            self.restoreState(QByteArray(state))
        for key, splitter in (("decisions_split", self.decisions_split), ("dashboard_split", self.dashboard.splitter)):
            value = s.value(f"window/{key}")
            if isinstance(value, QByteArray | bytes) and value:
                splitter.restoreState(QByteArray(value))
        for page in self.table_pages:
            page.restore_state(s)
        try:
            theme = ThemeName(str(s.value("window/theme", ThemeName.DARK.value)))
        except ValueError:
            theme = ThemeName.DARK
        self.set_theme(theme)
        try:
            tab = int(str(s.value("window/tab", 0)))
        except ValueError:
            tab = 0
        self.tabs.setCurrentIndex(tab if 0 <= tab < self.tabs.count() else 0)

    # ---- theme ------------------------------------------------------------------------------------------
    @property
    def current_theme(self) -> ThemeName:
        for name, action in self.theme_actions.items():
            if action.isChecked():
                return name
        return ThemeName.SYSTEM

    def set_theme(self, name: ThemeName) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)
        self.theme_actions[name].setChecked(True)
        self.refresh_overview()
        self.dashboard.refresh_styles()
        for page in self.table_pages:
            page.view.viewport().update()

    # ---- navigation -------------------------------------------------------------------------------------
    def show_page(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        page = self.tabs.currentWidget()
        if page is self.dashboard:
            self.dashboard.pending_view.setFocus()
        elif isinstance(page, TablePage):
            page.view.setFocus()
        elif page is self.decisions_split:
            self.decisions.view.setFocus()
        elif page is self.proposals:
            self.proposals.view.setFocus()

    def _page_shown(self, index: int) -> None:
        page = self.tabs.widget(index)
        if page is self.decisions_split:
            page = self.decisions
        if isinstance(page, TablePage):
            page.activate_page()
            if page.view.currentIndex().isValid() is False and page.proxy.rowCount() > 0:
                page.view.setCurrentIndex(page.proxy.index(0, 0))
        elif page is self.proposals:
            self.proposals.refresh()

    def current_table(self) -> TablePage | None:
        page = self.tabs.currentWidget()
        if page is self.decisions_split:
            return self.decisions
        return page if isinstance(page, TablePage) else None

    def focus_search(self) -> None:
        table = self.current_table()
        if table is None:
            self.show_page(1)
            table = self.groups
        table.search.setFocus()
        table.search.selectAll()

    def toggle_filters(self) -> None:
        table = self.current_table()
        if table is not None:
            table.toggle_filters()

    def next_pending(self) -> None:
        self.show_page(0)
        if not self.dashboard.focus_next_pending():
            self.statusBar().showMessage("No decision needs a human right now.", 5000)

    def current_decision(self) -> DecisionItem | None:
        """The decision the operator is looking at: dashboard, decisions list, or a group's only pending one."""
        page = self.tabs.currentWidget()
        if page is self.dashboard:
            return self.dashboard.current_decision()
        if page is self.decisions_split:
            record = self.decisions.current_record()
            return record if isinstance(record, DecisionItem) else None
        if page is self.groups:
            group = self.groups.current_record()
            if isinstance(group, GroupItem):
                pending = [c for c in group.decisions if c.code == "P"]
                if len(pending) == 1:
                    found = DECISIONS.fetch_ids(self.sessions, DecisionFilter(), [pending[0].decision_id])
                    return found[0] if found else None
        return None

    def open_current_group(self) -> None:
        table = self.current_table()
        record = table.current_record() if table else self.dashboard.current_decision()
        group_id = getattr(record, "group_id", None)
        if group_id is not None:
            self.open_group(group_id, getattr(record, "decision_id", 0) or 0)

    def open_group(self, group_id: int, decision_id: int = 0) -> GroupDetailsWindow:
        window = self.details.get(group_id)
        if window is None:
            window = GroupDetailsWindow(self.sessions, group_id, self)
            window.trigger_requested.connect(lambda d: self._trigger(d.decision if d else None))
            window.ignore_requested.connect(lambda d: self._ignore(d.decision if d else None))
            window.reevaluate_requested.connect(lambda d: self._reevaluate(d.decision if d else None))
            window.cancel_requested.connect(self._cancel)
            window.finished.connect(lambda _r, g=group_id: self.details.pop(g, None))
            self.details[group_id] = window
        else:
            window.refresh()
        if decision_id:
            window.select_decision(decision_id)
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    # ---- sky map + reports (issue 7) --------------------------------------------------------------------
    def _show_on_sky_map(self, record: Any) -> None:
        group_id = getattr(record, "group_id", None)
        if isinstance(group_id, int):
            self.skymap.select_group(group_id)

    def select_group_everywhere(self, group_id: int) -> None:
        """A marker was clicked: select the group in the groups table (and so on the map)."""
        self.groups.model.ensure_loaded()
        if not self.groups.select_id(group_id):
            self.statusBar().showMessage(f"Group {group_id} is not in the groups list (check its filters).", 5000)

    def export_report(self) -> ExportDialog:
        dialog = ExportDialog(self.database, self)
        dialog.open()
        return dialog

    # ---- overrides --------------------------------------------------------------------------------------
    def _after_action(self, action_id: int | None = None, what: str = "") -> None:
        if action_id is not None:
            self.statusBar().showMessage(f"Recorded {what} (action {action_id}); the engine executes it.", 10_000)
            # the operator sees their action at once (a few reads, once per action); the lists follow the poll
            self.dashboard.refresh_reason()
            self._show_decision_log(self.decisions.current_record())
        self.watcher.poll()
        self.refresh_overview()

    def _trigger(self, decision: DecisionItem | None) -> None:
        action_id = self.overrides.trigger(decision)
        if action_id is not None and decision is not None:
            self.alarms.acknowledge(decision.decision_id)
        self._after_action(action_id, "trigger")

    def _ignore(self, decision: DecisionItem | None) -> None:
        action_id = self.overrides.ignore(decision)
        if action_id is not None and decision is not None:
            self.alarms.acknowledge(decision.decision_id)
        self._after_action(action_id, "ignore")

    def _reevaluate(self, decision: DecisionItem | None) -> None:
        self._after_action(self.overrides.reevaluate(decision), "re-evaluation")

    def _cancel(self, observation: ObservationItem | None) -> None:
        self._after_action(self.overrides.cancel_atca(observation), "ATCA cancel")

    def _cancel_current(self) -> None:
        record = self.observations.current_record() if self.tabs.currentWidget() is self.observations else None
        self._cancel(record if isinstance(record, ObservationItem) else None)

    def _set_armed(self, arm: bool | None) -> None:
        if arm is None:
            arm = not armed_state(self.sessions).armed
        self._after_action(self.overrides.set_armed(arm), "arm" if arm else "disarm")

    # ---- alarms -----------------------------------------------------------------------------------------
    def acknowledge_alarms(self) -> None:
        n = self.alarms.acknowledge()
        self.statusBar().showMessage(f"Acknowledged {n} alarm(s).", 5000)

    def _toggle_mute(self) -> None:
        self.alarms.muted = self.mute_action.isChecked()

    def _alarm_raised(self, alarm: Alarm) -> None:
        self.statusBar().showMessage(f"{alarm.title} — {alarm.text}", 15_000)

    def _update_alarm_banner(self, outstanding: int) -> None:
        if outstanding:
            self.alarm_banner.setText(
                f"{outstanding} decision(s) need a human — F8 goes to the next one, Ctrl+K acknowledges the alarm"
            )
            self.alarm_banner.setStyleSheet(swatch_css(colours().decisions["P"]))
        self.alarm_banner.setVisible(outstanding > 0)

    # ---- data -------------------------------------------------------------------------------------------
    def _live_lists(self) -> list[tuple[LazyListModel[Any, Any], str]]:
        """Every list kept current by the watcher, with the ``ChangeSet`` field holding its ids."""
        return [
            (self.groups.model, "group_ids"),
            (self.events.model, "event_ids"),
            (self.decisions.model, "decision_ids"),
            (self.observations.model, "observation_ids"),
            (self.broker.model, "broker_log_ids"),
            (self.audit.model, "action_ids"),
            (self.dashboard.pending_model, "decision_ids"),
            (self.dashboard.events_model, "event_ids"),
            (self.dashboard.obs_model, "observation_ids"),
        ]

    def _poll_job(self) -> LivePollJob:
        """What the next poll reads (a snapshot of the lists' queries and the selected decisions; GUI thread)."""
        selected = (self.decisions.current_record(), self.dashboard.current_decision())
        return LivePollJob(
            tuple((model.live_request(), field) for model, field in self._live_lists()),
            frozenset(d.decision_id for d in selected if isinstance(d, DecisionItem)),
        )

    def apply_changes(self, changes: ChangeSet) -> None:
        """Read and apply ``changes`` here and now (the watcher reads on its own thread: ``_apply_polled``)."""
        self._apply_polled(PollResult(changes, self._poll_job().run(self.sessions, changes)))

    def _apply_polled(self, result: PollResult) -> None:
        """Apply what a poll read; no query here but for rare changes (proposals, open details windows)."""
        changes, fetched = result.changes, result.fetched
        if not isinstance(fetched, LiveFetch):
            return
        if changes.proposals_changed:
            self.groups.model.set_columns(cols.group_columns(list_proposals(self.sessions, active_only=True)))
            self.proposals.refresh()
        stale = False
        self.dashboard.prefetched_details = fetched.details
        try:
            for (model, _field), live in zip(self._live_lists(), fetched.lists, strict=True):
                stale = not model.apply_live(live) or stale
            self.dashboard.select_first_pending()
            self.skymap.apply_changes(changes.group_ids | changes.observation_ids)  # sky map (issue 7)
            self.alarms.decisions_fetched(fetched.decisions)
            for group_id, window in list(self.details.items()):
                if group_id in changes.group_ids or changes.action_ids:
                    window.refresh()
            if changes.decision_ids or changes.action_ids:
                self._show_decision_log(self.decisions.current_record(), fetched.details)
            if changes.action_ids:
                self.dashboard.refresh_reason()
        finally:
            self.dashboard.prefetched_details = {}
        self._show_overview(fetched.overview)
        if stale:  # a list's filter or sort changed while the poll read: its ids are read again
            self.watcher.request_poll()

    def refresh_all(self) -> None:
        for page in self.table_pages:
            if page.model.loaded:
                page.model.reload()
        self.dashboard.pending_model.reload()
        self.dashboard.events_model.reload()
        self.dashboard.obs_model.reload()
        self.proposals.refresh()
        self.refresh_overview()

    def refresh_overview(self) -> None:
        """Banners, armed state and totals (a few cheap queries)."""
        if not hasattr(self, "dashboard"):
            return
        self._show_overview(read_overview(self.sessions))

    def _show_overview(self, overview: Overview) -> None:
        state = overview.armed
        self.dashboard.set_armed(state)
        self.dashboard.set_totals(overview.totals)
        c = colours()
        if not state.armed:
            waiting = f" ({state.requested} requested, waiting for the engine)" if state.requested else ""
            self.unarmed_banner.setText(
                "UNARMED — no real observation request will be sent; requests are pretend or recorded only."
                f"{waiting}  Operations ▸ Arm (Ctrl+Shift+A)"
            )
            self.unarmed_banner.setStyleSheet(swatch_css(c.unarmed))
        self.unarmed_banner.setVisible(not state.armed)
        notes = []
        if self.demo:
            notes.append(f"DEMO FEED: bundled test packets ({self._demo_sent} of {len(demo_packets())} sent)")
        event = overview.latest_event
        if event is not None and event.is_test:
            notes.append(f"latest event #{event.event_id} is a TEST event ({event.stream})")
        observation = overview.latest_observation
        if observation is not None and observation.pretend:
            notes.append(f"latest observation request #{observation.observation_id} was PRETEND (nothing observed)")
        self.test_banner.setText("TEST / PRETEND — " + "; ".join(notes) if notes else "")
        self.test_banner.setStyleSheet(swatch_css(c.test))
        self.test_banner.setVisible(bool(notes))
        self._update_alarm_banner(len(self.alarms.outstanding) if hasattr(self, "alarms") else 0)

    def refresh_health(self) -> None:
        connections: list[ConnectionView] = []
        if self.engine is not None and hasattr(self.engine, "exited"):  # the engine is our child process
            connections = self._published_health()
            ended = getattr(self.engine, "exited", None)
            if ended is None:
                self.status_engine.setText(f"engine: child process {getattr(self.engine, 'pid', '?')}")
                self.status_engine.setToolTip(f"tracet-gui headless on {self.database.url}")
            else:
                last = ended.stderr_tail.strip().splitlines()[-1:] or ["no message"]
                self.status_engine.setText(f"ENGINE STOPPED (exit {ended.status}): {last[0][:120]}")
                self.status_engine.setToolTip(ended.stderr_tail or "the engine wrote nothing on standard error")
        elif self.engine is not None:
            try:
                connections = [connection_view(h) for h in self.engine.health()]
                self.status_engine.setText("engine running")
            except Exception as exc:  # a broken engine must not break the window
                self.status_engine.setText(f"engine: health unavailable ({type(exc).__name__})")
        else:
            updates = "live via LISTEN/NOTIFY" if self.watcher.listening else "polling the database every second"
            self.status_engine.setText(f"viewer: {updates}")
            self.status_engine.setToolTip(
                f"{self.viewer_note or 'no engine in this console'}. Operator actions are recorded in the "
                f"database and executed by the engine.\ndatabase: {self.database.url}"
            )
        if self.engine is None:
            connections = self._published_health()
        if not connections:
            connections = [connection_view(c) for c in connection_states(self.sessions)]
        self.dashboard.set_health(connections)

    def _published_health(self) -> list[ConnectionView]:
        """A viewer's feed health: what the engine published, and whether it is still publishing."""
        try:
            published = read_feed_status(self.sessions)
        except Exception as exc:  # the database may be briefly unavailable
            return [ConnectionView("engine", "unknown", f"feed health unreadable: {type(exc).__name__}", None)]
        if not published:
            return [
                ConnectionView("engine", "unknown", "no engine has published its feed health on this database", None),
                *(connection_view(c) for c in connection_states(self.sessions)),
            ]
        newest = max(f.updated_utc for f in published if f.updated_utc is not None)
        age_s = (datetime.now(UTC) - newest).total_seconds()
        rows = [connection_view(f) for f in published]
        if any(f.state == "stopped" for f in published):
            head = ConnectionView("engine", "stopped", f"{published[0].engine} stopped", newest)
        elif age_s > STALE_AFTER_S:
            head = ConnectionView(
                "engine", "silent", f"{published[0].engine}: no report for {age_s:.0f} s (its last word below)", newest
            )
        else:
            head = ConnectionView("engine", "running", published[0].engine, newest)
        return [head, *rows]

    def _show_decision_log(self, record: Any, read: dict[int, DecisionDetail | None] | None = None) -> None:
        """The selected decision's log (``read``: logs a poll read already, by decision id)."""
        if not isinstance(record, DecisionItem):
            self.decision_log.setPlainText("")
            return
        if read is not None and record.decision_id in read:
            detail = read[record.decision_id]
        else:
            detail = decision_detail(self.sessions, record.decision_id)
        if detail is None:
            return
        self.decision_log.setPlainText(
            f"{record.proposal_id} on {record.trig_id}: {decision_text(detail.decision.decision)}\n\n"
            + format_log(detail)
        )

    # ---- testing tools ----------------------------------------------------------------------------------
    def ingest_paths(self, paths: Sequence[Path]) -> list[str]:
        """Hand files to the engine (or store them in the inbox for it); returns one line per file."""
        lines: list[str] = []
        for path in paths:
            try:
                if self.engine is not None:
                    self.engine.submit_file(path)
                    lines.append(f"{path.name}: submitted")
                else:
                    raw = path.read_bytes()
                    stored = store_raw_packet(self.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw), peer=str(path))
                    lines.append(f"{path.name}: {'duplicate' if stored.duplicate else 'stored in the inbox'}")
            except Exception as exc:  # report, never crash the console
                lines.append(f"{path.name}: FAILED: {exc}")
        if lines:
            self.statusBar().showMessage("; ".join(lines), 10_000)
        self.watcher.poll()
        return lines

    def open_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Open VOEvent files", "", "VOEvent XML (*.xml);;All files (*)")
        if names:
            self.ingest_paths([Path(n) for n in names])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        files = [p for p in paths if p.is_file()]
        for p in paths:
            if p.is_dir():
                files.extend(sorted(x for x in p.iterdir() if x.suffix.lower() == ".xml"))
        if files:
            self.ingest_paths(files)
            event.acceptProposedAction()

    def send_next_demo_packet(self) -> None:
        if not self._demo_queue:
            self._demo_timer.stop()
            self.refresh_overview()
            return
        path = self._demo_queue.pop(0)
        publish = getattr(self.engine, "publish_demo", None)
        if callable(publish):
            publish(path.read_bytes())  # through the embedded broker, like a real alert
            self.watcher.poll()
        else:
            self.ingest_paths([path])
        self._demo_sent += 1
        self.refresh_overview()

    def toggle_demo(self) -> None:
        self.demo = self.demo_action.isChecked()
        if self.demo:
            if not self._demo_queue:
                self._demo_queue = demo_packets()
                self._demo_sent = 0
            self._demo_timer.start()
        else:
            self._demo_timer.stop()
        self.refresh_overview()

    # ---- help -------------------------------------------------------------------------------------------
    def show_help(self) -> None:
        HelpDialog(self.menuBar(), self).exec()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About tracet-gui",
            "tracet-gui — receives VOEvent alerts, groups them, runs the observing proposals and triggers "
            "MWA and ATCA.\nF1 lists every keyboard shortcut.",
        )


def make_engine(settings: Settings, database: Database, on_result: Callable[[Any], None]) -> EngineLike | None:
    """The ingest engine if it is installed (``tracet_gui.ingest.engine``), started; else None."""
    try:
        from tracet_gui.ingest.engine import Engine  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("ingest engine not available: the console only watches the database")
        return None
    engine: EngineLike = Engine(settings, database, on_result=on_result)
    engine.start()
    return engine


class EngineLockLike(Protocol):
    """The held one-engine lock (``tracet_gui.storage.coordination.EngineLock``)."""

    def release(self) -> None: ...


def take_engine_role(database: Database) -> tuple[EngineLockLike | None, str]:
    """Take the one-engine lock for a console that would run its own engine.

    Returns the held lock and ``""``, or ``None`` and why this console must be a viewer (another engine
    — a ``headless`` server or another console — already ingests and decides for this database).
    """
    lock = database.engine_lock()
    if lock.try_acquire():
        return lock, ""
    holder = lock.holder()
    return None, f"another engine runs against this database ({holder})" if holder else "another engine runs"


def run_gui(settings: Settings, *, demo: bool, viewer: bool = False, config_path: Path | None = None) -> int:
    """Open the console on ``settings`` (demo: send the bundled packets through the feed); exit status.

    ``viewer``: never run an engine (a shared deployment's console). Without it the console starts the engine
    as a child process (``tracet-gui headless`` on the same database and config: it never competes with the
    window for Python's interpreter lock, and stops with the console) unless another engine already holds the
    database, in which case the console opens as a viewer and says so.
    """
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("tracet-gui")
    app.setOrganizationName(SETTINGS_ORG)
    database = Database.open(settings.db_url)
    note = "opened as a viewer (--viewer)" if viewer else ""
    engine: EngineProcess | None = None
    if not viewer:
        lock, note = take_engine_role(database)
        if lock is not None:
            lock.release()  # the child takes it; if another engine wins meanwhile, the child says so and exits
            print("  starting the engine (tracet-gui headless, a child process)…", flush=True)
            engine = EngineProcess(settings, database, config_path)
            engine.start()
            if not engine.wait_ready():
                ended = engine.stop()
                why = ended.stderr_tail.strip().splitlines()[-1:] if ended else []
                note = f"the engine did not start: {why[0] if why else 'no message'}"
                engine = None
        if engine is None:
            print(f"  {note}: this console opens as a viewer", flush=True)
            demo = False
    try:
        window = MainWindow(settings, database, engine, demo=demo, viewer_note=note)
        window.show()
        window.start()
        return int(app.exec())
    finally:
        if engine is not None:
            engine.stop()
        database.close()
