"""Executes what operators asked for (``operator_action`` rows), exactly once, on the pipeline thread.

Consoles only record requests; this is the single place that turns them into decision changes, proposal
changes or arming. Each action runs in its own transaction together with marking it executed, so a crash
never runs an action twice, and two consoles asking for the same thing cannot both act (the second finds
the decision already changed and says so in the log).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from tracet_gui.core.clock import Clock
from tracet_gui.core.decision_model import Reason
from tracet_gui.core.vocabulary import Decision, LogKind
from tracet_gui.pipeline.decider import DecisionChange, ProposalDecider, RequestJob, decision_state, group_view
from tracet_gui.pipeline.decisions import evaluate, human_decision
from tracet_gui.storage import decisions as decision_store
from tracet_gui.storage import events as event_store
from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage.database import Session, SessionFactory
from tracet_gui.storage.proposals import get_proposal, list_proposals, settings_from_json, upsert_proposal

log = logging.getLogger(__name__)


def _target_id(target: str | None, kind: str) -> int:
    if not target or not target.startswith(f"{kind}:"):
        raise ValueError(f"action target {target!r} is not a {kind}")
    return int(target.split(":", 1)[1])


class OverrideExecutor:
    """Runs pending operator actions in id order."""

    def __init__(self, sessions: SessionFactory, decider: ProposalDecider, clock: Clock) -> None:
        self._sessions = sessions
        self._decider = decider
        self._clock = clock

    def execute_pending(self) -> tuple[list[DecisionChange], list[RequestJob]]:
        changes: list[DecisionChange] = []
        jobs: list[RequestJob] = []
        for action in actions.pending_actions(self._sessions):
            with self._sessions() as session:
                now = self._clock.now()
                if not actions.mark_action_executed(session, action.action_id, now):
                    continue  # another engine or an earlier run already did it
                try:
                    more_changes, more_jobs = self._execute(session, action, now)
                except Exception as exc:  # a bad request is recorded, never fatal
                    session.rollback()
                    log.warning("operator action %s failed: %s", action.action_id, exc)
                    with self._sessions() as again:
                        decision_store.record_action_failure(
                            again, action.action_id, now, f"{type(exc).__name__}: {exc}"
                        )
                        again.commit()
                    continue
                session.commit()
            changes += more_changes
            jobs += more_jobs
        return changes, jobs

    def _execute(
        self, session: Session, action: actions.OperatorAction, now: datetime
    ) -> tuple[list[DecisionChange], list[RequestJob]]:
        match action.action:
            case actions.TRIGGER | actions.IGNORE:
                return self._human(session, action, now, trigger=action.action == actions.TRIGGER)
            case actions.REEVALUATE:
                return self._reevaluate(session, action, now)
            case actions.PROPOSAL_ENABLE | actions.PROPOSAL_DISABLE:
                name = (action.target or "").removeprefix("proposal:")
                found = [p for p in list_proposals(session) if p.settings.proposal_id == name]
                if not found:
                    raise ValueError(f"no proposal {name!r}")
                active = action.action == actions.PROPOSAL_ENABLE
                upsert_proposal(session, replace(found[0].settings, active=active), now)
                return [], []
            case actions.PROPOSAL_EDIT:
                settings = settings_from_json(dict((action.details or {}).get("proposal", {})))
                upsert_proposal(session, settings, now)
                return [], []
            case actions.ARM | actions.DISARM:
                return [], []  # the executed row is the armed state (storage.operator_actions.armed_state)
            case actions.CANCEL_ATCA:
                raise ValueError("cancelling ATCA observations needs the ATCA client (not configured)")
            case _:
                raise ValueError(f"unknown action {action.action!r}")

    def _human(
        self, session: Session, action: actions.OperatorAction, now: datetime, *, trigger: bool
    ) -> tuple[list[DecisionChange], list[RequestJob]]:
        stored = decision_store.get_decision(session, _target_id(action.target, "decision"))
        proposal = get_proposal(session, stored.proposal_pk)
        view = group_view(session, stored.group_id)
        outcome = human_decision(
            decision_state(stored), proposal.settings, trigger, action.operator, action.comment, now, group=view
        )
        change, _, job = self._decider.store_outcome(
            session, view, stored.group_id, None, None, proposal, stored, outcome, now
        )
        return [change], [job] if job is not None else []

    def _reevaluate(
        self, session: Session, action: actions.OperatorAction, now: datetime
    ) -> tuple[list[DecisionChange], list[RequestJob]]:
        stored = decision_store.get_decision(session, _target_id(action.target, "decision"))
        proposal = get_proposal(session, stored.proposal_pk)
        view = group_view(session, stored.group_id)
        latest = next(
            (e for e in reversed(event_store.group_events(session, stored.group_id)) if not e.event.ignored), None
        )
        if latest is None:
            raise ValueError("the group has no event to evaluate")
        said = Reason(
            now,
            None,
            LogKind.OPERATOR,
            f"User {action.operator} asked to re-evaluate." + (f" Comment: {action.comment}" if action.comment else ""),
        )
        state = decision_state(stored)
        if state.decision in (Decision.IGNORED, Decision.ERROR):
            state = replace(state, decision=Decision.PENDING)
        outcome = evaluate(state, proposal.settings, latest.event, view, now, received_utc=latest.received_utc)
        outcome = replace(outcome, reasons=(said, *outcome.reasons))
        change, _, job = self._decider.store_outcome(
            session, view, stored.group_id, latest.event_id, latest.event, proposal, stored, outcome, now
        )
        return [change], [job] if job is not None else []
