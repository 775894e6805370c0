"""Proposals in the database: every ProposalSettings field kept as JSON beside indexed identity columns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracet_gui.core.proposal import PROPOSAL_FIELDS, ProposalSettings
from tracet_gui.core.vocabulary import SourceType, Testing
from tracet_gui.storage.schema import ProposalRow


@dataclass(frozen=True, slots=True)
class StoredProposal:
    pk: int
    version: int
    settings: ProposalSettings


def settings_to_json(proposal: ProposalSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(proposal):
        value = getattr(proposal, f.name)
        out[f.name] = value.value if isinstance(value, Enum) else value
    return out


def settings_from_json(data: dict[str, Any]) -> ProposalSettings:
    """Rebuild settings; keys unknown to this version are dropped, missing ones take their defaults."""
    values = {key: value for key, value in data.items() if key in PROPOSAL_FIELDS}
    values["source_type"] = SourceType(values["source_type"])
    if "testing" in values:
        values["testing"] = Testing(values["testing"])
    return ProposalSettings(**values)


def _stored(row: ProposalRow) -> StoredProposal:
    return StoredProposal(row.id, row.version, settings_from_json(row.settings))


def list_proposals(session: Session, *, active_only: bool = False) -> list[StoredProposal]:
    """Proposals in processing order (priority, then name)."""
    query = select(ProposalRow).order_by(ProposalRow.priority, ProposalRow.proposal_id)
    if active_only:
        query = query.where(ProposalRow.active.is_(True))
    return [_stored(row) for row in session.scalars(query)]


def get_proposal(session: Session, pk: int) -> StoredProposal:
    return _stored(session.get_one(ProposalRow, pk))


def upsert_proposal(session: Session, proposal: ProposalSettings, now: datetime) -> tuple[int, bool]:
    """Insert or update by proposal_id; returns (pk, created). The version grows when settings change."""
    row = session.scalar(select(ProposalRow).where(ProposalRow.proposal_id == proposal.proposal_id))
    settings = settings_to_json(proposal)
    created = row is None
    if row is None:
        row = ProposalRow(proposal_id=proposal.proposal_id, created_utc=now, version=1, settings=settings)
        session.add(row)
    elif row.settings != settings:
        row.version += 1
    row.settings = settings
    row.telescope = proposal.telescope
    row.project_id = proposal.project_id
    row.event_telescope = proposal.event_telescope
    row.source_type = proposal.source_type.value
    row.testing = proposal.testing.value
    row.priority = proposal.priority
    row.active = proposal.active
    row.updated_utc = now
    session.flush()
    return row.id, created


def proposal_names(session: Session) -> dict[int, str]:
    return {pk: name for pk, name in session.execute(select(ProposalRow.id, ProposalRow.proposal_id)).tuples()}
