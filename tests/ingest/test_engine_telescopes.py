"""A hung telescope never delays another event's decision; its own decision ends as E within the timeout."""

from __future__ import annotations

import time

from sqlalchemy import select

from tests.ingest.conftest import wait_for
from tests.ingest.simulated_telescopes import DATA, OBSERVER_EMAIL, atca_grb_proposal, decisions, engine_with_simulator
from tracet_gui.config import Settings
from tracet_gui.storage.database import Database
from tracet_gui.telescopes.simulator import Scenario

TIMEOUT_S = 3.0
HUNG = "C3374"  # the replay ATCA proposal's project
REPLAY_ATCA_GRB = (DATA / "proposals" / "replay_atca_grb.yaml").read_text()
PROPOSALS = REPLAY_ATCA_GRB + atca_grb_proposal("TEST_ATCA_GRB_B", "C3204")


def test_hung_telescope_does_not_hold_up_the_next_event(db: Database) -> None:
    running = engine_with_simulator(db, PROPOSALS, timeout_s=TIMEOUT_S, max_attempts=1, scenarios={HUNG: Scenario.HUNG})
    with running as (engine, _sim):
        started = time.monotonic()
        engine.submit_file(DATA / "Fermi_GRB_pnt0.xml")  # dec -48: triggers both proposals; C3374's request hangs
        wait_for(lambda: len(decisions(db, "533367528")) == 2, 10, "the first event's decisions")
        engine.submit_file(DATA / "SWIFT00.xml")  # another trigger while the first request hangs
        wait_for(lambda: len(decisions(db, "772006")) == 2, 10, "the second event's decisions")
        second_decided_after = time.monotonic() - started
        assert second_decided_after < TIMEOUT_S  # decided while the hung request was still waiting
        wait_for(lambda: "E" in decisions(db, "533367528").values(), TIMEOUT_S + 10, "the hung request to fail")
    first = decisions(db, "533367528")
    assert sorted(first.values()) == ["E", "T"]  # the healthy project triggered, the hung one errored


def test_operator_cancels_an_atca_observation(db: Database) -> None:
    from tracet_gui.storage import operator_actions as actions
    from tracet_gui.storage.schema import ObservationRow

    settings = Settings(db_url=db.url, atca_email=OBSERVER_EMAIL)
    running = engine_with_simulator(db, REPLAY_ATCA_GRB, timeout_s=TIMEOUT_S, max_attempts=1, settings=settings)
    with running as (engine, sim):
        engine.submit_file(DATA / "Fermi_GRB_pnt0.xml")
        wait_for(lambda: list(decisions(db, "533367528").values()) == ["T"], 15, "the ATCA trigger")

        def answered() -> ObservationRow | None:
            # T is stored with the request; the telescope's answer is recorded on the observation afterwards.
            with db.session() as s:
                row = s.scalars(select(ObservationRow)).one()
                return row if row.responded_utc is not None else None

        wait_for(lambda: answered() is not None, 15, "the telescope's answer")
        observation = answered()
        assert observation is not None and observation.ok and observation.trigger_id
        assert list(decisions(db, "533367528").values()) == ["T"]
        actions.record_action(
            db.sessions,
            operator="night-operator",
            action=actions.CANCEL_ATCA,
            target=f"observation:{observation.id}",
            comment="clouds",
        )
        wait_for(lambda: list(decisions(db, "533367528").values()) == ["C"], 15, "the cancellation")
    received = [r for r in sim.received() if "cancel" in str(r)]
    assert received, "the simulator saw the cancel request"
