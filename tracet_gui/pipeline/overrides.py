"""Executes what operators asked for (``operator_action`` rows), exactly once, on the pipeline thread.

Consoles only record requests; this is the single place that turns them into decision changes, proposal
changes or arming. Each action runs in its own transaction together with marking it executed, so a crash
never runs an action twice, and two consoles asking for the same thing cannot both act (the second finds
the decision already changed and says so in the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from tracet_gui.core.clock import Clock
from tracet_gui.core.decision_model import Reason
from tracet_gui.core.sending import SendResult
from tracet_gui.core.vocabulary import Decision, LogKind
from tracet_gui.pipeline.decider import DecisionChange, ProposalDecider, RequestJob, decision_state, group_view
from tracet_gui.pipeline.decisions import evaluate, human_decision
from tracet_gui.storage import decisions as decision_store
from tracet_gui.storage import events as event_store
from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage.database import Session, SessionFactory
from tracet_gui.storage.proposals import get_proposal, list_proposals, settings_from_json, upsert_proposal

log = logging.getLogger(__name__)


CancelAtca = Callable[[str, str, bool], SendResult]
"""(project_id, ATCA request id, pretend) -> the service's answer. Blocking, with the client's timeout."""


def _target_id(target: str | None, kind: str) -> int:
    if not target or not target.startswith(f"{kind}:"):
        raise ValueError(f"action target {target!r} is not a {kind}")
    return int(target.split(":", 1)[1])


class OverrideExecutor:
    """Runs pending operator actions in id order."""

    def __init__(
        self, sessions: SessionFactory, decider: ProposalDecider, clock: Clock, cancel_atca: CancelAtca | None = None
    ) -> None:
        self._sessions = sessions
        self._decider = decider
        self._clock = clock
        self._cancel_atca = cancel_atca

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
                return self._cancel(session, action, now)
            case _:
                raise ValueError(f"unknown action {action.action!r}")

    def _cancel(
        self, session: Session, action: actions.OperatorAction, now: datetime
    ) -> tuple[list[DecisionChange], list[RequestJob]]:
        """Cancel an accepted ATCA request at the telescope; the decision becomes C when ATCA confirms."""
        if self._cancel_atca is None:
            raise ValueError("no ATCA service is configured, so nothing can be cancelled")
        observation = decision_store.get_observation(session, _target_id(action.target, "observation"))
        if observation.telescope != "ATCA" or not observation.ok or not observation.trigger_id:
            raise ValueError(f"observation {observation.observation_id} is not an accepted ATCA request")
        result = self._cancel_atca(observation.project_id, observation.trigger_id, observation.pretend)
        said = f"User {action.operator} asked to cancel ATCA request {observation.trigger_id}."
        if action.comment:
            said += f" Comment: {action.comment}"
        entries = [decision_store.LogEntry(now, LogKind.OPERATOR, said, None)]
        entries.append(decision_store.LogEntry(now, LogKind.INFO if result.ok else LogKind.ERROR, result.message, None))
        if observation.decision_id is None:
            return [], []
        stored = decision_store.get_decision(session, observation.decision_id)
        if result.ok:
            decision_store.save_decision(
                session,
                decision_id=stored.decision_id,
                group_id=stored.group_id,
                proposal_pk=stored.proposal_pk,
                decision=Decision.CANCELED,
                now=now,
                event_id=None,
                ra_deg=stored.ra_deg,
                dec_deg=stored.dec_deg,
                pos_error_deg=stored.pos_error_deg,
                duration_s=stored.duration_s,
            )
            entries.append(decision_store.LogEntry(now, LogKind.DECISION, "Decision: Canceled.", None))
        decision_store.add_log_entries(session, stored.decision_id, stored.group_id, entries)
        proposal = get_proposal(session, stored.proposal_pk)
        view = group_view(session, stored.group_id)
        new = Decision.CANCELED.value if result.ok else stored.decision.value
        change = DecisionChange(
            view.trig_id,
            proposal.settings.proposal_id,
            new,
            stored.decision.value,
            None,
            tuple(e.text for e in entries),
        )
        return [change], []

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
