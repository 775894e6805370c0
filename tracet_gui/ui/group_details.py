"""Details of one event group: timeline with raw XML, best position, decisions with logs, observations,
latency from event time to receipt to decision to request."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.storage.views import (
    DecisionDetail,
    EventItem,
    GroupDetail,
    Latency,
    ObservationItem,
    Sessions,
    event_raw_xml,
    group_detail,
)
from tracet_gui.ui.columns import OBSERVATION_COLUMNS
from tracet_gui.ui.table_models import RECORD_ROLE, Column, StaticListModel, col, fmt_float, fmt_time, small_table
from tracet_gui.ui.theme import decision_text

MAX_XML_CHARS = 200_000
"""Raw packets longer than this are shown cut (the database keeps them whole)."""


def pretty_xml(raw: bytes) -> str:
    """The packet as text, indented when it arrived on one line (no entities resolved, no network)."""
    text = raw.decode("utf-8", errors="replace")
    if text.count("\n") > 3:
        return text
    try:
        from lxml import etree

        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(raw, parser)
        return str(etree.tostring(root, pretty_print=True, encoding="unicode"))
    except Exception:
        return text


def _sexagesimal(value: float, decimals: int) -> tuple[int, int, float]:
    """(units, minutes, seconds) with the seconds rounded first, so 59.999 s never shows as 60."""
    scale = 10**decimals
    total = round(value * 3600 * scale)
    units, rest = divmod(total, 3600 * scale)
    minutes, seconds = divmod(rest, 60 * scale)
    return int(units), int(minutes), seconds / scale


def hms(ra_deg: float | None) -> str:
    if ra_deg is None:
        return ""
    h, m, s = _sexagesimal((ra_deg % 360.0) / 15.0, 2)
    return f"{h % 24:02d}:{m:02d}:{s:05.2f}"


def dms(dec_deg: float | None) -> str:
    if dec_deg is None:
        return ""
    sign = "-" if dec_deg < 0 else "+"
    d, m, s = _sexagesimal(abs(dec_deg), 1)
    return f"{sign}{d:02d}:{m:02d}:{s:04.1f}"


def fmt_delay(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


TIMELINE_COLUMNS: list[Column[Any]] = [
    col("Event time (UTC)", "observed_utc"),
    col("Received (UTC)", "received_utc"),
    col("Event", "event_id", numeric=True),
    col("Stream", "stream"),
    col("Role", "role"),
    Column("Ignored", "ignored", lambda e: "ignored" if e.ignored else ""),
    col("RA (deg)", "ra_deg", digits=4, numeric=True),
    col("Dec (deg)", "dec_deg", digits=4, numeric=True),
    col("Error (deg)", "pos_error_deg", digits=4, numeric=True),
    col("Duration (s)", "duration_s", digits=3, numeric=True),
    Column("Why ignored", "", lambda e: e.ignore_reason or ""),
]

DETAIL_DECISION_COLUMNS: list[Column[Any]] = [
    Column("Proposal", "", lambda d: d.decision.proposal_id),
    Column("Decision", "", lambda d: d.decision.decision, decision=True),
    Column("Telescope", "", lambda d: d.decision.telescope),
    Column("Testing", "", lambda d: d.decision.testing),
    Column("Updated (UTC)", "", lambda d: d.decision.updated_utc),
    Column("Observations", "", lambda d: len(d.observations), numeric=True),
    Column(
        "Latest reason", "", lambda d: (d.decision.last_reason or "").splitlines()[0] if d.decision.last_reason else ""
    ),
]

LATENCY_COLUMNS: list[Column[Any]] = [
    col("Proposal", "proposal_id"),
    Column("Event→receipt", "", lambda x: fmt_delay(x.receipt_delay_s), numeric=True),
    Column("Receipt→decision", "", lambda x: fmt_delay(x.decision_delay_s), numeric=True),
    Column("Decision→request", "", lambda x: fmt_delay(x.request_delay_s), numeric=True),
    Column("Total", "", lambda x: fmt_delay(x.total_s), numeric=True, tooltip="Event time to request (or decision)"),
    col("Event", "event_id", numeric=True),
    col("Event time (UTC)", "observed_utc"),
    col("Received (UTC)", "received_utc"),
    col("Decided (UTC)", "decided_utc"),
    col("Requested (UTC)", "requested_utc"),
]


def format_log(detail: DecisionDetail) -> str:
    """The reason log with timestamps, then the operator actions on this decision."""
    lines = [line.format() for line in detail.log]
    if detail.actions:
        lines.append("")
        lines.append("Operator actions:")
        for a in detail.actions:
            state = f"executed {fmt_time(a.executed_utc)}Z" if a.executed_utc else "WAITING for the engine"
            comment = f" — “{a.comment}”" if a.comment else ""
            lines.append(f"{fmt_time(a.at_utc)}Z  {a.operator}: {a.action} {a.target}{comment} ({state})")
    return "\n".join(lines)


class GroupDetailsWindow(QDialog):
    """Non-modal window for one group; ``refresh()`` re-reads it (the main window calls it on changes)."""

    trigger_requested = Signal(object)
    ignore_requested = Signal(object)
    reevaluate_requested = Signal(object)
    cancel_requested = Signal(object)

    def __init__(self, sessions: Sessions, group_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self._sessions = sessions
        self.group_id = group_id
        self.detail: GroupDetail | None = None
        self.resize(1150, 720)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        layout = QVBoxLayout(self)
        self.header = QLabel()
        self.header.setObjectName("groupHeader")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        # decisions
        page = QWidget()
        v = QVBoxLayout(page)
        split = QSplitter(Qt.Orientation.Vertical)
        self.decisions_model: StaticListModel[DecisionDetail] = StaticListModel(DETAIL_DECISION_COLUMNS)
        self.decisions_view = small_table(self.decisions_model)
        self.decisions_view.setObjectName("detailDecisions")
        split.addWidget(self.decisions_view)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("decisionLog")
        self.log_view.setReadOnly(True)
        self.log_view.setFont(mono)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        split.addWidget(self.log_view)
        split.setSizes([220, 300])
        v.addWidget(split, 1)
        buttons = QHBoxLayout()
        self.trigger_button = QPushButton("&Trigger… (Ctrl+Shift+T)")
        self.ignore_button = QPushButton("&Ignore… (Ctrl+Shift+I)")
        self.reevaluate_button = QPushButton("&Re-evaluate… (Ctrl+Shift+R)")
        for b in (self.trigger_button, self.ignore_button, self.reevaluate_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        v.addLayout(buttons)
        self.tabs.addTab(page, "&Decisions")

        # timeline
        page = QWidget()
        v = QVBoxLayout(page)
        split = QSplitter(Qt.Orientation.Vertical)
        self.events_model: StaticListModel[EventItem] = StaticListModel(
            TIMELINE_COLUMNS, id_attr="event_id", muted=lambda e: e.ignored
        )
        self.events_view = small_table(self.events_model)
        self.events_view.setObjectName("detailEvents")
        split.addWidget(self.events_view)
        self.xml_view = QPlainTextEdit()
        self.xml_view.setObjectName("rawXml")
        self.xml_view.setReadOnly(True)
        self.xml_view.setFont(mono)
        self.xml_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.xml_view.setPlaceholderText("Select an event to see its raw VOEvent XML")
        split.addWidget(self.xml_view)
        split.setSizes([220, 320])
        v.addWidget(split)
        self.tabs.addTab(page, "T&imeline && XML")

        # observations
        page = QWidget()
        v = QVBoxLayout(page)
        self.obs_model: StaticListModel[ObservationItem] = StaticListModel(
            OBSERVATION_COLUMNS, id_attr="observation_id"
        )
        self.obs_view = small_table(self.obs_model)
        self.obs_view.setObjectName("detailObservations")
        v.addWidget(self.obs_view, 1)
        self.obs_text = QPlainTextEdit()
        self.obs_text.setReadOnly(True)
        self.obs_text.setFont(mono)
        self.obs_text.setMaximumHeight(180)
        v.addWidget(self.obs_text)
        buttons = QHBoxLayout()
        self.open_link_button = QPushButton("Open observation &page (Ctrl+L)")
        self.cancel_button = QPushButton("&Cancel ATCA observation…")
        buttons.addWidget(self.open_link_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        v.addLayout(buttons)
        self.tabs.addTab(page, "&Observations")

        # latency
        self.latency_model: StaticListModel[Latency] = StaticListModel(LATENCY_COLUMNS)
        self.latency_view = small_table(self.latency_model)
        self.latency_view.setObjectName("detailLatency")
        self.tabs.addTab(self.latency_view, "&Latency")

        self.decisions_view.selectionModel().currentRowChanged.connect(self._decision_selected)
        self.events_view.selectionModel().currentRowChanged.connect(self._event_selected)
        self.obs_view.selectionModel().currentRowChanged.connect(self._observation_selected)
        self.trigger_button.clicked.connect(lambda: self.trigger_requested.emit(self.current_decision()))
        self.ignore_button.clicked.connect(lambda: self.ignore_requested.emit(self.current_decision()))
        self.reevaluate_button.clicked.connect(lambda: self.reevaluate_requested.emit(self.current_decision()))
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.current_observation()))
        self.open_link_button.clicked.connect(self.open_link)
        for keys, signal in (
            ("Ctrl+Shift+T", self.trigger_requested),
            ("Ctrl+Shift+I", self.ignore_requested),
            ("Ctrl+Shift+R", self.reevaluate_requested),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(lambda s=signal: s.emit(self.current_decision()))
        QShortcut(QKeySequence("Ctrl+L"), self).activated.connect(self.open_link)
        self.refresh()

    # ---- data -----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        detail = group_detail(self._sessions, self.group_id)
        self.detail = detail
        if detail is None:
            self.header.setText(f"Group {self.group_id} not found.")
            return
        g = detail.group
        self.setWindowTitle(f"Group {g.group_id} — {g.trig_id}")
        pos = "no position"
        if g.ra_deg is not None and g.dec_deg is not None:
            pos = (
                f"RA {g.ra_deg:.4f}° ({hms(g.ra_deg)}), Dec {g.dec_deg:.4f}° ({dms(g.dec_deg)}), "
                f"error {fmt_float(g.pos_error_deg)}°"
            )
        test = " — <b>TEST EVENTS</b>" if g.is_test else ""
        self.header.setText(
            f"<b>{g.trig_id}</b> · {g.source_type or 'unknown source'}"
            f"{' “' + g.source_name + '”' if g.source_name else ''} · "
            f"{g.telescope or ''} · {g.event_count} events{test}<br>"
            f"First alert {fmt_time(g.first_received_utc)}Z · event times {fmt_time(g.earliest_observed_utc)}Z"
            f" – {fmt_time(g.latest_observed_utc)}Z<br>Best position: {pos}"
        )
        current = self.current_decision()
        keep = current.decision.decision_id if current else None
        self.decisions_model.set_records(list(detail.decisions))
        self.events_model.set_records(list(detail.events))
        self.obs_model.set_records(list(detail.observations))
        self.latency_model.set_records(list(detail.latencies))
        for view in (self.decisions_view, self.events_view, self.obs_view, self.latency_view):
            view.resizeColumnsToContents()
        if keep is not None:
            self.select_decision(keep)
        elif detail.decisions and not self.decisions_view.currentIndex().isValid():
            self.decisions_view.setCurrentIndex(self.decisions_model.index(0, 0))
        self._decision_selected(self.decisions_view.currentIndex())

    def select_decision(self, decision_id: int) -> None:
        for row, d in enumerate(self.decisions_model.records()):
            if d.decision.decision_id == decision_id:
                self.decisions_view.setCurrentIndex(self.decisions_model.index(row, 0))
                self.tabs.setCurrentIndex(0)
                return

    def current_decision(self) -> DecisionDetail | None:
        index = self.decisions_view.currentIndex()
        return index.data(RECORD_ROLE) if index.isValid() else None

    def current_observation(self) -> ObservationItem | None:
        index = self.obs_view.currentIndex()
        return index.data(RECORD_ROLE) if index.isValid() else None

    def _decision_selected(self, index: QModelIndex, *_: Any) -> None:
        detail = index.data(RECORD_ROLE) if index.isValid() else None
        if detail is None:
            self.log_view.setPlainText("")
            return
        d = detail.decision
        self.log_view.setPlainText(
            f"{d.proposal_id}: {decision_text(d.decision)}  (decision {d.decision_id})\n\n" + format_log(detail)
        )
        pending = d.decision == "P"
        self.trigger_button.setEnabled(pending)
        self.ignore_button.setEnabled(pending)

    def _event_selected(self, index: QModelIndex, *_: Any) -> None:
        event = index.data(RECORD_ROLE) if index.isValid() else None
        if event is None:
            return
        raw = event_raw_xml(self._sessions, event.event_id)
        text = pretty_xml(raw) if raw else "(raw packet not found)"
        if len(text) > MAX_XML_CHARS:
            text = text[:MAX_XML_CHARS] + "\n… (cut; the database keeps the whole packet)"
        self.xml_view.setPlainText(text)

    def _observation_selected(self, index: QModelIndex, *_: Any) -> None:
        o = index.data(RECORD_ROLE) if index.isValid() else None
        if o is None:
            self.obs_text.setPlainText("")
            return
        import json

        self.obs_text.setPlainText(
            f"Request:\n{json.dumps(o.request, indent=2, default=str)}\n\n"
            f"Response:\n{json.dumps(o.response, indent=2, default=str)}\n\nError: {o.error or '-'}"
        )
        self.cancel_button.setEnabled(o.is_cancellable)

    def open_link(self) -> None:
        o = self.current_observation()
        if o is None and self.obs_model.rowCount() > 0:
            o = self.obs_model.record(0)
        if o is not None and o.website_link:
            QDesktopServices.openUrl(QUrl(o.website_link))
