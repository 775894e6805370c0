"""An Engine whose ATCA requests go to a local TelescopeSimulator, the ATCA GRB proposals it triggers, and the
proposal decisions read back. Shared by ``tests/ingest/test_engine_telescopes.py`` and
``tests/reliability/test_telescope_failures.py``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracet_gui.app import import_proposals
from tracet_gui.config import Settings
from tracet_gui.ingest.engine import Engine
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import DecisionLogRow, EventGroupRow, ProposalDecisionRow, ProposalRow
from tracet_gui.telescopes.atca import AtcaClient
from tracet_gui.telescopes.sender import ObservationSender
from tracet_gui.telescopes.simulator import Scenario, SimulatorCredentials, TelescopeSimulator
from tracet_gui.telescopes.transport import DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_DELAY_S

DATA = Path(__file__).resolve().parents[1] / "data"
OBSERVER_EMAIL = "observer@example.org"


def atca_grb_proposal(proposal_id: str, project_id: str) -> str:
    """The YAML of one ATCA GRB proposal (PRETEND_REAL, 4 cm band) that triggers on a well-placed GRB."""
    return f"""
- proposal_id: {proposal_id}
  telescope: ATCA
  project_id: {project_id}
  source_type: GRB
  testing: PRETEND_REAL
  maximum_position_uncertainty: 15.0
  event_any_duration: true
  atca_band_4cm: true
  atca_band_4cm_exptime: 20
  atca_band_4cm_freq1: 5500
  atca_band_4cm_freq2: 9000
"""


@contextmanager
def engine_with_simulator(
    db: Database,
    proposals: str,
    *,
    timeout_s: float,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
    scenarios: Mapping[str, Scenario | None] | None = None,
    settings: Settings | None = None,
) -> Iterator[tuple[Engine, TelescopeSimulator]]:
    """Imports ``proposals`` (YAML) into ``db``, then yields a started Engine on ``db`` whose sender sends ATCA
    requests to a TelescopeSimulator on 127.0.0.1, with ``scenarios`` set per project (None: healthy), and the
    simulator. The engine is stopped, then the simulator, on the way out."""
    import_proposals(db, proposals, "tester", "test")
    with TelescopeSimulator(port=0) as sim:
        for project, scenario in (scenarios or {}).items():
            if scenario is not None:
                sim.set_scenario(scenario, project_id=project)
        sender = ObservationSender(
            mwa=None,
            atca=AtcaClient(
                sim.atca_url,
                SimulatorCredentials(),
                timeout_s=timeout_s,
                max_attempts=max_attempts,
                retry_delay_s=retry_delay_s,
            ),
            atca_email_for=lambda _p: OBSERVER_EMAIL,
        )
        engine = Engine(settings or Settings(db_url=db.url), db, sender=sender)
        engine.start()
        try:
            yield engine, sim
        finally:
            engine.stop()


def _group_id(s: Session, trig_id: str) -> int | None:
    group = s.scalar(select(EventGroupRow).where(EventGroupRow.trig_id == trig_id))
    return None if group is None else group.id


def decisions(db: Database, trig_id: str) -> dict[str, str]:
    """proposal_pk -> decision, for every proposal decision of the group ``trig_id``."""
    with db.session() as s:
        group_id = _group_id(s, trig_id)
        if group_id is None:
            return {}
        rows = s.scalars(select(ProposalDecisionRow).where(ProposalDecisionRow.group_id == group_id)).all()
        return {str(r.proposal_pk): r.decision for r in rows}


def decisions_by_project(db: Database, trig_id: str) -> dict[str, tuple[str, list[str]]]:
    """project_id -> (decision, its decision-log lines), for every proposal decision of the group ``trig_id``."""
    with db.session() as s:
        group_id = _group_id(s, trig_id)
        if group_id is None:
            return {}
        out = {}
        for decision, project in s.execute(
            select(ProposalDecisionRow, ProposalRow.project_id)
            .join(ProposalRow, ProposalRow.id == ProposalDecisionRow.proposal_pk)
            .where(ProposalDecisionRow.group_id == group_id)
        ):
            lines = list(
                s.scalars(
                    select(DecisionLogRow.text)
                    .where(DecisionLogRow.decision_id == decision.id)
                    .order_by(DecisionLogRow.id)
                )
            )
            out[project] = (decision.decision, lines)
        return out
