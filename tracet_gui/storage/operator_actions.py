"""Operator actions: the GUI's only writes. Each is an audit row the engine executes exactly once.

The GUI never changes a decision, a proposal or the armed state itself: it records *what the operator asked
for* (``operator_action`` row with ``executed_utc`` NULL) and the pipeline thread – the single writer of
everything else – picks pending rows up in id order, performs them, writes the decision-log entry and sets
``executed_utc``. Targets are ``"<kind>:<id>"`` strings (``decision:42``, ``observation:7``,
``proposal:MWA_GRB_TEST``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tracet_gui.storage.schema import OperatorActionRow

TRIGGER: Final = "trigger"
"""Operator triggers a pending decision (TraceT's "User decided to trigger.")."""
IGNORE: Final = "ignore"
"""Operator ignores a pending decision (TraceT's "User decided not to trigger.")."""
REEVALUATE: Final = "reevaluate"
"""Run the proposal logic again on the group's latest event."""
CANCEL_ATCA: Final = "cancel_atca"
"""Cancel a scheduled ATCA observation (target ``observation:<id>``)."""
ARM: Final = "arm"
"""Allow real telescope requests."""
DISARM: Final = "disarm"
"""Stop real telescope requests (requests become pretend/recorded only)."""
PROPOSAL_EDIT: Final = "proposal_edit"
"""Create or replace a proposal; ``details["proposal"]`` holds every ProposalSettings field."""
PROPOSAL_ENABLE: Final = "proposal_enable"
"""Make a proposal active (target ``proposal:<proposal_id>``)."""
PROPOSAL_DISABLE: Final = "proposal_disable"
"""Make a proposal inactive (target ``proposal:<proposal_id>``)."""

ACTIONS: Final = frozenset(
    {
        TRIGGER,
        IGNORE,
        REEVALUATE,
        CANCEL_ATCA,
        ARM,
        DISARM,
        PROPOSAL_EDIT,
        PROPOSAL_ENABLE,
        PROPOSAL_DISABLE,
    }
)
"""Every action the GUI may record."""

_ARMING = (ARM, DISARM)


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """One audit row as the GUI shows it."""

    action_id: int
    at_utc: datetime
    operator: str
    action: str
    target: str | None
    comment: str | None
    details: dict[str, Any] | None
    executed_utc: datetime | None

    @property
    def pending(self) -> bool:
        return self.executed_utc is None


@dataclass(frozen=True, slots=True)
class ArmedState:
    """Whether real telescope requests are allowed, as last executed by the engine."""

    armed: bool
    since_utc: datetime | None
    operator: str | None
    requested: str | None
    """An arm/disarm the engine has not executed yet (``"arm"``/``"disarm"``), else None."""


def target_for(kind: str, ident: int | str) -> str:
    """``decision:42`` – the target text of an action on one object."""
    return f"{kind}:{ident}"


def record_action(
    sessions: sessionmaker[Session],
    *,
    operator: str,
    action: str,
    target: str | None,
    comment: str | None = None,
    details: dict[str, Any] | None = None,
    at_utc: datetime | None = None,
) -> int:
    """Insert one pending operator action in its own short transaction; returns its id."""
    if action not in ACTIONS:
        raise ValueError(f"unknown operator action {action!r}")
    if not operator.strip():
        raise ValueError("an operator action needs the operator's name")
    row = OperatorActionRow(
        at_utc=at_utc or datetime.now(UTC),
        operator=operator.strip(),
        action=action,
        target=target,
        comment=(comment or "").strip() or None,
        details=details,
        executed_utc=None,
    )
    with sessions() as session:
        session.add(row)
        session.commit()
        return row.id


def _item(row: OperatorActionRow) -> OperatorAction:
    return OperatorAction(
        row.id, row.at_utc, row.operator, row.action, row.target, row.comment, row.details, row.executed_utc
    )


def pending_actions(sessions: sessionmaker[Session], limit: int = 1000) -> list[OperatorAction]:
    """Actions not executed yet, oldest first (the order the engine must execute them in)."""
    with sessions() as session:
        rows = session.scalars(
            select(OperatorActionRow)
            .where(OperatorActionRow.executed_utc.is_(None))
            .order_by(OperatorActionRow.id)
            .limit(limit)
        )
        return [_item(row) for row in rows]


def mark_action_executed(session: Session, action_id: int, at_utc: datetime) -> bool:
    """Set ``executed_utc`` once (inside the executor's transaction); False if it was already executed."""
    result = session.execute(
        update(OperatorActionRow)
        .where(OperatorActionRow.id == action_id, OperatorActionRow.executed_utc.is_(None))
        .values(executed_utc=at_utc)
    )
    return bool(getattr(result, "rowcount", 0))


def list_actions(
    sessions: sessionmaker[Session], *, target: str | None = None, limit: int = 200
) -> list[OperatorAction]:
    """Most recent first, optionally for one target."""
    with sessions() as session:
        query = select(OperatorActionRow).order_by(OperatorActionRow.id.desc()).limit(limit)
        if target is not None:
            query = query.where(OperatorActionRow.target == target)
        return [_item(row) for row in session.scalars(query)]


def armed_state(sessions: sessionmaker[Session]) -> ArmedState:
    """The last *executed* arm/disarm decides; no such row means unarmed (the safe default)."""
    with sessions() as session:
        executed = session.scalar(
            select(OperatorActionRow)
            .where(OperatorActionRow.action.in_(_ARMING), OperatorActionRow.executed_utc.is_not(None))
            .order_by(OperatorActionRow.executed_utc.desc(), OperatorActionRow.id.desc())
            .limit(1)
        )
        waiting = session.scalar(
            select(OperatorActionRow.action)
            .where(OperatorActionRow.action.in_(_ARMING), OperatorActionRow.executed_utc.is_(None))
            .order_by(OperatorActionRow.id.desc())
            .limit(1)
        )
        if executed is None:
            return ArmedState(False, None, None, waiting)
        return ArmedState(executed.action == ARM, executed.executed_utc, executed.operator, waiting)
