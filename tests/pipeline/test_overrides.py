"""Operator actions recorded by a console are executed once by the pipeline, with the audit trail kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tracet_gui.app import import_proposals, make_processor
from tracet_gui.config import Settings
from tracet_gui.core.clock import FixedClock
from tracet_gui.core.sending import AcceptingRecorder
from tracet_gui.core.vocabulary import Channel
from tracet_gui.pipeline.decider import ProposalDecider
from tracet_gui.pipeline.overrides import OverrideExecutor
from tracet_gui.pipeline.parse import peek_ivorn
from tracet_gui.storage import operator_actions as actions
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.schema import DecisionLogRow, ObservationRow, OperatorActionRow, ProposalDecisionRow

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2017, 9, 12, 1, 40, tzinfo=UTC)


def pending_decision(db: Database) -> tuple[int, AcceptingRecorder]:
    import_proposals(db, (DATA / "proposals" / "replay_atca_grb.yaml").read_text(), "tester", "test")
    recorder = AcceptingRecorder()
    processor, _ = make_processor(db, Settings(db_url=db.url), clock=FixedClock(NOW), sender=recorder)
    raw = (DATA / "SWIFT_short.xml").read_bytes()  # 1.096 s: in the pending range
    stored = store_raw_packet(db.sessions, raw, Channel.FILE, ivorn=peek_ivorn(raw))
    processor.process(stored.inbox_id)
    with db.session() as s:
        decision = s.scalars(select(ProposalDecisionRow)).one()
        assert decision.decision == "P"
        return decision.id, recorder


def executor(db: Database, recorder: AcceptingRecorder) -> OverrideExecutor:
    clock = FixedClock(NOW)
    processor, runner = make_processor(db, Settings(db_url=db.url), clock=clock, sender=recorder)
    decider = processor._decider  # the same decider the pipeline uses
    assert isinstance(decider, ProposalDecider)
    return OverrideExecutor(db.sessions, decider, clock), runner  # type: ignore[return-value]


def test_trigger_from_a_console_is_executed_once_and_audited(db: Database) -> None:
    decision_id, recorder = pending_decision(db)
    actions.record_action(
        db.sessions,
        operator="night-operator",
        action=actions.TRIGGER,
        target=actions.target_for("decision", decision_id),
        comment="bright and short",
    )
    overrides, runner = executor(db, recorder)  # type: ignore[misc]
    changes, jobs = overrides.execute_pending()
    assert [(c.proposal_id, c.previous, c.decision) for c in changes] == [("TEST_ATCA_GRB", "P", "T")]
    for job in jobs:
        runner(job)
    assert overrides.execute_pending() == ([], [])  # nothing twice
    with db.session() as s:
        assert s.get_one(ProposalDecisionRow, decision_id).decision == "T"
        texts = [r.text for r in s.scalars(select(DecisionLogRow).where(DecisionLogRow.decision_id == decision_id))]
        assert any("User night-operator decided to trigger. Comment: bright and short" in t for t in texts)
        observations = s.scalars(select(ObservationRow)).all()
        assert [(o.telescope, o.reason, o.ok) for o in observations] == [("ATCA", "User triggered observation", True)]
        audit = s.scalars(select(OperatorActionRow).where(OperatorActionRow.action == "trigger")).one()
        assert audit.operator == "night-operator" and audit.executed_utc is not None
    assert len(recorder.requests) == 1 and recorder.requests[0].pretend


def test_ignore_and_a_bad_target_are_recorded_never_fatal(db: Database) -> None:
    decision_id, recorder = pending_decision(db)
    actions.record_action(db.sessions, operator="op", action=actions.IGNORE, target=f"decision:{decision_id}")
    actions.record_action(db.sessions, operator="op", action=actions.TRIGGER, target="decision:99999")
    overrides, _ = executor(db, recorder)  # type: ignore[misc]
    changes, jobs = overrides.execute_pending()
    assert [(c.previous, c.decision) for c in changes] == [("P", "I")] and jobs == []
    with db.session() as s:
        rows = s.scalars(select(OperatorActionRow).where(OperatorActionRow.action.in_(["ignore", "trigger"]))).all()
        assert all(r.executed_utc is not None for r in rows)
        failed = next(r for r in rows if r.target == "decision:99999")
        assert "error" in (failed.details or {})
    assert recorder.requests == []
