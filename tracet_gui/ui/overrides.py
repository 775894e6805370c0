"""Manual overrides: confirm, then record an ``operator_action`` row for the engine to execute.

Nothing here changes a decision: the GUI only records who asked for what (operator name, optional
comment); the pipeline thread executes each action once and writes the decision-log entry, which the
views then show like any other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage.views import DecisionItem, ObservationItem, Sessions, is_pending


@dataclass(frozen=True, slots=True)
class Override:
    """What the operator is about to ask for, in words."""

    action: str
    target: str
    title: str
    question: str
    confirm_label: str
    details: dict[str, Any]
    dangerous: bool = False


def trigger_override(d: DecisionItem) -> Override:
    return Override(
        actions.TRIGGER,
        actions.target_for("decision", d.decision_id),
        "Trigger observation",
        f"Trigger {d.telescope} for proposal {d.proposal_id} on {d.trig_id} (decision {d.decision_id})?\n"
        "The engine will send the observation request and log “User decided to trigger.”",
        "&Trigger observation",
        {"decision_id": d.decision_id, "proposal_id": d.proposal_id, "trig_id": d.trig_id, "group_id": d.group_id},
        dangerous=True,
    )


def ignore_override(d: DecisionItem) -> Override:
    return Override(
        actions.IGNORE,
        actions.target_for("decision", d.decision_id),
        "Ignore event",
        f"Ignore {d.trig_id} for proposal {d.proposal_id} (decision {d.decision_id})?\n"
        "No observation will be requested; the log will say “User decided not to trigger.”",
        "&Ignore event",
        {"decision_id": d.decision_id, "proposal_id": d.proposal_id, "trig_id": d.trig_id, "group_id": d.group_id},
    )


def reevaluate_override(d: DecisionItem) -> Override:
    return Override(
        actions.REEVALUATE,
        actions.target_for("decision", d.decision_id),
        "Re-evaluate",
        f"Run proposal {d.proposal_id} again on {d.trig_id}'s latest event (decision {d.decision_id}, now "
        f"{d.decision})?\nThis may trigger an observation.",
        "&Re-evaluate",
        {"decision_id": d.decision_id, "proposal_id": d.proposal_id, "trig_id": d.trig_id, "group_id": d.group_id},
        dangerous=True,
    )


def cancel_atca_override(o: ObservationItem) -> Override:
    return Override(
        actions.CANCEL_ATCA,
        actions.target_for("observation", o.observation_id),
        "Cancel ATCA observation",
        f"Cancel ATCA observation {o.trigger_id or o.observation_id} (proposal {o.proposal_id}, {o.trig_id})?\n"
        "The engine will ask ATCA to cancel it and mark the decision C (Canceled).",
        "&Cancel ATCA observation",
        {"observation_id": o.observation_id, "decision_id": o.decision_id, "trigger_id": o.trigger_id},
        dangerous=True,
    )


def arm_override(arm: bool) -> Override:
    if arm:
        return Override(
            actions.ARM,
            "engine",
            "Arm",
            "ARM the console? Triggers will send REAL observation requests to the telescopes.",
            "&Arm",
            {},
            dangerous=True,
        )
    return Override(
        actions.DISARM,
        "engine",
        "Disarm",
        "Disarm the console? Decisions continue, but no real observation requests are sent.",
        "&Disarm",
        {},
    )


class ConfirmActionDialog(QDialog):
    """Asks for confirmation, the operator's name and an optional comment."""

    def __init__(self, override: Override, operator: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(override.title)
        self.setModal(True)
        layout = QVBoxLayout(self)
        question = QLabel(override.question)
        question.setWordWrap(True)
        question.setObjectName("question")
        font = question.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        question.setFont(font)
        layout.addWidget(question)
        form = QFormLayout()
        self.operator = QLineEdit(operator)
        self.operator.setObjectName("operator")
        self.comment = QPlainTextEdit()
        self.comment.setObjectName("comment")
        self.comment.setPlaceholderText("Optional: why (kept in the audit trail and the decision log)")
        self.comment.setTabChangesFocus(True)
        self.comment.setFixedHeight(80)
        form.addRow("&Operator:", self.operator)
        form.addRow("Co&mment:", self.comment)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox()
        self.confirm = self.buttons.addButton(override.confirm_label, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton("Do &nothing", QDialogButtonBox.ButtonRole.RejectRole)
        self.confirm.setDefault(True)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.comment.setFocus(Qt.FocusReason.OtherFocusReason)

    def _accept(self) -> None:
        if not self.operator.text().strip():
            self.operator.setFocus()
            self.operator.setPlaceholderText("Your name is required")
            return
        self.accept()


class OverrideController:
    """Asks, then records. ``confirm`` may be replaced (tests) by a function returning (ok, operator, comment)."""

    def __init__(self, sessions: Sessions, operator: str, parent: QWidget | None = None) -> None:
        self._sessions = sessions
        self.operator = operator
        self._parent = parent

    def confirm(self, override: Override) -> tuple[bool, str, str]:
        dialog = ConfirmActionDialog(override, self.operator, self._parent)
        ok = dialog.exec() == QDialog.DialogCode.Accepted
        return ok, dialog.operator.text().strip(), dialog.comment.toPlainText().strip()

    def request(self, override: Override) -> int | None:
        """Confirm and record; the new action id, or None if the operator declined."""
        ok, operator, comment = self.confirm(override)
        if not ok:
            return None
        if operator:
            self.operator = operator
        return actions.record_action(
            self._sessions,
            operator=self.operator,
            action=override.action,
            target=override.target,
            comment=comment or None,
            details=override.details,
        )

    def _explain(self, text: str) -> None:
        QMessageBox.information(self._parent, "Not possible", text)

    def trigger(self, decision: DecisionItem | None) -> int | None:
        if decision is None:
            self._explain("Select a pending decision first.")
            return None
        if not is_pending(self._sessions, decision.decision_id):
            self._explain(
                f"Decision {decision.decision_id} is no longer pending; only pending decisions can be "
                "triggered or ignored. Use Re-evaluate instead."
            )
            return None
        return self.request(trigger_override(decision))

    def ignore(self, decision: DecisionItem | None) -> int | None:
        if decision is None:
            self._explain("Select a pending decision first.")
            return None
        if not is_pending(self._sessions, decision.decision_id):
            self._explain(f"Decision {decision.decision_id} is no longer pending.")
            return None
        return self.request(ignore_override(decision))

    def reevaluate(self, decision: DecisionItem | None) -> int | None:
        if decision is None:
            self._explain("Select a decision first.")
            return None
        return self.request(reevaluate_override(decision))

    def cancel_atca(self, observation: ObservationItem | None) -> int | None:
        if observation is None or not observation.is_cancellable:
            self._explain("Select a successful, real ATCA observation first.")
            return None
        return self.request(cancel_atca_override(observation))

    def set_armed(self, arm: bool) -> int | None:
        return self.request(arm_override(arm))
