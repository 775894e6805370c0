"""Telescope services failing end to end: an event triggers proposals whose ATCA requests meet an HTTP 500, a
service that never answers, and an expired token (the local TelescopeSimulator, per project). Each decision
ends as E with the service's reason in its log, no request is retried forever, a healthy project still
triggers, and later packets are processed meanwhile."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select

from tests.ingest.conftest import wait_for
from tests.ingest.simulated_telescopes import atca_grb_proposal, decisions_by_project, engine_with_simulator
from tests.reliability.helpers import DATA, all_processed, inbox
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import ObservationRow
from tracet_gui.telescopes.simulator import Scenario

pytestmark = [pytest.mark.reliability]
TIMEOUT_S = 3.0
SCENARIOS = {"C9500": Scenario.HTTP_500, "C9501": Scenario.HUNG, "C9502": Scenario.EXPIRED_TOKEN, "C9503": None}
REASONS = {
    "C9500": "answered HTTP 500",
    "C9501": f"within {TIMEOUT_S:g} s",
    "C9502": "expired token",
}
FIRST, FIRST_TRIG = "Fermi_GRB_pnt0.xml", "533367528"  # dec -48: every ATCA GRB proposal below triggers


def proposals_yaml() -> str:
    return "".join(atca_grb_proposal(f"ATCA_{project}", project) for project in SCENARIOS)


def test_telescope_500_timeout_and_expired_token_end_as_clear_errors(db: Database) -> None:
    running = engine_with_simulator(db, proposals_yaml(), timeout_s=TIMEOUT_S, retry_delay_s=0.1, scenarios=SCENARIOS)
    with running as (engine, sim):
        started = time.monotonic()
        engine.submit_file(DATA / FIRST)
        wait_for(lambda: len(decisions_by_project(db, FIRST_TRIG)) == len(SCENARIOS), 10, "the decisions")
        # While the hung request waits, later packets are processed and decided.
        engine.submit_file(DATA / "SWIFT00.xml")
        engine.submit_file(DATA / "Antares_1438351269.xml")
        wait_for(lambda: all_processed(db.url) and len(inbox(db.url)) == 3, 10, "the later packets")
        assert time.monotonic() - started < TIMEOUT_S  # decided while the hung request still waited

        def settled() -> bool:
            # A triggering decision is stored as T with its request; E (or T) is final once the answer is recorded.
            with db.session() as s:
                rows = s.scalars(select(ObservationRow)).all()
            # Every packet is processed by now, so every request it made has its row (the later packets' too).
            return len(rows) >= len(SCENARIOS) and all(r.responded_utc is not None for r in rows)

        wait_for(settled, TIMEOUT_S + 15, "every telescope answer (or its timeout)")
        time.sleep(1.0)  # nothing is sent again after the errors
        requests = [r for r in sim.received() if r.get("protocol") == "atca"]
    found = decisions_by_project(db, FIRST_TRIG)
    assert found["C9503"][0] == "T", found["C9503"]
    for project, phrase in REASONS.items():
        decision, lines = found[project]
        assert decision == "E", (project, lines)
        assert any(phrase in line for line in lines), (project, phrase, lines)
    with db.session() as s:
        observations = s.scalars(select(ObservationRow)).all()
    failed = [o for o in observations if not o.ok]
    assert len(failed) >= 3  # each failure is recorded as an observation request that did not succeed
    # A trigger that may have reached the service is never sent twice (500, timeout); nothing retries forever.
    sent = Counter((r.get("project_id"), (r.get("request") or {}).get("source")) for r in requests)
    assert {project: sent[project, FIRST_TRIG] for project in SCENARIOS} == dict.fromkeys(SCENARIOS, 1), sent
    assert all(r.status == "processed" for r in inbox(db.url))
