"""Proposal list and editor: create, edit, enable/disable, import/export YAML.

The form is generated from ``ProposalSettings`` (each field's unit and one-line meaning are its help), and
checked with exactly the loader the CLI uses (``load_proposals_yaml``), so the GUI accepts what the CLI
accepts and says why it refuses the rest. Saving records a ``proposal_edit`` operator action; the engine
applies it (the GUI never writes a proposal itself).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.core.proposal import EVENT_TELESCOPES, OBSERVING_TELESCOPES, ProposalSettings
from tracet_gui.core.vocabulary import SourceType, Testing
from tracet_gui.pipeline.proposals_yaml import ProposalFileError, dump_proposals_yaml, load_proposals_yaml
from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage.proposals import settings_from_json, settings_to_json
from tracet_gui.storage.views import ProposalItem, Sessions, list_proposals
from tracet_gui.ui.table_models import RECORD_ROLE, Column, StaticListModel, col, small_table

_HINTS: dict[str, Any] = typing.get_type_hints(ProposalSettings)
ANY_TELESCOPE = "(any)"

SECTIONS = ("Proposal", "GRB / NU / HESS", "Gravitational waves", "MWA", "ATCA")
_GW_WORDS = ("neutron", "black_hole", "terrestrial", "false_alarm", "observe_significant", "early_observation")
_GRB_NAMES = ("fermi_prob", "swift_rate_signif", "antares_min_ranking", "maximum_position_uncertainty")


def section_of(name: str) -> str:
    """Which tab of the editor a field lives on."""
    if name.startswith("mwa_") or name == "start_observation_at_high_sensitivity":
        return "MWA"
    if name.startswith("atca_"):
        return "ATCA"
    if any(word in name for word in _GW_WORDS):
        return "Gravitational waves"
    if name.startswith(("event_", "pending_")) or name in _GRB_NAMES or "hess" in name:
        return "GRB / NU / HESS"
    return "Proposal"


def _kind(name: str) -> tuple[type, bool]:
    hint = _HINTS[name]
    args = typing.get_args(hint)
    if args and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def proposal_from_mapping(mapping: dict[str, Any]) -> ProposalSettings:
    """Check a mapping exactly as a YAML import would; ProposalFileError lists every problem."""
    proposals = load_proposals_yaml(json.dumps([mapping]))
    return proposals[0]


def proposal_of(item: ProposalItem) -> ProposalSettings:
    return settings_from_json(item.settings)


class ProposalForm(QWidget):
    """Editors for every ProposalSettings field, grouped in tabs, with unit, meaning and default."""

    changed = Signal()

    def __init__(self, proposal: ProposalSettings | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editors: dict[str, QWidget] = {}
        self._readers: dict[str, Callable[[], Any]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        forms: dict[str, QFormLayout] = {}
        for title in SECTIONS:
            page = QWidget()
            form = QFormLayout(page)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, title)
            forms[title] = form
        defaults = {f.name: f.default for f in dataclasses.fields(ProposalSettings)}
        for f in dataclasses.fields(ProposalSettings):
            unit, doc = f.metadata.get("unit", ""), f.metadata.get("doc", "")
            editor, reader = self._editor(f.name)
            editor.setObjectName(f"field_{f.name}")
            editor.setToolTip(doc)
            self._editors[f.name] = editor
            self._readers[f.name] = reader
            label = QLabel(f"{f.name}" + (f" ({unit})" if unit else ""))
            label.setBuddy(editor)
            label.setToolTip(doc)
            default = defaults[f.name]
            default_text = "required" if default is dataclasses.MISSING else f"default {_text(default) or 'empty'}"
            help_label = QLabel(f"{doc} — {default_text}")
            help_label.setWordWrap(True)
            help_label.setObjectName("fieldHelp")
            help_label.setEnabled(False)
            holder = QWidget()
            v = QVBoxLayout(holder)
            v.setContentsMargins(0, 0, 0, 4)
            v.setSpacing(1)
            v.addWidget(editor)
            v.addWidget(help_label)
            forms[section_of(f.name)].addRow(label, holder)
        if proposal is not None:
            self.set_proposal(proposal)

    def _editor(self, name: str) -> tuple[QWidget, Callable[[], Any]]:
        kind, nullable = _kind(name)
        if kind is bool:
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box, box.isChecked
        if name in ("telescope", "event_telescope") or (isinstance(kind, type) and issubclass(kind, Enum)):
            combo = QComboBox()
            if name == "telescope":
                combo.addItems(list(OBSERVING_TELESCOPES))
            elif name == "event_telescope":
                combo.addItems([ANY_TELESCOPE, *EVENT_TELESCOPES])
            elif kind is SourceType:
                combo.addItems([s.value for s in SourceType])
            elif kind is Testing:
                combo.addItems([t.value for t in Testing])
            combo.currentTextChanged.connect(self.changed)

            def read_combo() -> Any:
                text = combo.currentText()
                return None if text == ANY_TELESCOPE else text

            return combo, read_combo
        edit = QLineEdit()
        if nullable:
            edit.setPlaceholderText("empty = none")
        edit.textChanged.connect(self.changed)

        def read_text() -> Any:
            text = edit.text().strip()
            if kind is str:
                return edit.text()
            if not text:
                return None
            try:
                return int(text) if kind is int else float(text)
            except ValueError:
                return text  # the loader names the field and says it is not a number

        return edit, read_text

    def set_proposal(self, proposal: ProposalSettings) -> None:
        for name, editor in self._editors.items():
            value = getattr(proposal, name)
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(ANY_TELESCOPE if value is None else _text(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(_text(value))

    def mapping(self) -> dict[str, Any]:
        return {name: reader() for name, reader in self._readers.items()}

    def editor(self, name: str) -> QWidget:
        return self._editors[name]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


class ProposalEditorDialog(QDialog):
    """Create or edit one proposal; Save is enabled only when the CLI's validation accepts the form."""

    def __init__(self, proposal: ProposalSettings | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Edit proposal {proposal.proposal_id}" if proposal else "New proposal")
        self.resize(860, 720)
        self.result_proposal: ProposalSettings | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Every field shows its unit and meaning. Changes are checked like a YAML import; saving asks "
            "the engine to store the proposal (visible in the audit log)."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.form = ProposalForm(proposal)
        layout.addWidget(self.form, 1)
        self.problems = QListWidget()
        self.problems.setObjectName("problems")
        self.problems.setMaximumHeight(110)
        layout.addWidget(self.problems)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(200)
        self._check_timer.timeout.connect(self.check)
        self.form.changed.connect(self._check_timer.start)
        if proposal is None:
            self.form.set_proposal(ProposalSettings("", "MWA_VCS", "", SourceType.GRB))
        self.check()

    def check(self) -> ProposalSettings | None:
        self.problems.clear()
        try:
            proposal = proposal_from_mapping(self.form.mapping())
        except ProposalFileError as exc:
            for problem in exc.problems:
                self.problems.addItem(problem)
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
            return None
        self.problems.addItem("OK: the proposal is valid.")
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        return proposal

    def _save(self) -> None:
        proposal = self.check()
        if proposal is None:
            return
        self.result_proposal = proposal
        self.accept()


PROPOSAL_COLUMNS: list[Column[Any]] = [
    col("Proposal", "proposal_id"),
    Column("Active", "active", lambda p: "active" if p.active else "DISABLED"),
    col("Priority", "priority", numeric=True),
    col("Telescope", "telescope"),
    col("Source", "source_type"),
    Column("Event telescope", "event_telescope", lambda p: p.event_telescope or "any"),
    col("Project", "project_id"),
    col("Testing", "testing"),
    col("Version", "version", numeric=True),
    Column(
        "Decisions (all time)",
        "",
        lambda p: "  ".join(f"{c}:{p.decision_counts.get(c, 0)}" for c in "TPIEC"),
        tooltip="T Triggered, P Pending, I Ignored, E Error, C Canceled",
    ),
    Column("Description", "", lambda p: p.description[:80]),
]


class ProposalsPage(QWidget):
    """The proposal list with New / Edit / Enable-Disable / Import / Export."""

    def __init__(self, sessions: Sessions, operator: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self._operator = operator
        layout = QVBoxLayout(self)
        self.model: StaticListModel[ProposalItem] = StaticListModel(
            PROPOSAL_COLUMNS, id_attr="proposal_pk", muted=lambda p: not p.active
        )
        self.view = small_table(self.model)
        self.view.setObjectName("proposals_table")
        self.view.doubleClicked.connect(lambda _i: self.edit())
        layout.addWidget(self.view, 1)
        buttons = QHBoxLayout()
        self.new_button = QPushButton("&New…")
        self.edit_button = QPushButton("&Edit…")
        self.toggle_button = QPushButton("Enable / &disable…")
        self.import_button = QPushButton("I&mport YAML…")
        self.export_button = QPushButton("E&xport YAML…")
        for b in (self.new_button, self.edit_button, self.toggle_button, self.import_button, self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.status = QLabel("")
        buttons.addWidget(self.status)
        layout.addLayout(buttons)
        self.new_button.clicked.connect(self.new)
        self.edit_button.clicked.connect(self.edit)
        self.toggle_button.clicked.connect(self.toggle_active)
        self.import_button.clicked.connect(self.import_yaml)
        self.export_button.clicked.connect(self.export_yaml)
        self.ask: Callable[[str, str], bool] = self._ask

    def refresh(self) -> None:
        self.model.set_records(list_proposals(self._sessions))
        self.view.resizeColumnsToContents()

    def current(self) -> ProposalItem | None:
        index = self.view.currentIndex()
        return index.data(RECORD_ROLE) if index.isValid() else None

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _record(self, action: str, proposal_id: str, details: dict[str, Any], comment: str | None = None) -> int:
        action_id = actions.record_action(
            self._sessions,
            operator=self._operator(),
            action=action,
            target=actions.target_for("proposal", proposal_id),
            comment=comment,
            details=details,
        )
        self.status.setText(f"Recorded action {action_id}: {action} {proposal_id} (the engine applies it)")
        return action_id

    def save_proposal(self, proposal: ProposalSettings, *, previous_version: int | None, source: str) -> int:
        return self._record(
            actions.PROPOSAL_EDIT,
            proposal.proposal_id,
            {"proposal": settings_to_json(proposal), "previous_version": previous_version, "source": source},
        )

    def open_editor(self, proposal: ProposalSettings | None) -> ProposalEditorDialog:
        return ProposalEditorDialog(proposal, self)

    def new(self) -> None:
        dialog = self.open_editor(None)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.result_proposal is not None:
            self.save_proposal(dialog.result_proposal, previous_version=None, source="editor")

    def edit(self) -> None:
        item = self.current()
        if item is None:
            return
        dialog = self.open_editor(proposal_of(item))
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.result_proposal is not None:
            self.save_proposal(dialog.result_proposal, previous_version=item.version, source="editor")

    def toggle_active(self) -> None:
        item = self.current()
        if item is None:
            return
        verb = "Disable" if item.active else "Enable"
        if not self.ask(
            f"{verb} proposal",
            f"{verb} {item.proposal_id}? "
            + ("It will no longer be evaluated." if item.active else "It will be evaluated again."),
        ):
            return
        action = actions.PROPOSAL_DISABLE if item.active else actions.PROPOSAL_ENABLE
        self._record(action, item.proposal_id, {"previous_version": item.version})

    def import_text(self, text: str, source: str) -> list[int]:
        """Validate a YAML document (whole file or nothing) and record one edit per proposal."""
        try:
            proposals = load_proposals_yaml(text)
        except ProposalFileError as exc:
            QMessageBox.warning(
                self, "Proposals refused", f"{source} was refused, nothing imported:\n\n" + "\n".join(exc.problems)
            )
            return []
        existing = {p.proposal_id: p.version for p in list_proposals(self._sessions)}
        names = ", ".join(("update " if p.proposal_id in existing else "create ") + p.proposal_id for p in proposals)
        if not proposals or not self.ask(
            "Import proposals", f"Import {len(proposals)} proposal(s) from {source}?\n{names}"
        ):
            return []
        return [self.save_proposal(p, previous_version=existing.get(p.proposal_id), source=source) for p in proposals]

    def import_yaml(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import proposals", "", "YAML (*.yaml *.yml);;All files (*)")
        if name:
            self.import_text(Path(name).read_text(encoding="utf-8"), name)

    def export_text(self) -> str:
        return dump_proposals_yaml([proposal_of(p) for p in list_proposals(self._sessions)])

    def export_yaml(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export proposals", "proposals.yaml", "YAML (*.yaml *.yml)")
        if name:
            Path(name).write_text(self.export_text(), encoding="utf-8")
            self.status.setText(f"Exported to {name}")
