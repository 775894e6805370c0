"""Alarms: tray notification and sound for triggers and pending decisions, never blocking.

Pending decisions alarm again every ``repeat_s`` until the operator acknowledges them (Ctrl+K) or the
decision stops being pending. What alarms is configurable per proposal in ``alarms.toml`` next to the
config file (the defaults apply to proposals not listed)::

    [default]
    trigger = true
    pending = true
    sound = true
    repeat_s = 60

    [proposal.MWA_GW_BNS]
    pending = false
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from tracet_gui.storage.views import DECISIONS, DecisionFilter, DecisionItem, Sessions, Sort

log = logging.getLogger(__name__)

DEFAULT_REPEAT_S = 60
"""Seconds between repeats of an unacknowledged pending alarm."""


@dataclass(frozen=True, slots=True)
class AlarmRule:
    trigger: bool = True
    """Alarm when the proposal triggers an observation."""
    pending: bool = True
    """Alarm (repeating) while a decision waits for a human."""
    sound: bool = True
    """Beep as well as notify."""
    repeat_s: int = DEFAULT_REPEAT_S
    """Seconds between repeats of a pending alarm."""


@dataclass(frozen=True, slots=True)
class AlarmPreferences:
    default: AlarmRule = AlarmRule()
    proposals: dict[str, AlarmRule] = field(default_factory=dict)

    def rule(self, proposal_id: str) -> AlarmRule:
        return self.proposals.get(proposal_id, self.default)


def _rule(data: dict[str, Any], base: AlarmRule) -> AlarmRule:
    known = {f.name for f in fields(AlarmRule)}
    return replace(base, **{k: v for k, v in data.items() if k in known})


def load_alarm_preferences(path: Path) -> AlarmPreferences:
    if not path.is_file():
        return AlarmPreferences()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.warning("alarm preferences %s unreadable (%s); using defaults", path, exc)
        return AlarmPreferences()
    default = _rule(data.get("default", {}), AlarmRule())
    proposals = {str(k): _rule(v, default) for k, v in data.get("proposal", {}).items() if isinstance(v, dict)}
    return AlarmPreferences(default, proposals)


def save_alarm_preferences(path: Path, prefs: AlarmPreferences) -> None:
    def section(rule: AlarmRule) -> str:
        return "".join(
            f"{f.name} = {str(getattr(rule, f.name)).lower() if isinstance(getattr(rule, f.name), bool) else getattr(rule, f.name)}\n"  # noqa: E501
            for f in fields(AlarmRule)
        )

    text = "# Alarm preferences of the tracet-gui console (per proposal overrides the default).\n"
    text += "[default]\n" + section(prefs.default)
    for proposal_id, rule in sorted(prefs.proposals.items()):
        text += f'\n[proposal."{proposal_id}"]\n' + section(rule)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Alarm:
    """One thing the operator should notice."""

    kind: str
    """``trigger`` or ``pending`` (or ``flagged``)."""
    decision_id: int
    title: str
    text: str


class AlarmController(QObject):
    """Turns decision changes into notifications; tracks pending ones until acknowledged."""

    raised = Signal(object)
    """An Alarm was raised (or repeated)."""
    outstanding_changed = Signal(int)
    """Number of unacknowledged pending alarms."""

    def __init__(
        self,
        sessions: Sessions,
        prefs: AlarmPreferences,
        tray: QSystemTrayIcon | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self.prefs = prefs
        self._tray = tray
        self._known: dict[int, str] = {}
        self._outstanding: dict[int, DecisionItem] = {}
        self._acknowledged: set[int] = set()
        self._last_raised: dict[int, float] = {}
        self._clock_s = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self.muted = False
        self.history: list[Alarm] = []

    def start(self) -> None:
        """Alarm for decisions already pending (someone must look at them), then watch for changes."""
        for d in DECISIONS.page(self._sessions, DecisionFilter(needs_human=True), Sort("updated_utc"), 0, 500):
            self._known[d.decision_id] = d.decision
            self._consider(d, previous=None)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def outstanding(self) -> list[DecisionItem]:
        return [d for i, d in self._outstanding.items() if i not in self._acknowledged]

    def decisions_changed(self, decision_ids: frozenset[int]) -> None:
        if decision_ids:
            self.decisions_fetched(DECISIONS.fetch_ids(self._sessions, DecisionFilter(), decision_ids))

    def decisions_fetched(self, decisions: Sequence[DecisionItem]) -> None:
        """Decisions that changed, already read (off the GUI thread, by the watcher's poll)."""
        if not decisions:
            return
        for d in decisions:
            previous = self._known.get(d.decision_id)
            self._known[d.decision_id] = d.decision
            self._consider(d, previous)
        self.outstanding_changed.emit(len(self.outstanding))

    def _consider(self, d: DecisionItem, previous: str | None) -> None:
        rule = self.prefs.rule(d.proposal_id)
        needs_human = d.decision == "P" or d.needs_attention
        if not needs_human:
            self._outstanding.pop(d.decision_id, None)
            self._acknowledged.discard(d.decision_id)
        if d.decision == "T" and previous != "T" and rule.trigger:
            self._raise(
                Alarm(
                    "trigger",
                    d.decision_id,
                    f"TRIGGERED: {d.proposal_id}",
                    f"{d.telescope} observation requested for {d.trig_id} (decision {d.decision_id}).",
                ),
                rule,
            )
        if needs_human and rule.pending and d.decision_id not in self._outstanding:
            self._outstanding[d.decision_id] = d
            kind = "pending" if d.decision == "P" else "flagged"
            self._raise(
                Alarm(
                    kind,
                    d.decision_id,
                    f"HUMAN DECISION NEEDED: {d.proposal_id}",
                    f"{d.trig_id}: {d.last_reason or 'pending'} (decision {d.decision_id}).",
                ),
                rule,
            )
        elif needs_human:
            self._outstanding[d.decision_id] = d

    def _raise(self, alarm: Alarm, rule: AlarmRule) -> None:
        self._last_raised[alarm.decision_id] = self._clock_s
        self.history.append(alarm)
        del self.history[:-200]
        self.raised.emit(alarm)
        if self.muted:
            return
        if self._tray is not None and QSystemTrayIcon.isSystemTrayAvailable() and self._tray.isVisible():
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if alarm.kind != "trigger"
                else QSystemTrayIcon.MessageIcon.Information
            )
            self._tray.showMessage(alarm.title, alarm.text, icon, 15_000)
        if rule.sound:
            QApplication.beep()

    def _tick(self) -> None:
        self._clock_s += 1.0
        self.repeat_due()

    def repeat_due(self) -> None:
        for d in self.outstanding:
            rule = self.prefs.rule(d.proposal_id)
            if not rule.pending:
                continue
            if self._clock_s - self._last_raised.get(d.decision_id, 0.0) >= rule.repeat_s:
                self._raise(
                    Alarm(
                        "pending",
                        d.decision_id,
                        f"STILL PENDING: {d.proposal_id}",
                        f"{d.trig_id} still needs a human (decision {d.decision_id}).",
                    ),
                    rule,
                )

    def advance_clock(self, seconds: float) -> None:
        """Move the alarm clock on (tests; the timer does this once a second)."""
        self._clock_s += seconds
        self.repeat_due()

    def acknowledge(self, decision_id: int | None = None) -> int:
        """Stop repeating one (or every) outstanding alarm; returns how many were acknowledged."""
        ids = [decision_id] if decision_id is not None else [d.decision_id for d in self.outstanding]
        count = 0
        for i in ids:
            if i in self._outstanding and i not in self._acknowledged:
                self._acknowledged.add(i)
                count += 1
        self.outstanding_changed.emit(len(self.outstanding))
        return count


def tray_icon(icon: QIcon, parent: QObject | None = None) -> QSystemTrayIcon | None:
    """A tray icon if the desktop has a tray (never under offscreen/Xvfb without one)."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    tray = QSystemTrayIcon(icon, parent)
    tray.setToolTip("tracet-gui")
    tray.show()
    return tray
