"""A hung telescope never delays another event's decision; its own decision ends as E within the timeout."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from tests.ingest.conftest import wait_for
from tracet_gui.app import import_proposals
from tracet_gui.config import Settings
from tracet_gui.ingest.engine import Engine
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import EventGroupRow, ProposalDecisionRow
from tracet_gui.telescopes.atca import AtcaClient
from tracet_gui.telescopes.sender import ObservationSender
from tracet_gui.telescopes.simulator import Scenario, SimulatorCredentials, TelescopeSimulator

DATA = Path(__file__).resolve().parents[1] / "data"
TIMEOUT_S = 3.0
HUNG = "C3374"  # the replay ATCA proposal's project

PROPOSALS = (
    (DATA / "proposals" / "replay_atca_grb.yaml").read_text()
    + """
- proposal_id: TEST_ATCA_GRB_B
  telescope: ATCA
  project_id: C3204
  source_type: GRB
  testing: PRETEND_REAL
  maximum_position_uncertainty: 15.0
  event_any_duration: true
  atca_band_4cm: true
  atca_band_4cm_exptime: 20
  atca_band_4cm_freq1: 5500
  atca_band_4cm_freq2: 9000
"""
)


def decisions(db: Database, trig_id: str) -> dict[str, str]:
    with db.session() as s:
        group = s.scalar(select(EventGroupRow).where(EventGroupRow.trig_id == trig_id))
        if group is None:
            return {}
        rows = s.scalars(select(ProposalDecisionRow).where(ProposalDecisionRow.group_id == group.id)).all()
        return {str(r.proposal_pk): r.decision for r in rows}


def test_hung_telescope_does_not_hold_up_the_next_event(db: Database) -> None:
    import_proposals(db, PROPOSALS, "tester", "test")
    with TelescopeSimulator(port=0) as sim:
        sim.set_scenario(Scenario.HUNG, project_id=HUNG)
        sender = ObservationSender(
            mwa=None,
            atca=AtcaClient(sim.atca_url, SimulatorCredentials(), timeout_s=TIMEOUT_S, max_attempts=1),
            atca_email_for=lambda _p: "observer@example.org",
        )
        engine = Engine(Settings(db_url=db.url), db, sender=sender)
        engine.start()
        try:
            started = time.monotonic()
            engine.submit_file(DATA / "Fermi_GRB_pnt0.xml")  # dec -48: triggers both proposals; C3374's request hangs
            wait_for(lambda: len(decisions(db, "533367528")) == 2, 10, "the first event's decisions")
            engine.submit_file(DATA / "SWIFT00.xml")  # another trigger while the first request hangs
            wait_for(lambda: len(decisions(db, "772006")) == 2, 10, "the second event's decisions")
            second_decided_after = time.monotonic() - started
            assert second_decided_after < TIMEOUT_S  # decided while the hung request was still waiting
            wait_for(lambda: "E" in decisions(db, "533367528").values(), TIMEOUT_S + 10, "the hung request to fail")
        finally:
            engine.stop()
    first = decisions(db, "533367528")
    assert sorted(first.values()) == ["E", "T"]  # the healthy project triggered, the hung one errored


def test_operator_cancels_an_atca_observation(db: Database) -> None:
    from tracet_gui.storage import operator_actions as actions
    from tracet_gui.storage.schema import ObservationRow

    import_proposals(db, (DATA / "proposals" / "replay_atca_grb.yaml").read_text(), "tester", "test")
    with TelescopeSimulator(port=0) as sim:
        sender = ObservationSender(
            mwa=None,
            atca=AtcaClient(sim.atca_url, SimulatorCredentials(), timeout_s=TIMEOUT_S, max_attempts=1),
            atca_email_for=lambda _p: "observer@example.org",
        )
        engine = Engine(Settings(db_url=db.url, atca_email="observer@example.org"), db, sender=sender)
        engine.start()
        try:
            engine.submit_file(DATA / "Fermi_GRB_pnt0.xml")
            wait_for(lambda: list(decisions(db, "533367528").values()) == ["T"], 15, "the ATCA trigger")
            with db.session() as s:
                observation = s.scalars(select(ObservationRow)).one()
                assert observation.ok and observation.trigger_id
            actions.record_action(
                db.sessions,
                operator="night-operator",
                action=actions.CANCEL_ATCA,
                target=f"observation:{observation.id}",
                comment="clouds",
            )
            wait_for(lambda: list(decisions(db, "533367528").values()) == ["C"], 15, "the cancellation")
        finally:
            engine.stop()
    received = [r for r in sim.received() if "cancel" in str(r)]
    assert received, "the simulator saw the cancel request"
