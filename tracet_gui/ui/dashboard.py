"""The dashboard: feed health, armed state, decisions that need a human (with why), latest events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.storage.operator_actions import ArmedState
from tracet_gui.storage.views import (
    DECISIONS,
    EVENTS,
    OBSERVATIONS,
    DecisionDetail,
    DecisionFilter,
    DecisionItem,
    EventFilter,
    ObservationFilter,
    Sessions,
    Totals,
    decision_detail,
)
from tracet_gui.ui.columns import event_search_text
from tracet_gui.ui.group_details import format_log
from tracet_gui.ui.table_models import (
    RECORD_ROLE,
    Column,
    LazyListModel,
    LiveTableView,
    StaticListModel,
    col,
    fmt_time,
    small_table,
)
from tracet_gui.ui.theme import colours, decision_text, swatch_css


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """One feed connection as the dashboard shows it (from the engine's health or the broker log)."""

    name: str
    state: str
    detail: str
    since_utc: datetime | None
    last_packet_utc: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self.state.lower() in {"connected", "running", "listening", "ok", "up", "subscribed", "alive"}


def connection_view(health: Any) -> ConnectionView:
    """Adapt an engine ConnectionHealth (or a broker-log ConnectionState) record by its field names."""

    def first(*names: str) -> Any:
        for name in names:
            value = getattr(health, name, None)
            if value is not None:
                return value
        return None

    state = first("state", "status") or "unknown"
    return ConnectionView(
        name=str(first("name", "connection", "url", "remote") or "connection"),
        state=str(getattr(state, "value", state)),
        detail=str(first("detail", "message", "text", "error") or ""),
        since_utc=first("since_utc", "changed_utc", "at_utc", "last_change_utc"),
        last_packet_utc=first("last_packet_utc", "last_message_utc", "last_received_utc"),
    )


HEALTH_COLUMNS: list[Column[Any]] = [
    col("Connection", "name"),
    Column("State", "", lambda c: c.state.upper() if not c.healthy else c.state),
    Column("Since (UTC)", "", lambda c: fmt_time(c.since_utc)),
    Column("Last packet (UTC)", "", lambda c: fmt_time(c.last_packet_utc)),
    col("Detail", "detail"),
]

PENDING_COLUMNS: list[Column[Any]] = [
    col("Decision", "decision", decision=True, width=110),
    Column("Why", "", lambda d: "FLAGGED" if d.needs_attention and d.decision != "P" else "pending"),
    col("Proposal", "proposal_id"),
    col("Trig ID", "trig_id"),
    col("Telescope", "telescope"),
    col("Since (UTC)", "updated_utc"),
    Column("Latest reason", "", lambda d: (d.last_reason or "").splitlines()[0] if d.last_reason else ""),
]

RECENT_EVENT_COLUMNS: list[Column[Any]] = [
    col("Received (UTC)", "received_utc"),
    col("Stream", "stream"),
    col("Trig ID", "trig_id"),
    col("Role", "role"),
    Column("Ignored", "ignored", lambda e: "ignored" if e.ignored else ""),
]

RECENT_OBS_COLUMNS: list[Column[Any]] = [
    col("Requested (UTC)", "requested_utc"),
    col("Telescope", "telescope"),
    Column("Pretend", "pretend", lambda o: "PRETEND" if o.pretend else "real"),
    Column("Result", "ok", lambda o: o.state),
    col("Proposal", "proposal_id"),
    col("Trig ID", "trig_id"),
]


def _card(title: str, body: QWidget) -> QFrame:
    frame = QFrame()
    frame.setObjectName("card")
    v = QVBoxLayout(frame)
    v.setContentsMargins(8, 6, 8, 8)
    label = QLabel(title)
    label.setObjectName("cardTitle")
    v.addWidget(label)
    v.addWidget(body, 1)
    return frame


class Dashboard(QWidget):
    """What the operator looks at all night."""

    open_group = Signal(int, int)
    """(group id, decision id or 0)."""
    trigger_requested = Signal(object)
    ignore_requested = Signal(object)
    reevaluate_requested = Signal(object)
    arm_requested = Signal(bool)

    def __init__(self, sessions: Sessions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self._armed: ArmedState | None = None
        self.prefetched_details: dict[int, DecisionDetail | None] = {}
        """Decision logs a watcher poll read off the GUI thread, by decision id (set while its changes apply)."""
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        top = QHBoxLayout()
        self.health_model: StaticListModel[ConnectionView] = StaticListModel(HEALTH_COLUMNS, muted=lambda c: False)
        self.health_view = small_table(self.health_model)
        self.health_view.setObjectName("health_table")
        self.health_view.setMaximumHeight(150)
        top.addWidget(_card("Feed health", self.health_view), 3)

        armed_box = QWidget()
        a = QVBoxLayout(armed_box)
        a.setContentsMargins(0, 0, 0, 0)
        self.armed_label = QLabel()
        self.armed_label.setObjectName("armedState")
        self.armed_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.armed_label.setWordWrap(True)
        a.addWidget(self.armed_label, 1)
        self.arm_button = QPushButton("Arm… (Ctrl+Shift+A)")
        self.arm_button.clicked.connect(lambda: self.arm_requested.emit(not (self._armed and self._armed.armed)))
        a.addWidget(self.arm_button)
        top.addWidget(_card("Telescope requests", armed_box), 1)

        self.totals_label = QLabel()
        self.totals_label.setObjectName("totals")
        self.totals_label.setTextFormat(Qt.TextFormat.RichText)
        top.addWidget(_card("Totals", self.totals_label), 1)
        outer.addLayout(top)

        split = QSplitter(Qt.Orientation.Vertical)
        pending_box = QWidget()
        p = QHBoxLayout(pending_box)
        p.setContentsMargins(0, 0, 0, 0)
        self.pending_model: LazyListModel[DecisionFilter, DecisionItem] = LazyListModel(
            sessions, DECISIONS, PENDING_COLUMNS, DecisionFilter(needs_human=True)
        )
        self.pending_view = LiveTableView()
        self.pending_view.setObjectName("pending_table")
        self.pending_view.setSortingEnabled(False)
        self.pending_view.setModel(self.pending_model)
        self.pending_view.setSelectionMode(LiveTableView.SelectionMode.SingleSelection)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.pending_title = QLabel()
        self.pending_title.setObjectName("pendingTitle")
        lv.addWidget(self.pending_title)
        lv.addWidget(self.pending_view, 1)
        p.addWidget(left, 3)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        why = QLabel("Why (reason log of the selected decision):")
        why.setObjectName("cardTitle")
        rv.addWidget(why)
        self.reason_view = QPlainTextEdit()
        self.reason_view.setObjectName("pendingReason")
        self.reason_view.setReadOnly(True)
        self.reason_view.setFont(mono)
        self.reason_view.setPlaceholderText("Select a decision on the left (arrow keys) to read why it is pending.")
        rv.addWidget(self.reason_view, 1)
        buttons = QGridLayout()
        self.trigger_button = QPushButton("&Trigger… (Ctrl+Shift+T)")
        self.ignore_button = QPushButton("I&gnore… (Ctrl+Shift+I)")
        self.reevaluate_button = QPushButton("Re-e&valuate… (Ctrl+Shift+R)")
        self.open_button = QPushButton("&Open group (Enter)")
        buttons.addWidget(self.trigger_button, 0, 0)
        buttons.addWidget(self.ignore_button, 0, 1)
        buttons.addWidget(self.reevaluate_button, 1, 0)
        buttons.addWidget(self.open_button, 1, 1)
        rv.addLayout(buttons)
        p.addWidget(right, 2)
        split.addWidget(pending_box)

        bottom = QWidget()
        b = QHBoxLayout(bottom)
        b.setContentsMargins(0, 0, 0, 0)
        self.events_model: LazyListModel[EventFilter, Any] = LazyListModel(
            sessions,
            EVENTS,
            RECENT_EVENT_COLUMNS,
            EventFilter(),
            search_text=event_search_text,
            muted=lambda e: e.ignored,
        )
        self.events_view = LiveTableView()
        self.events_view.setObjectName("recent_events")
        self.events_view.setSortingEnabled(False)
        self.events_view.setModel(self.events_model)
        b.addWidget(_card("Latest events", self.events_view), 1)
        self.obs_model: LazyListModel[ObservationFilter, Any] = LazyListModel(
            sessions, OBSERVATIONS, RECENT_OBS_COLUMNS, ObservationFilter()
        )
        self.obs_view = LiveTableView()
        self.obs_view.setObjectName("recent_observations")
        self.obs_view.setSortingEnabled(False)
        self.obs_view.setModel(self.obs_model)
        b.addWidget(_card("Latest observation requests", self.obs_view), 1)
        split.addWidget(bottom)
        split.setSizes([380, 260])
        self.splitter = split
        outer.addWidget(split, 1)

        self.pending_view.selectionModel().currentRowChanged.connect(self._pending_selected)
        self.pending_model.dataChanged.connect(lambda *_: self._pending_selected(self.pending_view.currentIndex()))
        # Rows move before the model's total is re-counted: read the count once the model's update is over.
        for signal in (self.pending_model.rowsInserted, self.pending_model.rowsRemoved, self.pending_model.modelReset):
            signal.connect(lambda *_: QTimer.singleShot(0, self, self._pending_count_changed))
        self.pending_view.activated.connect(self._open_current)
        self.open_button.clicked.connect(self._open_current)
        self.trigger_button.clicked.connect(lambda: self.trigger_requested.emit(self.current_decision()))
        self.ignore_button.clicked.connect(lambda: self.ignore_requested.emit(self.current_decision()))
        self.reevaluate_button.clicked.connect(lambda: self.reevaluate_requested.emit(self.current_decision()))
        self.events_view.activated.connect(self._open_event)

    # ---- loading --------------------------------------------------------------------------------------
    def load(self) -> None:
        for model in (self.pending_model, self.events_model, self.obs_model):
            model.ensure_loaded()
        for view in (self.pending_view, self.events_view, self.obs_view):
            view.resizeColumnsToContents()
        if self.pending_model.rowCount() and not self.pending_view.currentIndex().isValid():
            self.pending_view.setCurrentIndex(self.pending_model.index(0, 0))
        self._pending_count_changed()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        for model in (self.events_model, self.obs_model):
            model.set_deferred(False)
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt API)
        """Out of sight the latest-events and requests lists only note changes (a burst then costs the GUI thread
        less); the pending list, which the alarms and the title follow, stays live."""
        super().hideEvent(event)
        for model in (self.events_model, self.obs_model):
            model.set_deferred(True)

    def apply_changes(self, decision_ids: frozenset[int], event_ids: frozenset[int], obs_ids: frozenset[int]) -> None:
        self.pending_model.apply_changes(decision_ids)
        self.events_model.apply_changes(event_ids)
        self.obs_model.apply_changes(obs_ids)
        self.select_first_pending()

    def select_first_pending(self) -> None:
        """Make the first pending decision current when none is."""
        if self.pending_model.rowCount() and not self.pending_view.currentIndex().isValid():
            self.pending_view.setCurrentIndex(self.pending_model.index(0, 0))

    def refresh_styles(self) -> None:
        """Re-apply theme colours set in code (after a theme change)."""
        self._pending_count_changed()
        if self._armed is not None:
            self.set_armed(self._armed)

    def set_health(self, connections: Sequence[ConnectionView]) -> None:
        self.health_model.set_records(list(connections))
        self.health_view.resizeColumnsToContents()
        if not connections:
            self.health_view.setToolTip("No connection reported yet (engine not running or nothing configured).")

    def set_armed(self, state: ArmedState) -> None:
        self._armed = state
        c = colours()
        if state.armed:
            text = "ARMED\nreal observation requests are sent"
            css = swatch_css(c.ok)
            self.arm_button.setText("Disarm… (Ctrl+Shift+A)")
        else:
            text = "UNARMED\nrequests are pretend / recorded only"
            css = swatch_css(c.unarmed)
            self.arm_button.setText("Arm… (Ctrl+Shift+A)")
        if state.requested:
            text += f"\n({state.requested} requested, waiting for the engine)"
        self.armed_label.setText(text)
        self.armed_label.setStyleSheet(css + "font-weight: bold; font-size: 13pt; padding: 6px; border-radius: 3px;")

    def set_totals(self, totals: Totals) -> None:
        failed = totals.failed_packets
        failed_text = f"<b>{failed}</b> (see the inbox)" if failed else "0"
        self.totals_label.setText(
            f"Events: <b>{totals.events:,}</b><br>Groups: <b>{totals.groups:,}</b><br>"
            f"Pending decisions: <b>{totals.pending_decisions}</b><br>"
            f"Observation requests: <b>{totals.observations}</b><br>"
            f"Failed packets: {failed_text}<br>Waiting in inbox: {totals.unprocessed_packets}"
        )

    # ---- selection ------------------------------------------------------------------------------------
    def current_decision(self) -> DecisionItem | None:
        index = self.pending_view.currentIndex()
        return index.data(RECORD_ROLE) if index.isValid() else None

    def focus_next_pending(self) -> bool:
        """Select the next decision that needs a human (wrapping); False when there is none."""
        rows = self.pending_model.rowCount()
        if rows == 0:
            return False
        current = self.pending_view.currentIndex()
        row = (current.row() + 1) % rows if current.isValid() else 0
        self.pending_view.setCurrentIndex(self.pending_model.index(row, 0))
        self.pending_view.setFocus()
        return True

    def refresh_reason(self) -> None:
        """Re-read the selected decision's log (an operator action on it may have been recorded or executed)."""
        self._pending_selected(self.pending_view.currentIndex())

    def _pending_count_changed(self, *_: Any) -> None:
        n = self.pending_model.total
        if n:
            self.pending_title.setText(
                f"Needs a human: {n} decision(s) — arrow keys to choose, Ctrl+Shift+T to trigger"
            )
            self.pending_title.setStyleSheet(swatch_css(colours().decisions["P"]) + "font-weight: bold; padding: 4px;")
        else:
            self.pending_title.setText("Needs a human: nothing pending")
            self.pending_title.setStyleSheet("padding: 4px;")

    def _pending_selected(self, index: QModelIndex, *_: Any) -> None:
        d = index.data(RECORD_ROLE) if index.isValid() else None
        for button in (self.trigger_button, self.ignore_button, self.reevaluate_button, self.open_button):
            button.setEnabled(d is not None)
        if d is None:
            self.reason_view.setPlainText("")
            return
        if d.decision_id in self.prefetched_details:
            detail = self.prefetched_details[d.decision_id]
        else:
            detail = decision_detail(self._sessions, d.decision_id)
        if detail is None:
            self.reason_view.setPlainText("")
            return
        pending = d.decision == "P"
        self.trigger_button.setEnabled(pending)
        self.ignore_button.setEnabled(pending)
        self.reason_view.setPlainText(
            f"{d.proposal_id} on {d.trig_id}: {decision_text(d.decision)} (decision {d.decision_id}, "
            f"{d.telescope}, testing {d.testing})\n\n" + format_log(detail)
        )
        self.reason_view.moveCursor(self.reason_view.textCursor().MoveOperation.End)

    def _open_current(self, *_: Any) -> None:
        d = self.current_decision()
        if d is not None:
            self.open_group.emit(d.group_id, d.decision_id)

    def _open_event(self, index: QModelIndex) -> None:
        e = index.data(RECORD_ROLE) if index.isValid() else None
        if e is not None and e.group_id is not None:
            self.open_group.emit(e.group_id, 0)
